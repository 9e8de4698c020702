"""Fixtures of the browser tests: a real JupyterLab server on 127.0.0.1 and headless Chromium.

Chromium is Debian's (`apt-get install chromium`, /usr/bin/chromium, or $NBFLOW_CHROMIUM),
driven by the `playwright` package from PyPI through `executable_path`: no browser is ever
downloaded (`playwright install` is never run).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from labtools import Lab

import nbflow

CHROMIUM = os.environ.get("NBFLOW_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# JupyterLab user settings for the tests: every cell stays in the DOM (no windowing), and no
# news or update checks (the machine has no network beyond loopback).
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """`jupyter lab` on a free port of 127.0.0.1, serving a fresh folder; stopped afterwards,
    kernels included (it runs in its own process group)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: apt-get install -y chromium")
    base = tmp_path_factory.mktemp("lab")
    root = base / "notebooks"
    root.mkdir()
    settings = base / "settings"
    for name, values in LAB_SETTINGS.items():
        target = settings / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(values))
    # JupyterLab finds extensions in its data folders (the first one found wins), never in
    # Python packages: the venv's share/jupyter may hold another tree's build (a link made by
    # `jupyter-builder develop` in another checkout). The extension under test is the one
    # built into the nbflow these tests import, placed first on JUPYTER_PATH.
    data = base / "data"
    (data / "labextensions").mkdir(parents=True)
    (data / "labextensions" / "nbflow").symlink_to(Path(nbflow.__file__).parent / "labextension")
    token = secrets.token_hex(16)
    port = _free_port()
    bin_dir = str(Path(sys.executable).parent)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("NBFLOW_", "JUPYTER", "JPY_"))
    }
    env.update(
        PATH=bin_dir + os.pathsep + env.get("PATH", ""),
        JUPYTER_CONFIG_DIR=str(base / "config"),
        JUPYTER_PATH=str(data),
        JUPYTER_RUNTIME_DIR=str(base / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(settings),
        JUPYTERLAB_WORKSPACES_DIR=str(base / "workspaces"),
        NBFLOW_DATASTORE=str(root / ".nbflow"),
        PYTHONUNBUFFERED="1",
    )
    log = (base / "lab.log").open("wb")
    process = subprocess.Popen(
        [
            str(Path(bin_dir) / "jupyter-lab"),
            "--no-browser",
            "--allow-root",  # CI runs as root
            "--ServerApp.terminals_enabled=False",
            "--ip=127.0.0.1",
            f"--port={port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}",
            "--LabApp.news_url=",
        ],
        cwd=root,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while not _answers(f"{url}/api/status?token={token}"):
            if process.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail(
                    "jupyter lab did not answer:\n"
                    + (base / "lab.log").read_text(errors="replace")[-3000:]
                )
            time.sleep(0.2)
        yield Lab(url, token, root, root / ".nbflow", env)
    finally:
        _stop(process)
        log.close()


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (the server shuts its kernels down), then SIGKILL to whatever is left."""
    group = process.pid
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        time.sleep(0.2)
        process.send_signal(signal.SIGINT)  # jupyter asks "shut down?" on the first one
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGKILL)  # kernels the server failed to stop


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Headless chromium for one test module. Not for the session: Playwright's sync API keeps
    its event loop running in this thread while it lives, which later tests that run a loop of
    their own (the server extension's) must not find."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            chromium_sandbox=False,  # --no-sandbox: CI runs as root
            args=CHROMIUM_FLAGS,  # playwright gives each launch a fresh --user-data-dir
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="session")
def nbflow_cli() -> str:
    found = shutil.which("nbflow", path=str(Path(sys.executable).parent))
    assert found, "nbflow is not installed in this venv"
    return found
