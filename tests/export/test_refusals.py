"""What `nbflow export --to metaflow` cannot translate stops the export, naming the cell, what
is wrong and the fix, and writes no file. Pure translation: no kernel, no Metaflow run."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from nbflow.exceptions import ExportError
from nbflow.export.metaflow import export_metaflow
from nbflow.export.notebook import read_notebook

HEAD = "%load_ext nbflow\n%flow name refused"


def refusal(tmp_path: Path, *cells: str) -> ExportError:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(HEAD), *map(nbformat.v4.new_code_cell, cells)]
    path = tmp_path / "refused.ipynb"
    nbformat.write(nb, path)
    with pytest.raises(ExportError) as caught:
        export_metaflow(read_notebook(path))
    return caught.value


@pytest.mark.parametrize(
    ("cells", "cell", "says"),
    [
        (["%%step start --in-kernel\nx = 1"], 2, "--in-kernel"),
        (["%%step start\nx = 1\n%time y = 2"], 2, "line 3 `%time y = 2` is IPython syntax"),
        (["%%step start\ndisplay(1)"], 2, "reads `display`"),
        (["%%params\nn = 3", "%%step start\nn = n + 1"], 3, "binds 'n'"),
        (["%%step start\ndef helper():\n    return 1"], 2, "defines `helper`"),
        (["%%step start\ninput = 1"], 2, "attribute of FlowSpec"),
        (["%%params\nn = len('abc')", "%%step start\nx = n"], 2, "is not a literal"),
        (["%%capture\nprint(1)", "%%step start\nx = 1"], 2, "cell magic %%capture"),
        (["!pip install foo", "%%step start\nx = 1"], 2, "IPython syntax"),
        (["%%step start\nx = 1", "%%step a --after start --when 'x > 0'\ny = 1"], 3, "switch"),
        (
            [
                "%%step start\nxs = [1]",
                "%%step a --after start --foreach xs\ny = 1",
                "%%step j --after a --join",
                "%%step b --after start\nz = 1",
            ],
            3,
            "one next step",
        ),
        (
            ["%%step start\nxs = [1]", "%%step a --after start --foreach xs\ny = 1"],
            3,
            "ends the flow inside a foreach",
        ),
        (["%%step start\nx = 1\nmerge(inputs)"], 2, "no join"),
        (["%%step start\nself = 1"], 2, "`self`"),
        (["%%step start\nimport nbflow\nn = len(nbflow.flows())"], 2, "line 2 imports nbflow"),
        (["%%step start\nfrom nbflow import compare"], 2, "imports compare from nbflow"),
        (["%%step start\nfrom nbflow.query.client import Flow"], 2, "nbflow's client inside"),
        (["%%step start\nfrom nbflow import current\nn = current.attempt"], 2, "line 3 reads"),
        (["from nbflow import flows", "%%step start\nx = 1"], 2, "imports flows from nbflow"),
    ],
    ids=[
        "in-kernel",
        "line-magic",
        "display",
        "binds-parameter",
        "def-in-step",
        "metaflow-name",
        "computed-parameter",
        "cell-magic",
        "shell-in-plain-cell",
        "lone-when",
        "foreach-beside-another-child",
        "open-foreach-at-end",
        "merge-not-join",
        "self",
        "import-nbflow",
        "client-without-metaflow-counterpart",
        "nbflow-internals",
        "current-attempt",
        "plain-cell-client",
    ],
)
def test_refused_with_its_cell(tmp_path: Path, cells: list[str], cell: int, says: str) -> None:
    error = refusal(tmp_path, *cells)
    assert error.cell == cell
    message = str(error)
    assert message.startswith(f"cell {cell} (")
    assert says in message
    assert error.fix  # and how to fix it


def test_command_writes_no_file(tmp_path: Path) -> None:
    from nbflow.cli import main

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(HEAD), nbformat.v4.new_code_cell("%%step s --in-kernel")]
    nbformat.write(nb, tmp_path / "refused.ipynb")
    output = tmp_path / "flow.py"
    code = main(["export", str(tmp_path / "refused.ipynb"), "--to", "metaflow", "-o", str(output)])
    assert code == 1 and not output.exists()


def test_the_client_becomes_metaflows(tmp_path: Path) -> None:
    """A step that reads another flow's runs reads Metaflow's once exported: nbflow's client
    import is made Metaflow's, in a step and in a plain cell, line for line."""
    nb = nbformat.v4.new_notebook()
    cells = [
        HEAD,
        "from nbflow import Flow as F",
        "%%step start --transient run\nfrom nbflow import (Flow,\n    namespace)  # the client\n"
        "namespace(None)\nrun = Flow('Other').latest_successful_run\nx = run.data.x",
        "%%step a --after start\ny = 1",
        "%%step b --after start\ny = 2",
        "%%step end --after a b\nfrom nbflow import merge; z = 3\nmerge(inputs, exclude=['y'])",
    ]
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nbformat.write(nb, tmp_path / "client.ipynb")
    text = export_metaflow(read_notebook(tmp_path / "client.ipynb"))
    compile(text, "flow.py", "exec")
    assert "nbflow" not in text.replace("nbflow export", "").replace("nbflow's", "")
    assert "# cell 2\nfrom metaflow import Flow as F\n" in text
    assert "from metaflow import Flow, namespace  # the client\n" in text
    assert "pass; z = 3" in text and "_merge(self, _joined, inputs, exclude=['y'])" in text
