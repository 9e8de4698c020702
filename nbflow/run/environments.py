"""Step environments: virtual environments built with uv, keyed by what they hold.

An environment is built once under `$NBFLOW_CACHE_DIR/envs/<hash>` (default
`~/.cache/nbflow/envs/<hash>`), where the hash is over the sorted requirements, the Python
asked for and the packages nbflow's worker needs. It is built into a temporary folder and
renamed when complete, with a `nbflow-env.json` describing it, so a half-built environment
is never used; every notebook and run asking for the same requirements shares it.

A worker imports the environment's packages and, of the kernel's, nbflow alone: its sys.path
starts with a folder holding only a link to this nbflow package (`nbflow_folder`), never the
folder above nbflow/, which for a wheel install is the kernel's whole site-packages. nbflow's
worker needs only pure-Python nbflow plus `worker_packages()`, which uv installs into the
environment for its own Python.

Each run that uses an environment appends a line to its `nbflow-runs.jsonl` (datastore, flow,
run id): `nbflow env list` shows them, and `nbflow env gc` removes an environment once none
of those runs remains (or it has not been used for N days).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cloudpickle

from nbflow.exceptions import NbflowError
from nbflow.store.blobs.remote import _PACKAGES

MARKER = "nbflow-env.json"
USES = "nbflow-runs.jsonl"  # one JSON line per run that used the environment
GRACE = 3600.0  # seconds: an environment used this recently may be about to run a step
# The oldest Python nbflow runs on: pyproject's requires-python (tests/unit check they agree).
MIN_PYTHON = (3, 10)
# uv's messages are shown in notebooks and logs: no colour codes, whatever FORCE_COLOR says.
NO_COLOR = ("--color", "never")


class EnvironmentError_(NbflowError):
    """An environment that cannot be built (unresolvable requirement, no such Python)."""


def cache_root() -> Path:
    base = os.environ.get("NBFLOW_CACHE_DIR") or str(Path.home() / ".cache" / "nbflow")
    return Path(base).expanduser() / "envs"


def worker_packages() -> list[str]:
    """What nbflow's worker imports, besides the user's requirements and nbflow itself (see
    nbflow_folder). cloudpickle as the kernel's: it unpickles the kernel's payloads."""
    return [
        f"cloudpickle=={cloudpickle.__version__}", "xxhash", "zstandard", "ipython",
        *_store_packages(),
    ]  # fmt: skip


def _store_packages() -> list[str]:
    """The filesystem package the datastore needs (s3fs for s3://, ...), as the kernel has it:
    the worker reads and writes the same store."""
    # importlib.metadata costs 20-30 ms: only building an environment asks for it.
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415 - see above

    protocol = os.environ.get("NBFLOW_DATASTORE", "").partition("://")[0].lower()
    package = _PACKAGES.get(protocol)
    if package is None:
        return []
    try:
        return [f"{package}=={version(package)}"]
    except PackageNotFoundError:
        return [package]


def nbflow_folder() -> str:
    """A folder holding only `nbflow`, a link to this process's nbflow package: what a
    worker's sys.path needs of the kernel's installation, whether a wheel, an sdist or an
    editable install put nbflow there. One per nbflow location, under the cache folder."""
    package = Path(__file__).resolve().parents[1]  # nbflow/, above run/
    digest = hashlib.sha256(str(package).encode()).hexdigest()[:16]
    folder = cache_root().parent / "nbflow-packages" / digest
    link = folder / "nbflow"
    if not (link.is_symlink() and link.resolve() == package):
        folder.mkdir(parents=True, exist_ok=True)
        temp = folder / f".nbflow-{os.getpid()}"
        temp.unlink(missing_ok=True)
        temp.symlink_to(package, target_is_directory=True)
        temp.replace(link)  # atomic: a worker starting meanwhile sees the old link or the new
    return str(folder)


def uv_bin() -> str:
    try:
        import uv  # noqa: PLC0415 - optional here: a uv on PATH does as well
    except ImportError:
        found = shutil.which("uv")
        if found:
            return found
        raise EnvironmentError_(
            "step environments are built with uv: install it (pip install uv)."
        ) from None
    return str(uv.find_uv_bin())


@dataclass(frozen=True)
class Environment:
    key: str
    path: Path
    requirements: tuple[str, ...]
    python: str  # the interpreter's version, as "3.11.7"
    packages: dict[str, str]
    sys_path: tuple[str, ...]

    @property
    def executable(self) -> str:
        return str(self.path / "bin" / "python")

    def describe(self) -> dict[str, Any]:
        """What a task that ran here records."""
        return {
            "key": self.key,
            "requirements": list(self.requirements),
            "python": self.python,
            "packages": dict(self.packages),
        }


def env_key(requirements: Sequence[str], python: str | None) -> str:
    wanted = python or platform.python_version()
    text = json.dumps([sorted(requirements), wanted, sorted(worker_packages())])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


_known: dict[str, Environment] = {}


def ensure(requirements: Sequence[str], python: str | None = None) -> Environment:
    """The environment for these requirements, built now if it does not exist yet."""
    key = env_key(requirements, python)
    if key in _known:
        return _known[key]
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    final = root / key
    with _locked(root / f".{key}.lock"):
        if not (final / MARKER).exists():
            _build(final, tuple(requirements), python)
        env = _load(final)
        _touch(final)
    _known[key] = env
    return env


def record_use(environment: Environment, store: str, flow: str, run_id: int) -> None:
    """Note that run `flow/run_id` of datastore `store` runs steps in `environment`.

    One short line appended with O_APPEND: lines from concurrent kernels do not interleave."""
    line = json.dumps({"store": store, "flow": flow, "run": run_id, "at": time.time()}) + "\n"
    # FileNotFoundError: removed by a gc meanwhile, nothing to note.
    with contextlib.suppress(FileNotFoundError), open(environment.path / USES, "a") as uses:
        uses.write(line)


def uses_of(path: Path) -> list[dict[str, Any]]:
    """The runs that used the environment at `path`, oldest first (one entry per run)."""
    try:
        lines = (path / USES).read_text().splitlines()
    except FileNotFoundError:
        return []
    found: dict[tuple[str, str, int], dict[str, Any]] = {}
    for line in lines:
        with contextlib.suppress(ValueError, KeyError, TypeError):
            use = json.loads(line)
            found.setdefault((use["store"], use["flow"], int(use["run"])), use)
    return list(found.values())


def _load(path: Path) -> Environment:
    data = json.loads((path / MARKER).read_text())
    return Environment(
        key=path.name,
        path=path,
        requirements=tuple(data["requirements"]),
        python=data["python"],
        packages=dict(data["packages"]),
        sys_path=tuple(data["sys_path"]),
    )


def _touch(path: Path) -> None:
    marker = path / MARKER
    data = json.loads(marker.read_text())
    data["last_used"] = time.time()
    temp = marker.with_suffix(".tmp")
    temp.write_text(json.dumps(data, indent=1))
    temp.replace(marker)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _interpreter(python: str | None) -> str:
    """The interpreter to build on: the kernel's, or one of version X.Y on this machine."""
    if python is None:
        return sys.executable
    _check_supported(python, f"--python {python}")
    found = subprocess.run(
        [uv_bin(), "python", "find", *NO_COLOR, "--no-python-downloads", python],
        check=False,
        capture_output=True,
        text=True,
    )
    if found.returncode == 0:
        return found.stdout.strip()
    pyenv = _pyenv_interpreter(python)
    if pyenv is not None:
        return pyenv
    first_line = (found.stderr.strip() or "uv python find found none").splitlines()[0]
    raise EnvironmentError_(
        f"--python {python}: no Python {python} is installed on this machine ({first_line}). "
        f"Install it (uv python install {python}, pyenv install {python}, or your system's "
        "package manager), or drop --python."
    )


def _check_supported(python: str, what: str) -> None:
    """Refuse an X.Y[.Z] older than nbflow runs on: its worker could not even import there."""
    numbers = python.split(".")[:2]
    if len(numbers) < 2 or not all(n.isdigit() for n in numbers):
        return  # another form (a path, a name): checked on the version found (_probe)
    if (int(numbers[0]), int(numbers[1])) < MIN_PYTHON:
        oldest = ".".join(map(str, MIN_PYTHON))
        raise EnvironmentError_(
            f"{what}: nbflow runs steps on Python {oldest} or newer. Ask for --python {oldest} "
            "or newer, or drop --python."
        )


def _pyenv_interpreter(python: str) -> str | None:
    """The newest pyenv-installed Python of version `python` (X.Y or X.Y.Z), if any.

    uv finds pyenv's interpreters only through the shims of the version that is active, so
    the others (often the reason pyenv is there) are looked up in its versions folder."""
    versions = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    found = []
    for folder in versions.glob(f"{python}*") if versions.is_dir() else []:
        numbers = folder.name.split(".")
        if folder.name != python and not folder.name.startswith(python + "."):
            continue  # 3.1 must not match 3.12
        if all(n.isdigit() for n in numbers) and (folder / "bin" / "python").exists():
            found.append((tuple(int(n) for n in numbers), str(folder / "bin" / "python")))
    return max(found)[1] if found else None


def _build(final: Path, requirements: tuple[str, ...], python: str | None) -> None:
    interpreter = _interpreter(python)
    shown = " ".join(requirements) or "(no requirements)"
    print(
        f"nbflow: building environment {final.name} for {shown} "
        f"(python {python or platform.python_version()}) in {final}",
        file=sys.stderr,
        flush=True,
    )
    started = time.perf_counter()
    temp = final.with_name(f".building-{final.name}-{os.getpid()}")
    shutil.rmtree(temp, ignore_errors=True)
    if final.exists():  # a folder without its marker: a build that did not finish
        shutil.rmtree(final)
    uv = uv_bin()
    try:
        _uv([uv, "venv", *NO_COLOR, "--quiet", "--relocatable", "--python", interpreter,
             str(temp)], requirements)  # fmt: skip
        _uv([uv, "pip", "install", *NO_COLOR, "--python", str(temp / "bin" / "python"),
             *requirements, *worker_packages()], requirements)  # fmt: skip
        temp.rename(final)
        version, sys_path, site_packages = _probe(final, shown)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        shutil.rmtree(final, ignore_errors=True)
        raise
    python_bin = str(final / "bin" / "python")
    freeze = subprocess.run(
        [uv, "pip", "freeze", *NO_COLOR, "--python", python_bin],
        capture_output=True,
        text=True,
        check=True,
    )
    packages = {}
    for line in freeze.stdout.splitlines():
        name, sep, pinned = line.partition("==")
        if sep:
            packages[name.strip().lower()] = pinned.strip()
    now = time.time()
    data = {
        "requirements": list(requirements),
        "python": version,
        "packages": packages,
        "freeze": freeze.stdout,
        "sys_path": sys_path,
        "created": now,
        "last_used": now,
        "build_seconds": round(time.perf_counter() - started, 2),
    }
    (final / MARKER).write_text(json.dumps(data, indent=1))
    _compile_in_background(python_bin, site_packages)
    print(
        f"nbflow: environment {final.name} ready in {time.perf_counter() - started:.1f} s",
        file=sys.stderr,
        flush=True,
    )


def _probe(path: Path, shown: str) -> tuple[str, list[str], str]:
    """The environment's Python version, sys.path and site-packages, as its workers see them:
    without PYTHONPATH (the environment is shared, the caller's PYTHONPATH is not)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    probe = subprocess.run(
        [str(path / "bin" / "python"), "-c", "import json, platform, sys, sysconfig; print("
         "json.dumps([platform.python_version(), [p for p in sys.path if p], "
         "sysconfig.get_paths()['purelib']]))"],
        capture_output=True, text=True, check=True, env=env,
    )  # fmt: skip
    version, sys_path, site_packages = json.loads(probe.stdout)
    # A --python given otherwise than as X.Y (a path, a name) is checked here, once found.
    _check_supported(version, f"the environment for {shown} has Python {version}")
    return version, sys_path, site_packages


_compiling: list[subprocess.Popen[bytes]] = []


def _compile_lock(path: Path) -> Path:
    return path.with_name(f".{path.name}.compile.lock")


def _compile_in_background(python_bin: str, site_packages: str) -> None:
    """Compile the environment's modules to bytecode, detached from the kernel.

    uv installs without .pyc files, and where PYTHONDONTWRITEBYTECODE is set (containers often
    set it) imports never write them: each worker would then compile pandas again on import
    (0.9 s instead of 0.3 s here). Compiling during the build would triple it (uv's
    --compile-bytecode: 5 s instead of 1.5 s); afterwards, its cost is off the critical path.
    Each .pyc is written atomically, so a worker importing meanwhile reads whole files or none.
    """
    # One process at low priority: the kernel and the step's workers come first.
    _compiling[:] = [process for process in _compiling if process.poll() is None]
    # It holds the environment's compile lock, which gc takes before removing the folder,
    # and compiles only while the marker is there: it never recreates a removed environment.
    compile_all = (
        "import compileall, fcntl, os, sys; os.nice(10); lock = open(sys.argv[2], 'a'); "
        "fcntl.flock(lock, fcntl.LOCK_EX); "
        "os.path.exists(sys.argv[3]) and compileall.compile_dir(sys.argv[1], quiet=1, workers=1)"
    )
    root = Path(python_bin).parents[1]
    arguments = [site_packages, str(_compile_lock(root)), str(root / MARKER)]
    process = subprocess.Popen(
        [python_bin, "-c", compile_all, *arguments],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # not the kernel's child: an interrupt does not reach it
        env={k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
    )
    _compiling.append(process)  # kept, and reaped by a later call: no zombie, no warning


def _uv(command: list[str], requirements: Sequence[str]) -> None:
    """Run uv, its progress going to stderr as it comes; a failure names the requirements."""
    lines = []
    with subprocess.Popen(
        command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    ) as process:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)
            sys.stderr.write(line)
        code = process.wait()
    if code != 0:
        message = "".join(lines).strip()
        raise EnvironmentError_(
            f"cannot build the environment for {', '.join(requirements) or 'no requirements'}: "
            f"uv says:\n{message}\nFix the requirement (a name and version that exist on the "
            "package index) in `%flow env` or the step's --env."
        )


# -- listing and cleaning up ---------------------------------------------------------------------


def environments() -> list[dict[str, Any]]:
    """Every complete environment: key, path, requirements, python, size, created, last use."""
    root = cache_root()
    found = []
    for path in sorted(root.iterdir()) if root.is_dir() else []:
        marker = path / MARKER
        if not path.is_dir() or path.name.startswith(".") or not marker.exists():
            continue
        data = json.loads(marker.read_text())
        found.append(
            {
                "key": path.name,
                "path": str(path),
                "requirements": data["requirements"],
                "python": data["python"],
                "size": _size(path),
                "created": data["created"],
                "last_used": data["last_used"],
                "runs": uses_of(path),
            }
        )
    return found


def _size(path: Path) -> int:
    total = 0
    for dirpath, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


RunCheck = Callable[[dict[str, Any]], "bool | None"]


def collect_garbage(
    days: float,
    run_exists: RunCheck | None = None,
    *,
    dry_run: bool = False,
    grace: float = GRACE,
) -> list[dict[str, Any]]:
    """Remove the environments not used for `days` days, and, given `run_exists`, those no
    remaining run refers to; returns those removed, each with the `reason`.

    `run_exists(use)` says whether the run a use line names still exists: True, False, or
    None when it cannot tell (a datastore this process cannot open): such an environment
    stays. One used within `grace` seconds stays whatever the runs say: a kernel that has
    just built it may be about to run a step in it.
    """
    now = time.time()
    removed = []
    for env in environments():
        reason = _why_unneeded(env, now, days, run_exists, grace)
        if reason is None:
            continue
        if not dry_run:
            path = Path(env["path"])
            with _locked(cache_root() / f".{env['key']}.lock"), _locked(_compile_lock(path)):
                shutil.rmtree(path, ignore_errors=True)
            _known.pop(env["key"], None)
        removed.append({**env, "reason": reason})
    return removed


def _why_unneeded(
    env: dict[str, Any], now: float, days: float, run_exists: RunCheck | None, grace: float
) -> str | None:
    if env["last_used"] < now - days * 86400:
        return f"unused for {days:g} days"
    if run_exists is None or env["last_used"] > now - grace:
        return None
    if any(run_exists(use) is not False for use in env["runs"]):
        return None  # a run refers to it, or might: kept
    if env["runs"]:
        return "no run that used it remains"
    return "no run has used it"
