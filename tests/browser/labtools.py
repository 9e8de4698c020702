"""What the browser tests share besides fixtures: the lab they talk to, notebooks they write,
where screenshots go. (Not in conftest.py: test modules import these by name, and another
test folder's conftest module may be the one named `conftest` in a run.)"""

from __future__ import annotations

import json
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent


def screenshot_dir() -> Path:
    folder = Path(os.environ.get("NBFLOW_SCREENSHOTS") or HERE / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dataclass
class Lab:
    url: str
    token: str
    root: Path
    datastore: Path
    env: dict[str, str]

    def notebook_url(self, name: str) -> str:
        return f"{self.url}/lab/tree/{name}?reset&token={self.token}"  # no restored tabs

    def api(self, path: str) -> Any:
        request = urllib.request.Request(
            f"{self.url}{path}", headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())


def make_notebook(path: Path, cells: list[str]) -> Path:
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    nbformat.write(notebook, path)
    return path


def new_page(chromium: Any) -> tuple[Any, Any, list[str]]:
    """A page of its own; any alert() or confirm() is recorded (and dismissed)."""
    context = chromium.new_context(viewport={"width": 1500, "height": 1000})
    page = context.new_page()
    dialogs: list[str] = []

    def on_dialog(dialog: Any) -> None:
        dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    return context, page, dialogs


def use_theme(page: Any, name: str) -> None:
    """Switch JupyterLab to theme `name` ("JupyterLab Light", "JupyterLab Dark") from the
    command palette, as a user would, and wait until it is applied. The choice is a user
    setting of the test server: a test that leaves the light theme puts it back."""
    page.keyboard.press("Escape")
    page.keyboard.press("Control+Shift+c")
    page.keyboard.insert_text("use theme")
    item = page.locator(
        ".lm-CommandPalette-item[data-command='apputils:change-theme']", has_text=name
    )
    item.first.click(timeout=10_000)
    page.wait_for_function(
        "(name) => document.body.dataset.jpThemeName === name", arg=name, timeout=15_000
    )
    page.wait_for_timeout(300)  # the theme's CSS is in; let the panels repaint
