"""The `nbflow` command. Each group of subcommands lives in its own module, which adds its
parsers with `add_commands(subparsers)` and handles them with `run_<command>(args) -> int`.

Every command module is imported to build the parser (`nbflow --help` too), so each imports
at its top only what every command loads anyway; a handler imports the rest of its machinery
itself (marked `# noqa: PLC0415 - per command`)."""

from __future__ import annotations

import argparse
import importlib
import sys

from nbflow.exceptions import NbflowError

DESCRIPTION = """\
nbflow turns notebook cells into a versioned pipeline. Mark cells with %%step, run them in
Jupyter, and every run is kept in the datastore (.nbflow/ beside the notebook, or
$NBFLOW_DATASTORE).

examples:
  nbflow run notebooks/quickstart.ipynb     execute a notebook headless as one run
  nbflow runs quickstart                    list the runs of flow 'quickstart'
  nbflow show quickstart/3 --json           one run, its steps and tasks, as JSON
  nbflow tag quickstart/3 +best -draft      add and remove a run's tags
"""

COMMAND_MODULES = (
    "nbflow.cli.execute", "nbflow.cli.browse", "nbflow.cli.tags", "nbflow.cli.envs",
    "nbflow.cli.fsck", "nbflow.cli.export",
)  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nbflow", description=DESCRIPTION, formatter_class=argparse.RawTextHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(name)
        module.add_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    # Where JupyterLab is installed, jsonschema (under nbformat, under papermill) imports
    # rfc3987-syntax, which builds a grammar at import: 0.6 s of every `nbflow run`, only to
    # check IRI formats that notebooks never use. This process does without that check.
    # None in sys.modules makes an import fail; typeshed's sys.modules holds modules only.
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
    args = build_parser().parse_args(argv)
    try:
        code: int = args.handler(args)
    except NbflowError as error:
        print(f"nbflow: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("nbflow: interrupted", file=sys.stderr)
        return 130
    return code
