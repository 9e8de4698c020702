"""`pip install` of nbflow's wheel alone gives JupyterLab the prebuilt extension and Jupyter
Server the server extension, on a machine without node.

The sdist and, from it, the wheel are built as a release would build them (`python -m build`),
then the wheel is installed with JupyterLab into a fresh virtual environment. Every step after
the sdist runs with a PATH that holds no node. The labextension must be built already (make
does it: the editable install's build hook builds it whenever labextension/ changes).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ANSI = re.compile(r"\x1b\[[0-9;]*m")
VERSION = "0.1.0"

pytestmark = pytest.mark.packaging
SHARE = f"nbflow-{VERSION}.data/data/share/jupyter/labextensions/nbflow"
CONFIG = f"nbflow-{VERSION}.data/data/etc/jupyter/jupyter_server_config.d/nbflow.json"


@dataclass
class Installed:
    base: Path  # the test's folder: the venv, the dists, Jupyter's config and data dirs
    bin: Path
    env: dict[str, str]
    sdist: Path
    wheel: Path

    def run(self, *command: str | Path) -> str:
        return run(list(command), self.env, self.base)


def run(command: list[str | Path], env: dict[str, str], cwd: Path) -> str:
    done = subprocess.run(
        [str(part) for part in command],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = ANSI.sub("", done.stdout + done.stderr)
    assert done.returncode == 0, f"{command} failed:\n{output[-4000:]}"
    return output


def newest(folder: Path) -> float:
    """The newest modification time of a file in `folder` (0 when there is none), as
    hatch-jupyter-builder decides whether the extension needs building."""
    times = [
        os.stat(os.path.join(root, name)).st_mtime
        for root, _, names in os.walk(folder)
        for name in names
    ]
    return max(times, default=0.0)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """A fresh venv holding JupyterLab and nbflow's wheel; the dists it was made from."""
    built_at = newest(REPO / "nbflow" / "labextension")
    if built_at < newest(REPO / "labextension"):
        pytest.fail("nbflow/labextension is missing or older than labextension/: run `make`")
    base = tmp_path_factory.mktemp("packaging")
    venv, dist = base / "venv", base / "dist"
    bin_dir = venv / "bin"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("JUPYTER", "JPY_", "NBFLOW_", "VIRTUAL_ENV", "PYTHON"))
    }
    # Only the venv's own programs: no node, no jlpm, no jupyter of the project's venv.
    env.update(
        PATH=str(bin_dir),
        JUPYTER_CONFIG_DIR=str(base / "config"),
        JUPYTER_DATA_DIR=str(base / "data"),
        JUPYTER_RUNTIME_DIR=str(base / "runtime"),
        PYTHONNOUSERSITE="1",
    )
    assert shutil.which("node", path=env["PATH"]) is None
    started = time.perf_counter()
    run([bin_dir / "python", "-m", "pip", "install", "--quiet", "build"], env, base)
    # sdist from the work tree, then the wheel from that sdist, each in an isolated build env.
    run([bin_dir / "python", "-m", "build", "--outdir", dist, REPO], env, base)
    built = time.perf_counter()
    wheel = next(dist.glob("nbflow-*.whl"))
    pip = [bin_dir / "python", "-m", "pip", "install", "--quiet"]
    run([*pip, "jupyterlab>=4.1", wheel], env, base)
    done = time.perf_counter()
    print(
        f"\nsdist and wheel built in {built - started:.0f} s, "
        f"JupyterLab and the wheel installed in {done - built:.0f} s"
    )
    return Installed(base, bin_dir, env, next(dist.glob("nbflow-*.tar.gz")), wheel)


def test_the_wheel_carries_the_prebuilt_extension_and_the_server_config(
    installed: Installed,
) -> None:
    names = zipfile.ZipFile(installed.wheel).namelist()
    for name in ("package.json", "install.json", "static/style.js"):
        assert f"{SHARE}/{name}" in names, name
    assert any(re.fullmatch(rf"{SHARE}/static/remoteEntry\.\w+\.js", n) for n in names)
    assert CONFIG in names
    # the HTML report's templates, read through the package (nbflow.render.report)
    for name in ("report.html.j2", "steps.html.j2", "macros.html.j2", "report.css"):
        assert f"nbflow/render/templates/{name}" in names, name
    assert not [n for n in names if "node_modules" in n or n.endswith(".ts")]


def test_the_sdist_carries_the_typescript_sources_and_the_lock_file(
    installed: Installed,
) -> None:
    with tarfile.open(installed.sdist) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    for name in (
        "labextension/package.json",
        "labextension/yarn.lock",
        "labextension/src/index.ts",
        "labextension/style/base.css",
        "jupyter-config/server-config/nbflow.json",
        "nbflow/labextension/package.json",  # prebuilt: a wheel from the sdist needs no node
    ):
        assert name in names, name
    assert not [n for n in names if "node_modules" in n]


def test_jupyterlab_lists_the_extension_enabled_and_ok(installed: Installed) -> None:
    listed = installed.run(installed.bin / "jupyter", "labextension", "list")
    line = next((ln for ln in listed.splitlines() if re.match(r"\s*nbflow v", ln)), "")
    assert re.search(rf"nbflow v{VERSION}\s+enabled\s+OK\s+\(python, nbflow\)", line), listed
    assert str(installed.base) in listed.split(line)[0], "installed in the venv's share/"


def test_jupyter_server_lists_the_server_extension_enabled(installed: Installed) -> None:
    listed = installed.run(installed.bin / "jupyter", "server", "extension", "list")
    assert re.search(r"^\s*nbflow\s+enabled", listed, re.MULTILINE), listed
    assert re.search(rf"nbflow {VERSION}\s+OK", listed), listed
