"""--resources: parsing, what this machine has, fitting, and the admission pool (no kernel)."""

from __future__ import annotations

import os
import pickle
import random
import shutil
import stat
import sys
import threading
import time
from fractions import Fraction
from pathlib import Path

import pytest

from nbflow.core.resources import (
    Grant,
    Machine,
    ResourcePool,
    Resources,
    _cgroup_cpu_quota,
    _cgroup_memory_free,
    _detect_cpu,
    _detect_gpus,
    _detect_memory,
    _meminfo_available,
    _nvidia_smi_gpus,
    _parse_visible_devices,
    check_fits,
    format_size,
    parse_resources,
)
from nbflow.exceptions import StepError

KiB, MiB, GiB, TiB = 2**10, 2**20, 2**30, 2**40

# ----------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("cpu=2", Resources(cpu=2.0)),
        ("cpu=0.5", Resources(cpu=0.5)),
        ("cpu=.25", Resources(cpu=0.25)),
        ("gpu=2", Resources(gpu=2)),
        ("gpu=1.0", Resources(gpu=1)),
        ("cpu=2,memory=4G,gpu=1", Resources(cpu=2.0, memory=4 * GiB, gpu=1)),
        ("cpu = 2 , memory = 4G , gpu = 1", Resources(cpu=2.0, memory=4 * GiB, gpu=1)),
        ("cpu=2 memory=4G gpu=1", Resources(cpu=2.0, memory=4 * GiB, gpu=1)),
        ("memory=4 GiB, cpu=3", Resources(cpu=3.0, memory=4 * GiB)),
        ("gpu=1,cpu=4", Resources(cpu=4.0, gpu=1)),
        ("CPU=2,Memory=1K", Resources(cpu=2.0, memory=KiB)),
        ("cpu=2,", Resources(cpu=2.0)),
        ("", Resources()),
        ("   ", Resources()),
    ],
)
def test_parse_valid(text: str, expected: Resources) -> None:
    assert parse_resources(text) == expected


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ("2048", 2048),
        ("2048B", 2048),
        ("1K", KiB),
        ("1Ki", KiB),
        ("1KiB", KiB),
        ("1KB", 1000),
        ("512M", 512 * MiB),
        ("512MiB", 512 * MiB),
        ("512MB", 512 * 10**6),
        ("4G", 4 * GiB),
        ("4Gi", 4 * GiB),
        ("4GiB", 4 * GiB),
        ("4GB", 4 * 10**9),
        ("4g", 4 * GiB),
        ("4gb", 4 * 10**9),
        ("1.5G", 3 * GiB // 2),
        ("1.5GB", 1_500_000_000),
        ("1T", TiB),
        ("1TiB", TiB),
        ("2TB", 2 * 10**12),
        ("1.1K", 1127),  # 1126.4 bytes: rounded up, a reservation never falls short
        ("0.5", 1),
    ],
)
def test_parse_every_memory_unit(size: str, expected: int) -> None:
    resources = parse_resources(f"memory={size}")
    assert resources.memory == expected
    assert isinstance(resources.memory, int)


FORM = "--resources cpu=N,memory=SIZE,gpu=N"


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("disk=10G", ["unknown resource 'disk'; nbflow knows cpu, memory, gpu", FORM]),
        ("mem=4G", ["unknown resource 'mem'", FORM]),
        ("cpu2", ["item 'cpu2' is not NAME=VALUE", FORM]),
        ("=2", ["item '=2' is not NAME=VALUE", FORM]),
        ("cpu=2,cpu=4", ["gives cpu twice ('cpu=2' and 'cpu=4')", FORM]),
        ("cpu=two", ["cpu='two' is not a number", "cpu=2 or cpu=0.5"]),
        ("cpu=2cores", ["cpu='2cores' is not a number"]),
        ("cpu=nan", ["cpu='nan' is not a number"]),
        ("cpu=inf", ["cpu='inf' is not a number"]),
        ("cpu=", ["cpu='' is not a number"]),
        ("cpu=0", ["cpu=0 must be more than 0", "cpu=2 or cpu=0.5"]),
        ("cpu=-1", ["cpu=-1 must be more than 0"]),
        ("memory=lots", ["memory='lots' is not a size", "memory=512MiB, memory=4G"]),
        ("memory=4X", ["memory=4X has an unknown unit 'X'", "KiB", "GB"]),
        ("memory=0", ["memory=0 must be more than 0", "memory=4G"]),
        ("memory=-4G", ["memory=-4G must be more than 0"]),
        ("gpu=0.5", ["gpu=0.5: a GPU cannot be shared", "whole number of GPUs"]),
        ("gpu=1.5", ["gpu=1.5: a GPU cannot be shared"]),
        ("gpu=0", ["gpu=0 must be at least 1", "leave gpu out"]),
        ("gpu=-1", ["gpu=-1 must be at least 1"]),
        ("gpu=one", ["gpu='one' is not a number"]),
        ("gpu=1G", ["gpu='1G' is not a number"]),
    ],
)
def test_parse_errors_name_step_part_and_form(text: str, fragments: list[str]) -> None:
    with pytest.raises(StepError) as caught:
        parse_resources(text, step="train")
    message = str(caught.value)
    assert message.startswith("step 'train': ")
    assert caught.value.step == "train"
    for fragment in fragments:
        assert fragment in message


def test_parse_error_without_step_is_a_flow_error_and_pickles() -> None:
    with pytest.raises(StepError) as caught:
        parse_resources("disk=1")
    assert str(caught.value).startswith("flow: unknown resource 'disk'")
    again = pickle.loads(pickle.dumps(caught.value))
    assert str(again) == str(caught.value)
    assert again.step is None


def test_resources_defaults_as_dict_and_validation() -> None:
    assert Resources().as_dict() == {"cpu": 1.0, "memory": 0, "gpu": 0}
    assert Resources(cpu=0.5, memory=10, gpu=2).as_dict() == {"cpu": 0.5, "memory": 10, "gpu": 2}
    for bad in (
        {"cpu": -1.0},
        {"cpu": float("nan")},
        {"memory": -1},
        {"memory": 1.5},
        {"gpu": 0.5},
        {"gpu": True},
    ):
        with pytest.raises(ValueError):
            Resources(**bad)


@pytest.mark.parametrize(
    ("size", "text"),
    [(0, "0 B"), (512, "512 B"), (1536, "1.5 KiB"), (4 * GiB, "4 GiB"),
     (int(23.14 * GiB), "23.1 GiB"), (3 * TiB, "3 TiB"), (2048 * TiB, "2048 TiB")],
)  # fmt: skip
def test_format_size(size: int, text: str) -> None:
    assert format_size(size) == text


# ----------------------------------------------------------------------------- detection


def test_detect_on_this_machine_is_sane() -> None:
    machine = Machine.detect()
    assert machine.cpu >= 1
    assert machine.cpu <= (os.cpu_count() or 1)
    assert machine.memory > 0
    assert isinstance(machine.memory, int)
    assert isinstance(machine.gpus, tuple)
    assert all(isinstance(gpu, str) for gpu in machine.gpus)


def test_detect_reads_cuda_visible_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,5")
    assert Machine.detect().gpus == ("2", "5")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert Machine.detect().gpus == ()


@pytest.mark.parametrize(
    ("value", "ids"),
    [
        ("0", ("0",)),
        ("1,3", ("1", "3")),
        (" 1 , 3 ", ("1", "3")),
        ("", ()),
        ("-1", ()),
        ("0,-1,2", ("0",)),  # CUDA ignores everything after an invalid id
        ("NoDevFiles", ()),
        ("GPU-8f3c,MIG-1a2b", ("GPU-8f3c", "MIG-1a2b")),
        ("1,1", ("1",)),
    ],
)
def test_parse_visible_devices(value: str, ids: tuple[str, ...]) -> None:
    assert _parse_visible_devices(value) == ids


def fake_nvidia_smi(directory: Path, body: str) -> None:
    script = directory / "nvidia-smi"
    script.write_text("#!/bin/sh\n" + body + "\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


@pytest.mark.skipif(os.name != "posix", reason="shell script stands in for nvidia-smi")
def test_gpus_from_nvidia_smi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_nvidia_smi(
        tmp_path,
        # echo is a shell builtin: PATH below holds nothing but the fake
        "echo 'GPU 0: NVIDIA A100-SXM4-40GB (UUID: GPU-aaaa)'\n"
        "echo '  MIG 1g.5gb     Device  0: (UUID: MIG-bbbb)'\n"
        "echo 'GPU 1: NVIDIA A100-SXM4-40GB (UUID: GPU-cccc)'",
    )
    monkeypatch.setenv("PATH", str(tmp_path))
    assert _detect_gpus(environ={}) == ("0", "1")
    # CUDA_VISIBLE_DEVICES wins over nvidia-smi.
    assert _detect_gpus(environ={"CUDA_VISIBLE_DEVICES": "1"}) == ("1",)


@pytest.mark.skipif(os.name != "posix", reason="shell script stands in for nvidia-smi")
def test_nvidia_smi_failure_or_hang_means_no_gpus(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sleep = shutil.which("sleep")
    assert sleep is not None
    monkeypatch.setenv("PATH", str(tmp_path))
    assert _nvidia_smi_gpus() == ()  # not on PATH
    fake_nvidia_smi(tmp_path, "echo 'GPU 0: x'; exit 9")
    assert _nvidia_smi_gpus() == ()
    fake_nvidia_smi(tmp_path, f"echo 'GPU 0: x'; exec {sleep} 30")
    started = time.monotonic()
    assert _nvidia_smi_gpus(timeout=0.3) == ()
    assert time.monotonic() - started < 10


def test_meminfo_available(tmp_path: Path) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:  2000 kB\nMemFree:  500 kB\nMemAvailable:  1500 kB\n")
    assert _meminfo_available(meminfo) == 1500 * 1024
    meminfo.write_text("MemTotal:  2000 kB\n")
    assert _meminfo_available(meminfo) is None
    assert _meminfo_available(tmp_path / "missing") is None


def cgroup_v2(tmp_path: Path, files: dict[str, str]) -> tuple[Path, Path]:
    mount = tmp_path / "cgroup"
    own = mount / "user.slice" / "job"
    own.mkdir(parents=True)
    for name, text in files.items():
        (own / name).write_text(text + "\n")
    proc = tmp_path / "proc_self_cgroup"
    proc.write_text("0::/user.slice/job\n")
    return mount, proc


def cgroup_v1(tmp_path: Path, controller_dir: str, files: dict[str, str]) -> tuple[Path, Path]:
    mount = tmp_path / "cgroup"
    own = mount / controller_dir / "docker" / "abc"
    own.mkdir(parents=True)
    for name, text in files.items():
        (own / name).write_text(text + "\n")
    proc = tmp_path / "proc_self_cgroup"
    proc.write_text(f"4:memory:/docker/abc\n3:{controller_dir}:/docker/abc\n0::/\n")
    return mount, proc


def test_cgroup_cpu_quota_v2(tmp_path: Path) -> None:
    mount, proc = cgroup_v2(tmp_path, {"cpu.max": "150000 100000"})
    assert _cgroup_cpu_quota(mount, proc) == 1.5
    (mount / "user.slice" / "cpu.max").write_text("50000 100000\n")  # a tighter ancestor wins
    assert _cgroup_cpu_quota(mount, proc) == 0.5
    assert _detect_cpu(mount, proc) == 1.0  # never below one core


def test_cgroup_cpu_unlimited(tmp_path: Path) -> None:
    mount, proc = cgroup_v2(tmp_path, {"cpu.max": "max 100000"})
    assert _cgroup_cpu_quota(mount, proc) is None
    assert _detect_cpu(mount, proc) == float(len(os.sched_getaffinity(0)))


def test_cgroup_cpu_quota_v1(tmp_path: Path) -> None:
    mount, proc = cgroup_v1(
        tmp_path, "cpu,cpuacct", {"cpu.cfs_quota_us": "100000", "cpu.cfs_period_us": "100000"}
    )
    assert _cgroup_cpu_quota(mount, proc) == 1.0
    (mount / "cpu,cpuacct" / "docker" / "abc" / "cpu.cfs_quota_us").write_text("-1\n")
    assert _cgroup_cpu_quota(mount, proc) is None


def test_cgroup_memory_limit_caps_detected_memory(tmp_path: Path) -> None:
    mount, proc = cgroup_v2(
        tmp_path,
        {
            "memory.max": str(1000 * MiB),
            "memory.current": str(600 * MiB),
            "memory.stat": f"anon 1\ninactive_file {100 * MiB}\n",
        },
    )
    assert _cgroup_memory_free(mount, proc) == 500 * MiB
    meminfo = tmp_path / "meminfo"
    meminfo.write_text(f"MemAvailable: {8 * GiB // 1024} kB\n")
    assert _detect_memory(meminfo, mount, proc) == 500 * MiB
    (mount / "user.slice" / "job" / "memory.max").write_text("max\n")
    assert _cgroup_memory_free(mount, proc) is None
    assert _detect_memory(meminfo, mount, proc) == 8 * GiB


def test_cgroup_memory_limit_v1(tmp_path: Path) -> None:
    mount, proc = cgroup_v1(tmp_path, "cpu", {})
    own = mount / "memory" / "docker" / "abc"
    own.mkdir(parents=True)
    (own / "memory.limit_in_bytes").write_text(f"{2 * GiB}\n")
    (own / "memory.usage_in_bytes").write_text(f"{GiB}\n")
    (own / "memory.stat").write_text("total_inactive_file 0\n")
    assert _cgroup_memory_free(mount, proc) == GiB
    (own / "memory.limit_in_bytes").write_text("9223372036854771712\n")  # v1's "no limit"
    assert _cgroup_memory_free(mount, proc) is None


def test_machine_validation() -> None:
    assert Machine(cpu=2, memory=1, gpus=["0", 1]).gpus == ("0", "1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="twice"):
        Machine(cpu=2, memory=1, gpus=("0", "0"))
    with pytest.raises(ValueError):
        Machine(cpu=-1, memory=1)
    with pytest.raises(ValueError):
        Machine(cpu=1, memory=-1)


# ----------------------------------------------------------------------------- check_fits

NO_GPU = Machine(cpu=2.0, memory=16 * GiB)
TWO_GPUS = Machine(cpu=8.0, memory=64 * GiB, gpus=("0", "1"))


def test_check_fits_gpu_on_a_machine_without_gpus() -> None:
    with pytest.raises(StepError) as caught:
        check_fits(Resources(gpu=2), NO_GPU, step="train")
    assert str(caught.value) == (
        "step 'train': asks for gpu=2, but this machine has 0 GPUs. Leave gpu out of"
        " --resources, or run it on a machine with GPUs."
    )
    assert caught.value.step == "train"


def test_check_fits_too_many_gpus() -> None:
    with pytest.raises(StepError, match=r"gpu=3, but this machine has 2 GPUs\. Lower --resources"):
        check_fits(Resources(gpu=3), TWO_GPUS, step="train")
    one = Machine(cpu=1, memory=GiB, gpus=("7",))
    with pytest.raises(StepError, match=r"this machine has 1 GPU\. Lower --resources gpu to 1"):
        check_fits(Resources(gpu=2), one, step="train")


def test_check_fits_cpu() -> None:
    with pytest.raises(StepError) as caught:
        check_fits(Resources(cpu=8), NO_GPU, step="fit")
    assert str(caught.value) == (
        "step 'fit': asks for cpu=8, but this machine has 2 cores. Lower --resources cpu to at"
        " most 2, or run it on a machine with more cores."
    )


def test_check_fits_memory_in_human_sizes() -> None:
    with pytest.raises(StepError) as caught:
        check_fits(Resources(memory=64 * GiB), NO_GPU, step="load")
    assert str(caught.value) == (
        "step 'load': asks for memory=64 GiB, but this machine has 16 GiB available. Lower"
        " --resources memory to at most 16 GiB, or run it on a machine with more memory."
    )


def test_check_fits_reports_every_problem_at_once() -> None:
    with pytest.raises(StepError) as caught:
        check_fits(Resources(cpu=4, memory=32 * GiB, gpu=1), NO_GPU, step="s")
    message = str(caught.value)
    assert "gpu=1" in message
    assert "It also asks for cpu=4" in message
    assert "It also asks for memory=32 GiB" in message


def test_check_fits_accepts_what_exactly_fits() -> None:
    check_fits(Resources(cpu=2, memory=16 * GiB), NO_GPU, step="s")
    check_fits(Resources(cpu=8, memory=64 * GiB, gpu=2), TWO_GPUS, step="s")
    check_fits(Resources(cpu=0.1), Machine(cpu=0.1, memory=0), step="s")


# ----------------------------------------------------------------------------- the pool


def test_pool_fractional_cpu_lets_two_tasks_share_a_core() -> None:
    pool = ResourcePool(Machine(cpu=1.0, memory=GiB))
    half = Resources(cpu=0.5)
    first, second = pool.try_acquire(half), pool.try_acquire(half)
    assert first is not None
    assert second is not None
    assert pool.try_acquire(half) is None
    assert pool.try_acquire(Resources(cpu=0.1)) is None
    pool.release(first)
    third = pool.try_acquire(half)
    assert third is not None
    assert pool.try_acquire(Resources(cpu=1.0)) is None


def test_pool_counts_cpu_exactly() -> None:
    pool = ResourcePool(Machine(cpu=1.0, memory=0))
    tenth = Resources(cpu=0.1)
    grants = [pool.try_acquire(tenth) for _ in range(10)]
    assert all(grant is not None for grant in grants)  # 10 x 0.1 is exactly one core
    assert pool.try_acquire(tenth) is None
    assert pool.available().cpu == 0.0


def test_pool_reserves_memory() -> None:
    pool = ResourcePool(Machine(cpu=8.0, memory=10 * GiB))
    big = pool.try_acquire(Resources(cpu=1, memory=6 * GiB))
    assert big is not None
    assert pool.try_acquire(Resources(cpu=1, memory=5 * GiB)) is None
    small = pool.try_acquire(Resources(cpu=1, memory=4 * GiB))
    assert small is not None
    assert pool.available().memory == 0
    pool.release(big)
    assert pool.available().memory == 6 * GiB
    assert pool.try_acquire(Resources(cpu=1, memory=5 * GiB)) is not None


def test_pool_gpus_are_exclusive() -> None:
    pool = ResourcePool(TWO_GPUS)
    one = Resources(gpu=1)
    first, second = pool.try_acquire(one), pool.try_acquire(one)
    assert first is not None
    assert second is not None
    assert {first.gpus, second.gpus} == {("0",), ("1",)}
    assert pool.try_acquire(one) is None
    assert pool.try_acquire(Resources()) is not None  # a CPU-only task still fits
    pool.release(first)
    third = pool.try_acquire(one)
    assert third is not None
    assert third.gpus == first.gpus
    assert pool.try_acquire(Resources(gpu=2)) is None
    pool.release(second)
    pool.release(third)
    both = pool.try_acquire(Resources(gpu=2))
    assert both is not None
    assert both.gpus == ("0", "1")


def test_pool_never_fitting_request_raises_like_check_fits() -> None:
    pool = ResourcePool(NO_GPU)
    with pytest.raises(StepError) as from_pool:
        pool.try_acquire(Resources(gpu=2), step="train")
    with pytest.raises(StepError) as from_check:
        check_fits(Resources(gpu=2), NO_GPU, step="train")
    assert str(from_pool.value) == str(from_check.value)
    with pytest.raises(StepError, match="cpu=3"):
        pool.acquire(Resources(cpu=3), step="train")
    assert pool.held() == 0


def test_release_checks_the_grant() -> None:
    pool = ResourcePool(NO_GPU)
    a, b = pool.try_acquire(Resources()), pool.try_acquire(Resources())
    assert a is not None
    assert b is not None
    assert a == b  # equal values, yet two separate reservations
    pool.release(a)
    pool.release(b)
    assert pool.held() == 0
    with pytest.raises(ValueError, match="released already"):
        pool.release(a)
    with pytest.raises(ValueError):
        pool.release(Grant(Resources()))
    assert pool.available() == NO_GPU


def test_blocking_acquire_waits_for_a_release() -> None:
    pool = ResourcePool(Machine(cpu=1.0, memory=0))
    held = pool.try_acquire(Resources(cpu=1))
    assert held is not None
    assert pool.acquire(Resources(cpu=1), timeout=0.05) is None
    got: list[Grant | None] = []
    waiter = threading.Thread(target=lambda: got.append(pool.acquire(Resources(cpu=1))))
    waiter.start()
    time.sleep(0.05)
    assert got == []  # still waiting: the core is taken
    pool.release(held)
    waiter.join(timeout=5)
    assert not waiter.is_alive()
    assert got
    assert got[0] is not None


def test_environment_shows_a_task_only_its_gpus() -> None:
    pool = ResourcePool(Machine(cpu=8.0, memory=0, gpus=("0", "1", "2", "3")))
    first = pool.try_acquire(Resources(gpu=1))
    pair = pool.try_acquire(Resources(gpu=2))
    none = pool.try_acquire(Resources())
    assert first is not None
    assert pair is not None
    assert none is not None
    assert first.environment() == {"CUDA_VISIBLE_DEVICES": "0"}
    assert pair.environment() == {"CUDA_VISIBLE_DEVICES": "1,2"}
    assert none.environment() == {"CUDA_VISIBLE_DEVICES": ""}  # asked for none: sees none
    no_gpu_machine = ResourcePool(NO_GPU).try_acquire(Resources())
    assert no_gpu_machine is not None
    assert no_gpu_machine.environment() == {}


def test_environment_uses_device_ids_not_positions() -> None:
    pool = ResourcePool(Machine(cpu=2.0, memory=0, gpus=("1", "3")))
    first, second = pool.try_acquire(Resources(gpu=1)), pool.try_acquire(Resources(gpu=1))
    assert first is not None
    assert second is not None
    assert first.environment() == {"CUDA_VISIBLE_DEVICES": "1"}
    assert second.environment() == {"CUDA_VISIBLE_DEVICES": "3"}


def test_grant_pickles() -> None:
    grant = ResourcePool(TWO_GPUS).try_acquire(Resources(cpu=0.5, gpu=1))
    assert grant is not None
    again = pickle.loads(pickle.dumps(grant))
    assert again == grant
    assert again.environment() == {"CUDA_VISIBLE_DEVICES": "0"}


class Monitor:
    """Tracks, under its own lock, what the pool's grants hold at once, and any over-commitment."""

    def __init__(self, cpu: float = 2.0, memory: int = 1000) -> None:
        self.lock = threading.Lock()
        self.capacity_cpu, self.capacity_memory = Fraction(repr(cpu)), memory
        self.cpu, self.memory, self.tasks = Fraction(0), 0, 0
        self.gpus: set[str] = set()
        self.granted = self.peak_tasks = 0
        self.violations: list[str] = []

    def took(self, grant: Grant) -> None:
        with self.lock:
            self.granted += 1
            self.cpu += Fraction(repr(grant.request.cpu))
            self.memory += grant.request.memory
            self.tasks += 1
            self.peak_tasks = max(self.peak_tasks, self.tasks)
            if self.cpu > self.capacity_cpu or self.memory > self.capacity_memory:
                self.violations.append(f"over capacity: cpu={self.cpu} memory={self.memory}")
            if len(grant.gpus) != grant.request.gpu or self.gpus & set(grant.gpus):
                self.violations.append(f"gpus {grant.gpus} shared or wrong for {grant.request}")
            self.gpus.update(grant.gpus)

    def gave_back(self, grant: Grant) -> None:
        with self.lock:
            self.cpu -= Fraction(repr(grant.request.cpu))
            self.memory -= grant.request.memory
            self.tasks -= 1
            self.gpus.difference_update(grant.gpus)


def test_concurrent_grants_never_exceed_capacity() -> None:
    machine = Machine(cpu=2.0, memory=1000, gpus=("0", "1", "2"))
    pool = ResourcePool(machine)
    requests = [
        Resources(cpu=0.5),
        Resources(cpu=0.25, memory=300),
        Resources(cpu=1.0, gpu=1),
        Resources(cpu=0.1, memory=100, gpu=2),
        Resources(cpu=2.0),
        Resources(cpu=0.3, memory=700),
    ]
    monitor = Monitor()

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(300):
            request = rng.choice(requests)
            grant = pool.try_acquire(request)
            if grant is None:
                time.sleep(0)
                continue
            monitor.took(grant)
            time.sleep(rng.random() * 0.0005)
            monitor.gave_back(grant)  # before the pool does, so the monitor never undercounts
            pool.release(grant)

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(16)]
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often, so an unlocked check-then-take races
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        sys.setswitchinterval(switch)
    assert not any(thread.is_alive() for thread in threads)
    assert monitor.violations == []
    assert monitor.granted > 100
    assert monitor.peak_tasks > 1  # tasks really did hold grants at the same time
    assert pool.held() == 0
    assert pool.available() == machine
