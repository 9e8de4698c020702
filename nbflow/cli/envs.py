"""`nbflow env list` and `nbflow env gc [--days N]`: the step environments in the cache."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from nbflow.render.text import format_size

GC_HELP = """\
Remove step environments that are no longer needed: those unused for N days, and those no
remaining run refers to (every run that used one was removed, e.g. by `nbflow gc`). Runs are
looked up in the datastores that used each environment; one that cannot be opened from here
(an object store other than this shell's) keeps its environments. An environment used within
--grace seconds always stays. Removed environments are rebuilt when a step asks for them again.
"""


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    env = commands.add_parser(
        "env", help="list or clean up step environments (%%%%step --env, %%flow env)"
    )
    actions = env.add_subparsers(dest="env_command", required=True, metavar="ACTION")
    listing = actions.add_parser(
        "list", help="each environment: size, last use, requirements, the runs that used it"
    )
    listing.set_defaults(handler=run_list)
    gc = actions.add_parser(
        "gc",
        help="remove environments unused for N days or used by no remaining run",
        description=GC_HELP,
    )
    gc.add_argument("--days", type=float, default=30.0, metavar="N", help="default: 30")
    gc.add_argument(
        "--grace",
        type=float,
        default=3600.0,
        metavar="SECONDS",
        help="keep environments used this recently, whatever the runs say (default: 3600)",
    )
    gc.add_argument("--dry-run", action="store_true", help="say what would go, remove nothing")
    gc.set_defaults(handler=run_gc)


def run_list(args: argparse.Namespace) -> int:
    from nbflow.run.environments import cache_root, environments

    found = environments()
    if not found:
        print(f"no environments in {cache_root()}")
        return 0
    for env in found:
        print(
            f"{env['key']}  {format_size(env['size']):>8}  used {_ago(env['last_used']):>10}  "
            f"python {env['python']:<8}  {' '.join(env['requirements']) or '-'}"
        )
        print(f"    runs: {_runs(env['runs'])}")
    return 0


def _runs(uses: list[dict[str, Any]], shown: int = 5) -> str:
    if not uses:
        return "none yet"
    newest = [f"{use['flow']}/{use['run']}" for use in uses[::-1][:shown]]
    more = f" and {len(uses) - shown} older" if len(uses) > shown else ""
    stores = {use["store"] for use in uses}
    where = f" in {next(iter(stores))}" if len(stores) == 1 else f" (in {len(stores)} datastores)"
    return ", ".join(newest) + more + where


def run_gc(args: argparse.Namespace) -> int:
    from nbflow.run.environments import collect_garbage

    removed = collect_garbage(args.days, RunLookup().exists, dry_run=args.dry_run, grace=args.grace)
    verb = "would remove" if args.dry_run else "removed"
    for env in removed:
        print(
            f"{verb} {env['key']} ({format_size(env['size'])}, used {_ago(env['last_used'])}: "
            f"{env['reason']})"
        )
    total = sum(env["size"] for env in removed)
    print(f"{verb} {len(removed)} environment{'s' * (len(removed) != 1)}, {format_size(total)}")
    return 0


def _ago(when: float) -> str:
    seconds = max(0.0, time.time() - when)
    if seconds < 3600:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 86400:
        return f"{seconds / 3600:.0f} h ago"
    return f"{seconds / 86400:.0f} d ago"


class RunLookup:
    """Whether a run an environment's use line names still exists, each datastore opened once.

    This shell's datastore opens as configured; another local folder opens with its own
    SQLite file (gone altogether: its runs are gone); another object store is not opened
    (its metadata URL is not known here): None, "cannot tell"."""

    def __init__(self) -> None:
        from nbflow.config import Config

        self.config = Config.from_env()
        self.stores: dict[str, Any] = {}

    def exists(self, use: dict[str, Any]) -> bool | None:
        from nbflow.exceptions import NotFound

        store = self._store(use["store"])
        if store is None or store is False:
            return store
        try:
            store.meta.run(use["flow"], int(use["run"]))
        except NotFound:
            return False
        return True

    def _store(self, root: str) -> Any:
        if root not in self.stores:
            self.stores[root] = self._open(root)
        return self.stores[root]

    def _open(self, root: str) -> Any:
        from nbflow.config import Config
        from nbflow.store.stores import open_store

        if root == self.config.datastore_location:
            return open_store(self.config)
        if "://" in root:
            return None
        if not (Path(root) / "metadata.sqlite").exists():
            return False  # the datastore was removed: so were its runs
        return open_store(Config(datastore=root))
