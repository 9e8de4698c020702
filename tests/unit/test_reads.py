"""nbflow.run.reads: which files code opens for reading, as the cache key and lineage see them."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import numpy as np

from nbflow.run import reads


def test_reads_are_seen_however_python_opens_the_file(tmp_path: Path) -> None:
    text, raw, array, config = (tmp_path / n for n in ("a.txt", "b.bin", "c.npy", "d.json"))
    text.write_text("hello")
    raw.write_bytes(b"\0" * 10)
    np.save(array, np.arange(3))
    config.write_text("{}")
    with reads.recording() as opened:
        text.read_text()
        os.close(os.open(raw, os.O_RDONLY))
        np.load(array)
        with open(config) as f:
            json.load(f)
    found = reads.describe(opened)
    assert [r["path"] for r in found] == [str(p.resolve()) for p in (text, raw, array, config)]
    assert found[0]["size"] == 5
    assert found[0]["hash"] == reads.file_entry(str(text))["hash"]  # type: ignore[index]


def test_writes_installed_files_and_paused_reads_are_not_reads(tmp_path: Path) -> None:
    data = tmp_path / "data.txt"
    data.write_text("x")
    with reads.recording() as opened:
        (tmp_path / "out.txt").write_text("written")
        with open(tmp_path / "log.txt", "a") as log:
            log.write("appended")
        with open(data, "r+") as both:  # opened to change it: an output, not an input
            both.read()
        with reads.paused():
            data.read_text()  # nbflow's own loading of an input
        open(json.__file__).close()  # the standard library
    assert reads.describe(opened) == []


def test_another_threads_reads_are_not_the_tasks(tmp_path: Path) -> None:
    data = tmp_path / "data.txt"
    data.write_text("x")
    with reads.recording() as opened:
        thread = threading.Thread(target=data.read_text)
        thread.start()
        thread.join()
    assert reads.describe(opened) == []


def test_a_changed_or_removed_file_is_found(tmp_path: Path) -> None:
    data = tmp_path / "data.txt"
    data.write_text("one")
    [read] = reads.describe([str(data)])
    assert reads.changed_file([read]) is None
    data.write_text("two")
    os.utime(data, ns=(1, 1))  # another mtime for sure
    assert reads.changed_file([read]) == str(data.resolve())
    data.unlink()
    assert reads.changed_file([read]) == str(data.resolve())
