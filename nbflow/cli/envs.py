"""`nbflow env list` and `nbflow env gc [--days N]`: the step environments in the cache."""

from __future__ import annotations

import argparse
import time


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    env = commands.add_parser(
        "env", help="list or clean up step environments (%%%%step --env, %%flow env)"
    )
    actions = env.add_subparsers(dest="env_command", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="each environment: size, last use, requirements")
    listing.set_defaults(handler=run_list)
    gc = actions.add_parser("gc", help="remove environments unused for N days")
    gc.add_argument("--days", type=float, default=30.0, metavar="N", help="default: 30")
    gc.add_argument("--dry-run", action="store_true", help="say what would go, remove nothing")
    gc.set_defaults(handler=run_gc)


def run_list(args: argparse.Namespace) -> int:
    from nbflow.environments import cache_root, environments

    found = environments()
    if not found:
        print(f"no environments in {cache_root()}")
        return 0
    for env in found:
        print(
            f"{env['key']}  {_size(env['size']):>8}  used {_ago(env['last_used']):>10}  "
            f"python {env['python']:<8}  {' '.join(env['requirements']) or '-'}"
        )
    return 0


def run_gc(args: argparse.Namespace) -> int:
    from nbflow.environments import collect_garbage

    removed = collect_garbage(args.days, dry_run=args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    for env in removed:
        print(f"{verb} {env['key']} ({_size(env['size'])}, used {_ago(env['last_used'])})")
    total = sum(env["size"] for env in removed)
    print(f"{verb} {len(removed)} environment{'s' * (len(removed) != 1)}, {_size(total)}")
    return 0


def _size(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


def _ago(when: float) -> str:
    seconds = max(0.0, time.time() - when)
    if seconds < 3600:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 86400:
        return f"{seconds / 3600:.0f} h ago"
    return f"{seconds / 86400:.0f} d ago"
