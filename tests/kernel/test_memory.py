"""A kernel's memory does not grow by an artifact's size on every `%flow run`: the run it
returns (kept in IPython's output history) holds records, never the values."""

from __future__ import annotations

from pathlib import Path

import pytest
from kerneltools import LiveKernel, kernel_env

pytestmark = pytest.mark.kernel

RSS = (
    "def rss_mib():\n"
    "    status = open('/proc/self/status').read()\n"
    "    return int(status.split('VmRSS:')[1].split()[0]) // 1024"
)


def test_repeated_runs_of_a_big_artifact_keep_memory_flat(tmp_path: Path) -> None:
    env = kernel_env(tmp_path / "store")
    env["NBFLOW_CACHE"] = "off"  # every run computes the 200 MB value anew
    with LiveKernel(tmp_path, env) as kernel:
        kernel.run(f"%load_ext nbflow\n%flow name mem\n{RSS}")
        kernel.run("%%step start\nimport numpy as np\nbig = np.ones(25_000_000)")
        kernel.run("%%step end --after start\ntotal = float(big.sum())")
        sizes = []
        for _ in range(4):
            kernel.run("%flow run")  # its Run is the cell's result: Out[n] keeps it
            cell = kernel.run("import gc; gc.collect(); print(rss_mib())")
            sizes.append(int(cell.outputs[0]["text"]))
    # 200 MiB a run: a leak of one value per run would add 600 MiB by the fourth.
    assert sizes[-1] - sizes[0] < 100, sizes
