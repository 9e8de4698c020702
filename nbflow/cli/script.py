"""What a script written by `nbflow export --to script` runs: its cells as a notebook, made a
run by the same path as `nbflow run` (papermill, a fresh kernel, the datastore beside it)."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from nbflow.cli.execute import REUSE_HELP


def run_cells(notebook: str, cells: list[str], home: Path, argv: list[str]) -> int:
    """Run `cells` as the notebook named `notebook`, in the folder `home` (its working
    directory and default datastore); `argv`: `-p NAME=VALUE ...`, `--tag T ...`."""
    import nbformat  # noqa: PLC0415 - lazy: as nbflow run

    from nbflow.cli.execute import _execute  # noqa: PLC0415 - per command
    from nbflow.core.params import parse_value  # noqa: PLC0415 - per command
    from nbflow.run.headless import Execution  # noqa: PLC0415 - per command

    args = _parser(notebook).parse_args(argv)
    params = {}
    for pair in args.parameter:
        name, equals, value = pair.partition("=")
        if not equals:
            print(f"nbflow: -p {pair}: write it as NAME=VALUE, e.g. -p n_estimators=300")
            return 2
        params[name] = parse_value(value)
    with tempfile.TemporaryDirectory(prefix="nbflow-script-") as scratch:
        path = Path(scratch) / notebook
        book = nbformat.v4.new_notebook()
        book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}  # fmt: skip
        book.cells = [nbformat.v4.new_code_cell(source) for source in cells]
        nbformat.write(book, path)
        execution = Execution(notebook=path, params=params, tags=args.tag, reuse=args.reuse,
                              home=home)  # fmt: skip
        return _execute(execution)


def _parser(notebook: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=f"one nbflow run of {notebook}'s flow")
    parser.add_argument(
        "-p", "--parameter", action="append", default=[], metavar="NAME=VALUE",
        help="override a parameter (values read as papermill reads them)",
    )  # fmt: skip
    parser.add_argument("--tag", action="append", default=[], help="tag the run (repeatable)")
    parser.add_argument("--reuse", action="store_true", help=REUSE_HELP)
    return parser
