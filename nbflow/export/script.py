"""A notebook's flow as a plain Python script that makes nbflow runs (`nbflow export NOTEBOOK
--to script`), for schedulers that run commands (cron, systemd timers, Kubernetes CronJobs).

The script carries the notebook's code cells and hands them to `nbflow.cli.script.run_cells`,
which runs them exactly as `nbflow run` runs the notebook (papermill, a fresh kernel, one run
in the datastore beside the script), so its runs are nbflow runs like any other.
"""

from __future__ import annotations

from nbflow.export.notebook import FlowNotebook


def export_script(flow: FlowNotebook) -> str:
    cells = "\n".join(
        f"    # cell {number}\n    {source!r}," for number, source in flow.cells.items()
    )
    params = ", ".join(f"{p.name}={p.source}" for p in flow.params) or "none"
    return f'''"""Flow '{flow.name}' of {flow.path.name}, as a script
(written by `nbflow export --to script`).

    python {flow.name}.py                      # one run, as `nbflow run {flow.path.name}` makes
    python {flow.name}.py -p NAME=VALUE ...    # parameters overridden ({params})

Runs go to $NBFLOW_DATASTORE, or .nbflow/ beside this file; see them with `nbflow runs
{flow.name}` or `from nbflow import Flow`.
"""

import sys
from pathlib import Path

from nbflow.cli.script import run_cells

NOTEBOOK = {flow.path.name!r}  # a flow belongs to its notebook: runs are made under this name
CELLS = [
{cells}
]

if __name__ == "__main__":
    sys.exit(run_cells(NOTEBOOK, CELLS, Path(__file__).resolve().parent, sys.argv[1:]))
'''
