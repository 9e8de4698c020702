"""Step environments without building one: what nbflow accepts as a step's Python, and what
of the kernel's installation a step's worker sees."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import nbflow
from nbflow.run import environments
from nbflow.run.environments import EnvironmentError_

REPO = Path(__file__).resolve().parents[2]


def test_the_oldest_python_is_pyprojects_requires_python() -> None:
    pyproject = (REPO / "pyproject.toml").read_text()  # tomllib: Python 3.11 and later only
    oldest = ".".join(map(str, environments.MIN_PYTHON))
    assert re.findall(r'^requires-python = "(.*)"$', pyproject, re.MULTILINE) == [f">={oldest}"]


@pytest.mark.parametrize("python", ["3.7", "3.8", "3.9", "3.9.18", "2.7"])
def test_an_older_python_is_refused_naming_what_nbflow_needs(python: str) -> None:
    with pytest.raises(EnvironmentError_) as error:
        environments._interpreter(python)
    assert str(error.value) == (
        f"--python {python}: nbflow runs steps on Python 3.10 or newer. Ask for --python 3.10 "
        "or newer, or drop --python."
    )


@pytest.mark.parametrize("python", ["3.10", "3.13", "3.12.1", "pypy", "/usr/bin/python3"])
def test_other_forms_are_left_to_the_lookup(python: str) -> None:
    environments._check_supported(python, "--python")  # no error


def test_the_worker_sees_a_folder_of_nbflow_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NBFLOW_CACHE_DIR", str(tmp_path))
    folder = Path(environments.nbflow_folder())
    assert [p.name for p in folder.iterdir()] == ["nbflow"]
    assert (folder / "nbflow").resolve() == Path(nbflow.__file__).resolve().parent
    assert environments.nbflow_folder() == str(folder)  # found again, the same
    (folder / "nbflow").unlink()
    (folder / "nbflow").symlink_to(tmp_path)  # a stale link: replaced
    assert (Path(environments.nbflow_folder()) / "nbflow").resolve() == (
        Path(nbflow.__file__).resolve().parent
    )
