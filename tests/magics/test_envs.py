"""Step environments (`%%step --env`, `%flow env`): real uv, real PyPI downloads.

One environment (pandas==2.2.3) is built once for the module, in a module-scoped cache."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas
import pytest
from IPython.core.interactiveshell import InteractiveShell
from magictools import fails, flow_shell, ok
from needs import missing

from nbflow import Flow
from nbflow.query.views import run_view
from nbflow.run import environments
from nbflow.run.executors.environment import close_pools

OLD = "pandas==2.2.3"


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("nbflow-cache")
    old = os.environ.get("NBFLOW_CACHE_DIR")
    os.environ["NBFLOW_CACHE_DIR"] = str(path)
    environments._known.clear()
    yield path
    close_pools()
    environments._known.clear()
    if old is None:
        del os.environ["NBFLOW_CACHE_DIR"]
    else:
        os.environ["NBFLOW_CACHE_DIR"] = old


@pytest.fixture
def ip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cache_dir: Path
) -> Iterator[InteractiveShell]:
    shell = flow_shell(tmp_path, monkeypatch, "envs")
    yield shell


def _env_dirs(cache_dir: Path) -> list[Path]:
    root = cache_dir / "envs"
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def test_step_cell_runs_in_its_environment(ip: InteractiveShell, cache_dir: Path) -> None:
    assert not pandas.__version__.startswith("2.2.")  # the kernel's is another
    ok(ip, "%%step start\nn = 3")
    ok(
        ip,
        f'%%step check_version --after start --env "{OLD}"\n'
        "import pandas, sys\nversion = pandas.__version__\nsizes = list(range(n))\n"
        "print('pandas', version)",
    )
    assert ip.user_ns["version"] == "2.2.3"  # read back in the kernel
    assert ip.user_ns["sizes"] == [0, 1, 2]
    (built,) = _env_dirs(cache_dir)
    marker = json.loads((built / "nbflow-env.json").read_text())
    assert marker["packages"]["pandas"] == "2.2.3"
    task = Flow("envs").latest_run["check_version"].task
    assert "pandas 2.2.3" in task.stdout
    environment = task.environment
    assert environment is not None
    assert environment["requirements"] == [OLD]
    assert environment["packages"]["pandas"] == "2.2.3"
    assert environment["python"].count(".") == 2
    # The graph says which steps have an environment of their own.
    view = {step["name"]: step for step in run_view(Flow("envs").latest_run)["steps"]}
    assert (view["check_version"]["env"], view["start"]["env"]) == ([OLD], [])


def test_flow_env_and_full_run_share_the_environment(ip: InteractiveShell, cache_dir: Path) -> None:
    before = _env_dirs(cache_dir)
    ok(ip, f'%flow env "{OLD}"')
    ok(ip, "%flow env")
    ok(ip, "%%step start\nimport pandas\nfirst = pandas.__version__")
    ok(ip, "%%step second --after start --in-kernel\nimport pandas\nkernel = pandas.__version__")
    run = ok(ip, "%flow run --executor processes --workers 1")
    assert run.status == "done"
    assert run["start"].task.environment["packages"]["pandas"] == "2.2.3"
    assert run["start"].task.data.first == "2.2.3"
    assert run.data.kernel == pandas.__version__  # --in-kernel keeps the kernel's
    assert _env_dirs(cache_dir) == before or not before  # one folder, built once
    assert len(_env_dirs(cache_dir)) == 1
    ok(ip, "%flow env --clear")
    ok(ip, "%%step start\nimport pandas\nfirst = pandas.__version__")
    assert ip.user_ns["first"] == pandas.__version__


def test_retry_timeout_and_resume_work_for_a_step_in_an_environment(
    ip: InteractiveShell, cache_dir: Path, tmp_path: Path
) -> None:
    flaky = tmp_path / "failed-once"
    ok(ip, "%%step start\nn = 2")
    # Fails on its first attempt, then succeeds: --retry runs it again in the environment.
    ok(ip, f'%%step shaky --after start --retry 1 --env "{OLD}"\nimport os, pandas\n'
           f"if not os.path.exists({str(flaky)!r}):\n"
           f"    open({str(flaky)!r}, 'w').close()\n    raise RuntimeError('first try')\n"
           "version = pandas.__version__\nm = n + 1")  # fmt: skip
    attempts = Flow("envs").latest_run["shaky"].task.attempts
    assert [a.status for a in attempts] == ["failed", "done"]
    assert attempts[0].error["evalue"] == "first try"
    assert (ip.user_ns["version"], ip.user_ns["m"]) == ("2.2.3", 3)
    # --timeout stops the environment's worker; the task fails and says so.
    started = time.perf_counter()
    error = fails(ip, f'%%step slow --after shaky --timeout 1 --env "{OLD}"\n'
                      "import time\ntime.sleep(30)\nlate = 1")  # fmt: skip
    assert "TaskTimeout" in str(error) and time.perf_counter() - started < 20
    # Resume: a new run that reuses start and shaky, and runs slow again (now quick).
    ok(ip, f'%%step slow --after shaky --env "{OLD}"\nlate = m * 2')
    full = ok(ip, "%flow run --executor processes --workers 1")
    resumed = ok(ip, f"%flow resume {full.pathspec.rsplit('/', 1)[1]} --from slow")
    assert resumed.status == "done" and resumed.data.late == 6
    assert resumed["shaky"].task.status == "cached"
    assert resumed["slow"].task.environment["packages"]["pandas"] == "2.2.3"


def test_a_step_imports_its_environments_packages_and_nbflow_only(
    ip: InteractiveShell, cache_dir: Path
) -> None:
    import six

    assert six.__version__ != "1.15.0"  # the kernel's is another
    ok(ip, "%%step start\nn = 1")
    ok(ip, '%%step old --after start --env "six==1.15.0"\nimport nbflow, six, sys\n'
           "version = six.__version__\nwhere = nbflow.__file__\npath = list(sys.path)")  # fmt: skip
    assert ip.user_ns["version"] == "1.15.0"
    assert Flow("envs").latest_run["old"].task.environment["packages"]["six"] == "1.15.0"
    # nbflow is this kernel's, through a folder holding nothing else; the rest is the
    # environment's own: nothing of the kernel's site-packages or work tree.
    package = Path(nbflow_file()).parent
    assert Path(ip.user_ns["where"]).resolve().parent == package
    nbflow_folder, *rest = ip.user_ns["path"]
    assert [p.name for p in Path(nbflow_folder).iterdir()] == ["nbflow"]
    (built,) = [p for p in _env_dirs(cache_dir) if "six==1.15.0" in p.joinpath(
        "nbflow-env.json").read_text()]  # fmt: skip
    outside = [p for p in rest if not Path(p).resolve().is_relative_to(built.resolve())
               and not Path(p).resolve().is_relative_to(Path(sys.base_prefix).resolve())]
    assert outside == [], "the worker's sys.path holds folders of neither the environment "\
        "nor its base Python"  # fmt: skip


def nbflow_file() -> str:
    import nbflow

    return str(Path(nbflow.__file__).resolve())


def test_a_python_nbflow_cannot_serve_is_refused_before_building(
    ip: InteractiveShell, cache_dir: Path
) -> None:
    before = _env_dirs(cache_dir)
    started = time.perf_counter()
    error = fails(ip, "%%step old --python 3.8\nx = 1")
    message = str(error)
    assert "--python 3.8" in message and "Python 3.10 or newer" in message, message
    assert time.perf_counter() - started < 5
    assert _env_dirs(cache_dir) == before


def test_unresolvable_requirement_fails_fast(
    ip: InteractiveShell, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")  # as in a CI log or a terminal that asks for colour
    started = time.perf_counter()
    error = fails(ip, '%%step broken --env "pandas==0.0.0-nope"\nx = 1')
    assert "pandas==0.0.0-nope" in str(error)
    assert "uv says" in str(error)
    assert "\x1b[" not in str(error)  # uv's colour codes would show as garbage in a notebook
    assert time.perf_counter() - started < 60
    assert not any(p.name.startswith(".building") for p in (cache_dir / "envs").iterdir())


def _another_python() -> str:
    """A Python version (X.Y) other than the kernel's that is installed here (pyenv, uv)."""
    kernel = "{}.{}".format(*sys.version_info[:2])
    for version in ("3.12", "3.13", "3.10"):
        if version == kernel:
            continue
        with contextlib.suppress(environments.EnvironmentError_):
            environments._interpreter(version)
            return version
    return missing("no Python besides the kernel's is installed (pyenv install 3.12)")


def test_a_step_runs_on_another_python_version(ip: InteractiveShell) -> None:
    version = _another_python()
    ok(ip, "%%step start\nx = [1, 2]")
    ok(ip, f"%%step newer --after start --python {version}\nimport sys\n"
           "v = '{}.{}'.format(*sys.version_info[:2])\ny = x + [3]")  # fmt: skip
    assert (ip.user_ns["v"], ip.user_ns["y"]) == (version, [1, 2, 3])
    task = Flow("envs").latest_run["newer"].task
    assert task.environment["python"].startswith(version + ".")


def test_missing_python_is_named(ip: InteractiveShell) -> None:
    error = fails(ip, "%%step new --python 3.99\nx = 1")
    assert "no Python 3.99 is installed" in str(error)


def _fake_env(cache_dir: Path, key: str, last_used: float, runs: list[dict[str, object]]) -> Path:
    """An environment folder as gc sees it (its marker and use lines), without building one."""
    path = cache_dir / "envs" / key
    path.mkdir()
    marker = {"requirements": [key], "python": "3.11.0", "packages": {}, "sys_path": [],
              "created": last_used, "last_used": last_used}  # fmt: skip
    (path / "nbflow-env.json").write_text(json.dumps(marker))
    (path / "nbflow-runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in runs))
    return path


def _age(path: Path, seconds: float) -> None:
    marker = path / "nbflow-env.json"
    data = json.loads(marker.read_text())
    data["last_used"] = time.time() - seconds
    marker.write_text(json.dumps(data))


def test_list_and_gc_remove_exactly_the_unneeded(
    ip: InteractiveShell, cache_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from nbflow.cli import main

    ok(ip, "%flow name kept")
    ok(ip, f'%%step start --env "{OLD}"\nx = 1')  # kept/1 uses the pandas 2.2.3 environment
    ok(ip, "%flow name dropped")
    ok(ip, f'%%step start --env "{OLD}" "six==1.16.0"\nx = 1')  # dropped/1: another one
    ok(ip, "%%step start\nx = 2")  # dropped/2: none
    marker = "nbflow-env.json"
    (used,) = [p for p in _env_dirs(cache_dir) if "six==1.16.0" in (p / marker).read_text()]
    kept = environments.ensure([OLD]).path
    assert main(["gc", "--keep-last", "1", "--flow", "dropped"]) == 0  # dropped/1 goes
    _age(used, 7200)  # two hours later: past the grace period
    now = time.time()
    stale = _fake_env(cache_dir, "0000stale0000000", now - 40 * 86400, [])
    fresh = _fake_env(cache_dir, "0000fresh0000000", now, [])  # just built, no run yet
    remote = _fake_env(cache_dir, "0000remote000000", now - 7200,
                       [{"store": "s3://elsewhere/nbflow", "flow": "f", "run": 1}])  # fmt: skip
    capsys.readouterr()
    assert main(["env", "list"]) == 0
    listed = capsys.readouterr().out
    assert "0000stale0000000" in listed and OLD in listed
    assert "runs: kept/1" in listed and "runs: none yet" in listed

    assert main(["env", "gc", "--days", "30", "--dry-run"]) == 0
    assert "would remove 2 environments" in capsys.readouterr().out
    assert used.exists() and stale.exists()
    before = set(_env_dirs(cache_dir))
    assert main(["env", "gc", "--days", "30"]) == 0
    said = capsys.readouterr().out
    assert f"removed {used.name}" in said and "no run that used it remains" in said
    assert "unused for 30 days" in said
    assert set(_env_dirs(cache_dir)) == before - {used, stale}
    assert {kept, fresh, remote} <= before
    # The environment gc removed is rebuilt when a step asks for it again.
    environments._known.clear()
    ok(ip, f'%%step start --env "{OLD}" "six==1.16.0"\nimport six\nv = six.__version__')
    assert ip.user_ns["v"] == "1.16.0"
    for path in (fresh, remote):
        shutil.rmtree(path)  # the module's later tests see one environment


def test_an_input_the_environment_cannot_read_names_it_and_both_versions(
    ip: InteractiveShell, cache_dir: Path
) -> None:
    import pandas

    # A DataFrame pickled by the kernel's pandas 3 does not load under pandas 2.
    ok(ip, "%%step start\nimport pandas as pd\ndf = pd.DataFrame({'a': ['x', 'y']})")
    error = fails(ip, f'%%step old --after start --env "{OLD}"\nn = len(df)')
    message = str(error)
    assert "UnreadableInput" in message and "input 'df' cannot be loaded" in message
    assert f"pandas {pandas.__version__} in the kernel, 2.2.3 in this step's environment" in message


def test_two_kernels_asking_at_once_build_it_once(tmp_path: Path) -> None:
    """Two processes ask for one new environment at the same moment: one builds, the other
    waits on the lock and finds it."""
    script = (
        "import sys; from nbflow.run import environments; "
        "print(environments.ensure(['six==1.16.0']).path)"
    )
    env = {**os.environ, "NBFLOW_CACHE_DIR": str(tmp_path)}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [process.communicate(timeout=300) for process in processes]
    assert [process.returncode for process in processes] == [0, 0], outputs
    assert len({out.strip() for out, _ in outputs}) == 1  # the same folder
    assert sum("building environment" in err for _, err in outputs) == 1
    built = [p for p in (tmp_path / "envs").iterdir() if not p.name.startswith(".")]
    assert len(built) == 1
