"""What a task needs (`--resources`), what the machine has, and admission control between them.

    parse_resources("cpu=2,memory=4G,gpu=1")   -> Resources(cpu=2.0, memory=4294967296, gpu=1)
    Machine.detect()                            -> the cores, free memory and GPUs of this machine
    check_fits(request, machine, step="train")  -> StepError if the machine can never run it
    ResourcePool(machine).try_acquire(request)  -> a Grant (with its own GPUs) or None for "not now"

Sizes: a bare number is bytes; K, M, G, T (and Ki/KiB, Mi/MiB, ...) are binary (1G = 2**30 bytes,
as in Docker and Slurm); KB, MB, GB, TB are decimal (1GB = 10**9 bytes). Units ignore case.

The pool never admits more than the machine has at once: cpu is counted exactly (two cpu=0.5
tasks share one core, ten cpu=0.1 tasks fill one), memory as reserved bytes, and every GPU id
belongs to at most one grant at a time. A task sees only its own GPUs through
`Grant.environment()` (CUDA_VISIBLE_DEVICES); a task that asked for none sees none.
"""

from __future__ import annotations

import functools
import math
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from fractions import Fraction
from pathlib import Path

from nbflow.exceptions import StepError

__all__ = [
    "Grant",
    "Machine",
    "ResourcePool",
    "Resources",
    "check_fits",
    "format_size",
    "parse_resources",
]

KNOWN = ("cpu", "memory", "gpu")
FORM = "Write it as --resources cpu=N,memory=SIZE,gpu=N, e.g. --resources cpu=2,memory=4G,gpu=1."

_UNITS: dict[str, int] = {"": 1, "b": 1}
for _power, _letter in enumerate("kmgt", start=1):
    _UNITS[_letter] = _UNITS[_letter + "i"] = _UNITS[_letter + "ib"] = 1024**_power
    _UNITS[_letter + "b"] = 1000**_power
UNIT_HELP = "B, K/KiB, M/MiB, G/GiB, T/TiB (binary: 1G = 1024**3 bytes) or KB, MB, GB, TB (decimal)"

_Fail = Callable[[str], StepError]  # parse_resources' error factory, for its helpers
_NUMBER = re.compile(r"([+-]?(?:\d+(?:\.\d*)?|\.\d+))([A-Za-z]*)")


@dataclass(frozen=True)
class Resources:
    """What one task needs: cores (fractions allowed), bytes of memory, whole GPUs."""

    cpu: float = 1.0
    memory: int = 0
    gpu: int = 0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.cpu) and self.cpu >= 0):
            raise ValueError(f"Resources.cpu must be a finite number >= 0, not {self.cpu!r}")
        for name in ("memory", "gpu"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"Resources.{name} must be a whole number >= 0, not {value!r}")

    def as_dict(self) -> dict[str, float | int]:
        return {"cpu": self.cpu, "memory": self.memory, "gpu": self.gpu}


def parse_resources(text: str, *, step: str | None = None) -> Resources:
    """Parse the value of `--resources`: NAME=VALUE items separated by commas and/or spaces.

    Empty text means the defaults (one core, no memory reservation, no GPU). Any bad item is a
    StepError naming the step, the item and the form that works.
    """

    def fail(message: str) -> StepError:
        return StepError(message, step=step)

    normalized = re.sub(r"\s*=\s*", "=", text.strip())
    # "memory=4 GiB": a unit separated from its number by spaces (but not the next "name=").
    normalized = re.sub(r"(\d)\s+([A-Za-z]+)\b(?!=)", r"\1\2", normalized)
    seen: dict[str, str] = {}
    values: dict[str, float | int] = {}
    for item in re.split(r"[\s,]+", normalized):
        if not item:
            continue
        name, equals, raw = item.partition("=")
        if not equals or not name:
            raise fail(f"--resources item '{item}' is not NAME=VALUE. {FORM}")
        key = name.lower()
        if key not in KNOWN:
            raise fail(f"unknown resource '{name}'; nbflow knows {', '.join(KNOWN)}. {FORM}")
        if key in seen:
            raise fail(
                f"--resources gives {key} twice ('{seen[key]}' and '{item}'); give each resource"
                f" once. {FORM}"
            )
        seen[key] = item
        if key == "cpu":
            values["cpu"] = _parse_cpu(raw, fail)
        elif key == "memory":
            values["memory"] = _parse_memory(raw, fail)
        else:
            values["gpu"] = _parse_gpu(raw, fail)
    return Resources(
        cpu=float(values.get("cpu", 1.0)),
        memory=int(values.get("memory", 0)),
        gpu=int(values.get("gpu", 0)),
    )


def _number(raw: str) -> tuple[Decimal, str] | None:
    match = _NUMBER.fullmatch(raw)
    if match is None:
        return None
    return Decimal(match.group(1)), match.group(2)


def _parse_cpu(raw: str, fail: _Fail) -> float:
    what = "cpu is the cores a task needs: a number above 0, such as cpu=2 or cpu=0.5"
    parsed = _number(raw)
    if parsed is None or parsed[1]:
        raise fail(f"--resources cpu='{raw}' is not a number; {what}.")
    if parsed[0] <= 0:
        raise fail(f"--resources cpu={raw} must be more than 0; {what}.")
    return float(parsed[0])


def _parse_memory(raw: str, fail: _Fail) -> int:
    what = (
        "memory is a size above 0, such as memory=512MiB, memory=4G or memory=1.5GB"
        " (a bare number is bytes)"
    )
    parsed = _number(raw)
    if parsed is None:
        raise fail(f"--resources memory='{raw}' is not a size; {what}.")
    number, unit = parsed
    if unit.lower() not in _UNITS:
        raise fail(f"--resources memory={raw} has an unknown unit '{unit}'; use {UNIT_HELP}.")
    if number <= 0:
        raise fail(f"--resources memory={raw} must be more than 0; {what}.")
    scaled = (number * _UNITS[unit.lower()]).to_integral_value(rounding=ROUND_CEILING)
    return int(scaled)


def _parse_gpu(raw: str, fail: _Fail) -> int:
    what = "gpu is a whole number of GPUs, such as gpu=1; leave gpu out for a step that needs none"
    parsed = _number(raw)
    if parsed is None or parsed[1]:
        raise fail(f"--resources gpu='{raw}' is not a number; {what}.")
    number = parsed[0]
    if number != number.to_integral_value():
        raise fail(f"--resources gpu={raw}: a GPU cannot be shared between tasks, so {what}.")
    if number <= 0:
        raise fail(f"--resources gpu={raw} must be at least 1; {what}.")
    return int(number)


def format_size(size: int | float) -> str:
    """Bytes for people: 512 B, 1.5 KiB, 4 GiB, 23.1 GiB."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            if unit == "B":
                return f"{int(value)} B"
            text = f"{value:.1f}".removesuffix(".0")
            return f"{text} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def _cores(value: float) -> str:
    return f"{value:g}"


@functools.lru_cache(maxsize=256)  # a run asks for the same few amounts at every task
def _exact(value: float) -> Fraction:
    # Through the shortest decimal form, so 10 x 0.1 cores add up to exactly 1 core.
    return Fraction(repr(float(value)))


# ----------------------------------------------------------------------------- the machine


@dataclass(frozen=True)
class Machine:
    """What this machine offers tasks: cores, bytes of memory, GPU device ids."""

    cpu: float
    memory: int
    gpus: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "gpus", tuple(str(gpu) for gpu in self.gpus))
        if not (math.isfinite(self.cpu) and self.cpu >= 0):
            raise ValueError(f"Machine.cpu must be a finite number >= 0, not {self.cpu!r}")
        if self.memory < 0:
            raise ValueError(f"Machine.memory must be >= 0, not {self.memory!r}")
        if len(set(self.gpus)) != len(self.gpus):
            raise ValueError(f"Machine.gpus names a device twice: {self.gpus!r}")

    @classmethod
    def detect(cls) -> Machine:
        """This machine as tasks can use it.

        cpu: the cores this process may run on (affinity), capped by a cgroup CPU quota, at
        least 1. memory: MemAvailable from /proc/meminfo (else sysconf), capped by what a
        cgroup memory limit leaves. gpus: CUDA_VISIBLE_DEVICES if set, else `nvidia-smi -L`.
        """
        return cls(cpu=_detect_cpu(), memory=_detect_memory(), gpus=_detect_gpus())


_CGROUP = Path("/sys/fs/cgroup")
_PROC_CGROUP = Path("/proc/self/cgroup")


def _detect_cpu(cgroup: Path = _CGROUP, proc_cgroup: Path = _PROC_CGROUP) -> float:
    if hasattr(os, "sched_getaffinity"):
        cores: float = float(len(os.sched_getaffinity(0)))
    else:  # pragma: no cover - macOS, Windows
        cores = float(os.cpu_count() or 1)
    quota = _cgroup_cpu_quota(cgroup, proc_cgroup)
    if quota is not None:
        cores = min(cores, quota)
    return max(1.0, cores)


def _detect_memory(
    meminfo: Path = Path("/proc/meminfo"),
    cgroup: Path = _CGROUP,
    proc_cgroup: Path = _PROC_CGROUP,
) -> int:
    available = _meminfo_available(meminfo)
    if available is None:
        available = _sysconf_memory()
    limit = _cgroup_memory_free(cgroup, proc_cgroup)
    if limit is not None:
        available = min(available, limit) if available else limit
    return max(0, available)


def _meminfo_available(path: Path) -> int | None:
    try:
        text = path.read_text()
    except OSError:
        return None
    match = re.search(r"^MemAvailable:\s+(\d+)\s*kB", text, re.MULTILINE)
    return int(match.group(1)) * 1024 if match else None


def _sysconf_memory() -> int:  # pragma: no cover - only where /proc/meminfo is missing
    try:
        page = os.sysconf("SC_PAGE_SIZE")
        for name in ("SC_AVPHYS_PAGES", "SC_PHYS_PAGES"):
            if name in os.sysconf_names:
                pages = os.sysconf(name)
                if pages > 0 and page > 0:
                    return int(page * pages)
    except (AttributeError, OSError, ValueError):
        pass
    return 0


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _cgroup_dirs(controller: str, cgroup: Path, proc_cgroup: Path) -> list[Path]:
    """The cgroup directories that limit this process for `controller`, innermost first."""
    text = _read(proc_cgroup)
    if text is None:
        return []
    dirs: list[Path] = []
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, own = parts
        if controllers == "":  # cgroup v2
            base = cgroup
        elif controller in controllers.split(","):
            base = cgroup / controllers
            if not base.is_dir():
                base = cgroup / controller
        else:
            continue
        here = base / own.lstrip("/")
        while True:  # the own cgroup and every ancestor up to the mount: any of them may limit
            if here.is_dir() and here not in dirs:
                dirs.append(here)
            if here == base or base not in here.parents:
                break
            here = here.parent
        if base.is_dir() and base not in dirs:
            dirs.append(base)
    return dirs


def _cgroup_cpu_quota(cgroup: Path, proc_cgroup: Path) -> float | None:
    quotas: list[float] = []
    for directory in _cgroup_dirs("cpu", cgroup, proc_cgroup):
        v2 = _read(directory / "cpu.max")
        if v2 is not None:
            quota, _, period = v2.partition(" ")
            if quota.isdigit() and period.isdigit() and int(period) > 0:
                quotas.append(int(quota) / int(period))
            continue
        quota_us, period_us = (
            _read(directory / "cpu.cfs_quota_us"),
            _read(directory / "cpu.cfs_period_us"),
        )
        if (
            quota_us
            and period_us
            and quota_us.isdigit()  # "-1": no quota
            and period_us.isdigit()
            and int(quota_us) > 0
            and int(period_us) > 0
        ):
            quotas.append(int(quota_us) / int(period_us))
    return min(quotas) if quotas else None


def _cgroup_memory_free(cgroup: Path, proc_cgroup: Path) -> int | None:
    """Bytes a cgroup memory limit still leaves (limit - usage + reclaimable cache), if any."""
    frees: list[int] = []
    for directory in _cgroup_dirs("memory", cgroup, proc_cgroup):
        limit = _read(directory / "memory.max")
        usage = _read(directory / "memory.current")
        if limit is None:
            limit = _read(directory / "memory.limit_in_bytes")
            usage = _read(directory / "memory.usage_in_bytes")
        if not limit or not limit.isdigit() or int(limit) >= 2**60:  # "max" or v1's "no limit"
            continue
        used = int(usage) if usage and usage.isdigit() else 0
        stat = _read(directory / "memory.stat") or ""
        match = re.search(r"^(?:total_)?inactive_file (\d+)$", stat, re.MULTILINE)
        reclaimable = int(match.group(1)) if match else 0
        frees.append(max(0, int(limit) - max(0, used - reclaimable)))
    return min(frees) if frees else None


def _detect_gpus(environ: dict[str, str] | None = None) -> tuple[str, ...]:
    env = os.environ if environ is None else environ
    visible = env.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return _parse_visible_devices(visible)
    return _nvidia_smi_gpus()


def _parse_visible_devices(value: str) -> tuple[str, ...]:
    # CUDA stops at the first invalid id: "-1" (and "NoDevFiles") hide everything after it.
    ids: list[str] = []
    for part in value.split(","):
        device = part.strip()
        if not device or device == "NoDevFiles" or re.fullmatch(r"-\d+", device):
            break
        if device not in ids:
            ids.append(device)
    return tuple(ids)


def _nvidia_smi_gpus(command: str = "nvidia-smi", timeout: float = 5.0) -> tuple[str, ...]:
    executable = shutil.which(command)
    if executable is None:
        return ()
    try:
        done = subprocess.run(
            [executable, "-L"], capture_output=True, text=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return ()
    if done.returncode != 0:
        return ()
    return tuple(re.findall(r"^GPU (\d+):", done.stdout, re.MULTILINE))


# ----------------------------------------------------------------------------- fitting


def _never_fits(request: Resources, machine: Machine) -> list[str]:
    problems: list[str] = []
    if request.gpu > len(machine.gpus):
        have = len(machine.gpus)
        plural = "GPU" if have == 1 else "GPUs"
        fix = (
            "run it on a machine with GPUs"
            if have == 0
            else f"run it on a machine with {request.gpu} GPUs"
        )
        lower = "leave gpu out of --resources" if have == 0 else f"lower --resources gpu to {have}"
        problems.append(
            f"asks for gpu={request.gpu}, but this machine has {have} {plural}. "
            f"{lower[0].upper() + lower[1:]}, or {fix}."
        )
    if _exact(request.cpu) > _exact(machine.cpu):
        problems.append(
            f"asks for cpu={_cores(request.cpu)}, but this machine has {_cores(machine.cpu)}"
            f" {'core' if machine.cpu == 1 else 'cores'}. Lower --resources cpu to at most"
            f" {_cores(machine.cpu)}, or run it on a machine with more cores."
        )
    if request.memory > machine.memory:
        problems.append(
            f"asks for memory={format_size(request.memory)}, but this machine has"
            f" {format_size(machine.memory)} available. Lower --resources memory to at most"
            f" {format_size(machine.memory)}, or run it on a machine with more memory."
        )
    return problems


def check_fits(request: Resources, machine: Machine, *, step: str | None) -> None:
    """Raise StepError if `machine` could never run `request`, even with nothing else running."""
    problems = _never_fits(request, machine)
    if problems:
        raise StepError(" It also ".join(problems), step=step)


# ----------------------------------------------------------------------------- the pool


@dataclass(frozen=True)
class Grant:
    """Resources reserved for one task until `ResourcePool.release`."""

    request: Resources
    gpus: tuple[str, ...] = ()  # the devices reserved for this task
    machine_has_gpus: bool = False

    def environment(self) -> dict[str, str]:
        """Environment variables for the task's process: it sees only its own GPUs."""
        if self.gpus:
            return {"CUDA_VISIBLE_DEVICES": ",".join(self.gpus)}
        if self.machine_has_gpus:
            return {"CUDA_VISIBLE_DEVICES": ""}
        return {}


class ResourcePool:
    """Admission control for a pool of workers: never more work at once than the machine has."""

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self._capacity_cpu = _exact(machine.cpu)
        self._used_cpu = Fraction(0)
        self._used_memory = 0
        self._free_gpus: list[str] = list(machine.gpus)
        self._outstanding: dict[int, Grant] = {}
        self._changed = threading.Condition(threading.Lock())

    def try_acquire(self, request: Resources, *, step: str | None = None) -> Grant | None:
        """Reserve `request` now, or return None if it does not fit until something is released.

        A request the machine can never satisfy raises the StepError of `check_fits`.
        """
        check_fits(request, self.machine, step=step)
        with self._changed:
            return self._take(request)

    def acquire(
        self, request: Resources, *, step: str | None = None, timeout: float | None = None
    ) -> Grant | None:
        """Like try_acquire, but wait (up to `timeout` seconds) until the request fits."""
        check_fits(request, self.machine, step=step)
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            while True:
                grant = self._take(request)
                if grant is not None:
                    return grant
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._changed.wait(remaining)

    def release(self, grant: Grant) -> None:
        """Give back what `grant` reserved. Each grant is released once."""
        with self._changed:
            if self._outstanding.get(id(grant)) is not grant:
                raise ValueError(
                    "this grant is not held in this pool: it was released already, or another"
                    " pool granted it"
                )
            del self._outstanding[id(grant)]
            self._used_cpu -= _exact(grant.request.cpu)
            self._used_memory -= grant.request.memory
            self._free_gpus.extend(grant.gpus)
            order = {gpu: index for index, gpu in enumerate(self.machine.gpus)}
            self._free_gpus.sort(key=order.__getitem__)
            self._changed.notify_all()

    def available(self) -> Machine:
        """What is free right now, as a Machine."""
        with self._changed:
            return Machine(
                cpu=float(self._capacity_cpu - self._used_cpu),
                memory=self.machine.memory - self._used_memory,
                gpus=tuple(self._free_gpus),
            )

    def held(self) -> int:
        """How many grants are out."""
        with self._changed:
            return len(self._outstanding)

    def _take(self, request: Resources) -> Grant | None:
        cpu = _exact(request.cpu)
        if self._used_cpu + cpu > self._capacity_cpu:
            return None
        if self._used_memory + request.memory > self.machine.memory:
            return None
        if request.gpu > len(self._free_gpus):
            return None
        gpus = tuple(self._free_gpus[: request.gpu])
        del self._free_gpus[: request.gpu]
        self._used_cpu += cpu
        self._used_memory += request.memory
        grant = Grant(request=request, gpus=gpus, machine_has_gpus=bool(self.machine.gpus))
        self._outstanding[id(grant)] = grant
        return grant
