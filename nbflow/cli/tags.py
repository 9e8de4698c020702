"""`nbflow tag FLOW/RUN_ID +a -b`: add and remove a run's user tags from a shell."""

from __future__ import annotations

import argparse

from nbflow.exceptions import NbflowError
from nbflow.query.client import open_run
from nbflow.store.stores import open_store

TAG_HELP = """\
Add (+TAG) and remove (-TAG) user tags of a run, then print its tags: the user tags, then the
system tags nbflow wrote when the run started (user:, host:, notebook:, executor:, nbflow:),
which stay. With no changes, print its tags. A tag without + or - is added.

examples:
  nbflow tag hearthstone/12 +best +paper     add two tags
  nbflow tag hearthstone/12 -best            remove one
  nbflow tag hearthstone/12                  show its tags
"""


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    tag: argparse.ArgumentParser = commands.add_parser(
        "tag",
        help="add (+TAG) and remove (-TAG) a run's tags",
        description=TAG_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    tag.add_argument("run", metavar="FLOW/RUN_ID", help="the run, e.g. hearthstone/12")
    # REMAINDER: `-best` is a tag to remove, not an option of the command.
    tag.add_argument("changes", nargs=argparse.REMAINDER, metavar="+TAG|-TAG", help="changes")
    tag.set_defaults(handler=run_tag)


def parse_changes(changes: list[str]) -> tuple[list[str], list[str]]:
    """(tags to add, tags to remove) from `+a -b c`."""
    add: list[str] = []
    remove: list[str] = []
    for change in changes:
        sign, name = (change[0], change[1:]) if change[:1] in "+-" else ("+", change)
        if not name:
            raise NbflowError(f"'{change}' names no tag: write +TAG to add one, -TAG to remove one")
        (add if sign == "+" else remove).append(name)
    return add, remove


def run_tag(args: argparse.Namespace) -> int:
    add, remove = parse_changes(args.changes)
    run = open_run(open_store(), args.run)
    if add or remove:
        run.replace_tags(remove, add)
    user, system = run.as_dict()["tags"], sorted(run.system_tags)
    print(f"{run.pathspec}: {' '.join(user) or '(no user tags)'}")
    if system:
        print(f"  system: {' '.join(system)}")
    return 0
