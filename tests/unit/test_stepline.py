"""The JupyterLab extension reads `%%step` lines as the kernel does: its option table is
generated from nbflow.core.stepline.step_parser(), and its parser (labextension/lib/stepline.js, run
in node) gets the same name, parents, foreach and join as the kernel from every option."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from needs import missing

from nbflow.core.stepline import parse_step_line, step_parser

LABEXTENSION = Path(__file__).resolve().parents[2] / "labextension"

# Each option in each of its forms: no value, one, several, `=value`, quoted, abbreviated,
# repeated, before and after the name.
STEP_LINES = [
    "%%step --python 3.11 fit",
    "%%step --python=3.11 fit --env 'numpy>=1.26' pandas --after load",
    '%%step fit --env "x==1" "y>2" --after a b',
    "%%step --env numpy --python 3.11 fit --after 'a b'",
    "%%step --in-kernel fit --after a",
    "%%step train --after load --foreach alphas --as alpha",
    "%%step train --foreach=alphas --as=alpha --after=load,prep",
    "%%step --join pick --after train",
    "%%step --no-cache s --after a --after b",
    "%%step --when 'x > 1' --retry 2 --retry-delay 0.5 --timeout 5 s --after p",
    "%%step --catch err --resources cpu=2,memory=1G --transient conn --out 'a,b' s --after p",
    "%%step --fore xs --aft a --pyth 3.12 s",
    "%%step --timeout 5 s --env a b --join",
]


def test_the_option_table_is_generated_from_the_kernels_parser() -> None:
    checked_in = (LABEXTENSION / "src" / "stepoptions.ts").read_text()
    assert checked_in == _generator().render(), (
        "labextension/src/stepoptions.ts differs from nbflow.core.stepline.step_parser(): run "
        "`.venv/bin/python labextension/scripts/stepoptions.py`, then `cd labextension && jlpm "
        "build`."
    )


def test_the_lines_cover_every_option() -> None:
    options = {s for action in step_parser()._actions for s in action.option_strings}
    tokens = {t.split("=")[0] for line in STEP_LINES for t in line.split() if t.startswith("-")}
    # An abbreviation counts for the option it stands for (argparse takes any unique prefix).
    used = {o for t in tokens for o in options if o == t or [o] == _longer(t, options)}
    assert options - used == set(), "add a line using each new option to STEP_LINES"


@pytest.mark.parametrize("line", STEP_LINES)
def test_the_extension_reads_each_option_as_the_kernel_does(line: str) -> None:
    step, written = _frontend_steps()[line]
    kernel = parse_step_line(line.removeprefix("%%step"), "")
    assert step["name"] == kernel.name
    assert step["after"] == list(kernel.parents)
    assert step["foreach"] == kernel.foreach
    assert (step["as"] or "item") == kernel.foreach_as
    assert step["join"] == kernel.join
    # Written back (as the step dialog does), the kernel reads the very same step.
    assert parse_step_line(written.removeprefix("%%step"), "") == kernel, written


def _longer(prefix: str, options: set[str]) -> list[str]:
    return [o for o in options if o.startswith(prefix)]


def _generator() -> ModuleType:
    path = LABEXTENSION / "scripts" / "stepoptions.py"
    spec = importlib.util.spec_from_file_location("stepoptions", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_steps: dict[str, tuple[dict[str, Any], str]] = {}


def _frontend_steps() -> dict[str, tuple[dict[str, Any], str]]:
    """Every line of STEP_LINES as the built extension parses and writes it: one node run."""
    if not _steps:
        _steps.update(zip(STEP_LINES, _in_node(STEP_LINES), strict=True))
    return _steps


def _in_node(lines: list[str]) -> list[tuple[dict[str, Any], str]]:
    if not shutil.which("node"):
        missing("needs node (https://nodejs.org)")
    lib, src = LABEXTENSION / "lib", LABEXTENSION / "src"
    for name in ("stepline", "stepoptions"):
        built = lib / f"{name}.js"
        if not built.exists() or built.stat().st_mtime < (src / f"{name}.ts").stat().st_mtime:
            pytest.fail(f"{built} is missing or older than its source: `cd labextension && jlpm "
                        "build` (or `make`)")  # fmt: skip
    module = json.dumps((lib / "stepline.js").as_uri())
    script = (
        f"import {{ parseStepLine, formatStepLine }} from {module};"
        f"const steps = {json.dumps(lines)}.map(parseStepLine);"
        "console.log(JSON.stringify(steps.map(s => [s, formatStepLine(s)])));"
    )
    done = subprocess.run(
        ["node", "--input-type=module", "-e", script],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return [tuple(pair) for pair in json.loads(done.stdout)]
