"""A throwaway PostgreSQL server for the tests: Debian's `postgresql` package, a cluster in a
temporary folder, listening on 127.0.0.1 on a free port only, stopped and removed at the end.

PostgreSQL refuses to run as root, so as root the cluster belongs to the unprivileged
`postgres` user the Debian package creates, and its commands run through `runuser`.

Without PostgreSQL installed the tests that need it are skipped with what to install, unless
CI or `make test` says it must be there: then they fail (tests/needs.py).
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from needs import missing

USER = "nbflow"
PASSWORD = "pg-test-secret"  # a password, so that the tests see it masked in messages
CLUSTER_OWNER = "postgres"  # who runs the server when the tests run as root
TIMEOUT_S = 60


@dataclass
class PostgresServer:
    port: int
    folder: Path
    _names: Iterator[int]

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """The URL of a new, empty database of its own (one per test keeps tests apart)."""
        import psycopg

        name = f"test_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)


def server_programs() -> Path | None:
    """The folder with initdb and pg_ctl: Debian's newest version, else the PATH's."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4])
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start(programs: Path) -> PostgresServer:
    as_root = os.geteuid() == 0
    prefix: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="nbflow-pg-"))
    if as_root:
        try:
            owner = pwd.getpwnam(CLUSTER_OWNER)
        except KeyError:
            shutil.rmtree(folder)
            missing(f"PostgreSQL will not run as root and there is no '{CLUSTER_OWNER}' user")
        os.chown(folder, owner.pw_uid, owner.pw_gid)
        prefix = ["runuser", "-u", CLUSTER_OWNER, "--"]

    def run(*command: str) -> None:
        subprocess.run(
            [*prefix, *command], check=True, capture_output=True, text=True, timeout=TIMEOUT_S
        )

    data, socket_dir = folder / "data", folder / "socket"
    pwfile = folder / "password"
    run("mkdir", str(socket_dir))
    run("sh", "-c", f"umask 077 && echo {PASSWORD} > {pwfile}")
    run(
        str(programs / "initdb"), "-D", str(data), "-U", USER, f"--pwfile={pwfile}",
        "--auth-host=scram-sha-256", "--auth-local=trust", "-E", "UTF8", "--no-sync",
    )  # fmt: skip
    port = free_port()
    # Durability off: the cluster is thrown away, and the tests are about behaviour.
    options = (
        f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={socket_dir} "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    )
    run(str(programs / "pg_ctl"), "-D", str(data), "-l", str(folder / "log"), "-w", "-o", options,
        "start")  # fmt: skip
    return PostgresServer(port, folder, itertools.count(1))


def stop(server: PostgresServer, programs: Path) -> None:
    prefix = ["runuser", "-u", CLUSTER_OWNER, "--"] if os.geteuid() == 0 else []
    subprocess.run(
        [*prefix, str(programs / "pg_ctl"), "-D", str(server.folder / "data"), "-m", "immediate",
         "-w", "stop"],
        capture_output=True, timeout=TIMEOUT_S, check=False,
    )  # fmt: skip
    shutil.rmtree(server.folder, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    programs = server_programs()
    if programs is None:
        missing("PostgreSQL is not installed: apt-get install postgresql (CI installs it)")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        missing('psycopg is not installed: pip install "psycopg[binary]"')
    assert programs is not None
    try:
        server = start(programs)
    except subprocess.CalledProcessError as error:
        pytest.fail(f"could not start PostgreSQL: {error.cmd}\n{error.stdout}\n{error.stderr}")
    yield server
    stop(server, programs)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """A new, empty database on the session's server."""
    return postgres_server.new_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str | Path:
    """Where a new metadata database goes, once per database: a SQLite file, a PostgreSQL URL.
    (A test module takes it with `postgres_url` and `postgres_server`, as `location = ...`.)"""
    if request.param == "sqlite":
        return tmp_path / "metadata.sqlite"
    url: str = request.getfixturevalue("postgres_url")
    return url
