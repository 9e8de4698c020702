"""`nbflow export`: a notebook's flow as a Metaflow FlowSpec file or a plain script."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

from nbflow.exceptions import NbflowError

EXAMPLE = """\
examples:
  nbflow export train.ipynb --to metaflow -o train_flow.py   then: python train_flow.py run
  nbflow export train.ipynb --to script -o train_run.py      then: python train_run.py -p lr=0.1
  (to production: python train_flow.py argo-workflows create, step-functions create, ...)
"""


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    summary = "write a notebook's flow as a Metaflow flow or a plain Python script"
    export = commands.add_parser(
        "export", help=summary, description=summary, epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    export.add_argument("notebook", type=Path, help="the .ipynb file")
    export.add_argument("--to", required=True, choices=("metaflow", "script"),
                        help="metaflow: a FlowSpec file that `python FILE run` runs; script: "
                        "a file that makes an nbflow run (for cron and the like)")  # fmt: skip
    export.add_argument("-o", "--output", type=Path, default=None, metavar="PATH",
                        help="where to write it (default: the notebook's path with .py; "
                        "- for standard output)")  # fmt: skip
    export.set_defaults(handler=run_export)


def run_export(args: argparse.Namespace) -> int:
    from nbflow.export.metaflow import export_metaflow  # noqa: PLC0415 - per command
    from nbflow.export.notebook import read_notebook  # noqa: PLC0415 - per command
    from nbflow.export.script import export_script  # noqa: PLC0415 - per command
    from nbflow.run.headless import check_notebook  # noqa: PLC0415 - per command

    check_notebook(args.notebook)
    flow = read_notebook(args.notebook)
    text = export_metaflow(flow) if args.to == "metaflow" else export_script(flow)
    text = formatted(text)
    try:
        compile(text, str(args.output or "<export>"), "exec")
    except SyntaxError as error:  # a bug of the export, never the user's: say so
        raise NbflowError(
            f"nbflow export wrote invalid Python ({error}); please report it."
        ) from None
    output = args.output or args.notebook.with_suffix(".py")
    if str(output) == "-":
        sys.stdout.write(text)
        return 0
    if output.resolve() == args.notebook.resolve():
        raise NbflowError(f"-o {output} is the notebook itself; give another path.")
    output.write_text(text, encoding="utf-8")
    run = f"python {output} run" if args.to == "metaflow" else f"python {output}"
    print(f"nbflow: wrote {output} (flow '{flow.name}', {len(flow.steps)} steps); run it: {run}")
    return 0


def formatted(text: str) -> str:
    """`ruff format`ed where ruff is installed (a test dependency, not nbflow's); else as is,
    valid and readable anyway."""
    ruff = shutil.which("ruff") or shutil.which("ruff", path=str(Path(sys.executable).parent))
    if ruff is None:
        return text
    done = subprocess.run(
        [ruff, "format", "--line-length", "100", "-"],
        input=text, capture_output=True, text=True, check=False,
    )  # fmt: skip
    return done.stdout if done.returncode == 0 else text
