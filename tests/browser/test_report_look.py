"""The HTML report (`run.report()`, `nbflow show --html`) follows the reader's OS theme
(`prefers-color-scheme`): in light and in dark every text reads (3:1, 11 px; the checker of
legibility.py), the pictures included, and times carry their zone. Screenshots go to
tests/browser/screenshots/look_report_{light,dark}.png."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from legibility import assert_legible

from nbflow import Run
from nbflow.kernel.magics import load_ipython_extension

pytestmark = pytest.mark.browser


@pytest.fixture
def report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("NBFLOW_DATASTORE", str(tmp_path / "store"))
    monkeypatch.chdir(tmp_path)
    shell = InteractiveShell.instance()
    shell.reset(new_session=True)
    load_ipython_extension(shell)
    for cell in (
        "%flow name themed",
        "%%params\nalpha = 0.5",
        "%%step start\nxs = [1, 2, 3]",
        "%%step square --after start --foreach xs --catch err\n"
        "if item == 3:\n    raise ValueError('three')\ny = item ** 2",
        "%%step total --after square --join\ntotal = sum(i.y for i in inputs if i.err is None)",
    ):
        shell.run_cell(cell).raise_error()
    run: Run = shell.run_cell("%flow run").result
    yield run.report().save(tmp_path / "report.html")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_report_reads_in_the_os_theme(report: Path, chromium: Any, scheme: str) -> None:
    context = chromium.new_context(viewport={"width": 1200, "height": 1400}, color_scheme=scheme)
    try:
        page = context.new_page()
        page.goto(report.as_uri())
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert (background == "rgb(255, 255, 255)") == (scheme == "light"), background
        assert_legible(page, "body", f"report_{scheme}", full=True)
        text = page.inner_text("body")
        started = next(line for line in text.splitlines() if "started" in line.lower())
        assert any(zone in started for zone in ("UTC", "GMT", "+", "-")), started
    finally:
        context.close()
