"""Tags of runs: user tags (`--tag`, `run.add_tag`) and system tags, written when a run starts.

A system tag says who made a run and how, as Metaflow's do: `user:NAME` (the namespace a run
belongs to), `host:NAME`, `notebook:FILE`, `executor:NAME` and `nbflow:VERSION`. Their
prefixes are reserved: a user tag may not start with one, and system tags are never added or
removed by hand.
"""

from __future__ import annotations

import getpass
import os
import socket
from collections.abc import Iterable

from nbflow.exceptions import NbflowError

SYSTEM_PREFIXES = ("user:", "host:", "notebook:", "executor:", "nbflow:")
USER_PREFIX = "user:"


class TagError(NbflowError, ValueError):
    """A tag that cannot be given: empty, too long, or with a system tag's prefix."""


def is_system_tag(tag: str) -> bool:
    return tag.startswith(SYSTEM_PREFIXES)


def current_user() -> str:
    """Who this process runs for: $NBFLOW_USER, else the login name (as Metaflow's
    $METAFLOW_USER, then the login name)."""
    named = os.environ.get("NBFLOW_USER", "").strip()
    if named:
        return named
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (a container with an unnamed uid)
        return "unknown"


def user_tag(user: str | None = None) -> str:
    return USER_PREFIX + (current_user() if user is None else user)


def system_tags(notebook: str | None, executor: str, version: str) -> tuple[str, ...]:
    """The system tags of a run started now, in this process, by nbflow `version`."""
    tags = [user_tag(), f"host:{socket.gethostname()}"]
    if notebook:
        tags.append("notebook:" + notebook.replace("\\", "/").rsplit("/", 1)[-1])
    tags += [f"executor:{executor}", f"nbflow:{version}"]
    return tuple(tags)


def checked_user_tags(tags: Iterable[str]) -> tuple[str, ...]:
    """`tags` as user tags, in order and once each; TagError naming the first bad one."""
    found: dict[str, None] = {}
    for tag in tags:
        if not isinstance(tag, str) or not tag.strip():
            raise TagError(f"a tag is a non-empty string, not {tag!r}")
        if len(tag) > 512:
            raise TagError(f"tag {tag[:40]!r}... is {len(tag)} characters; the limit is 512")
        if is_system_tag(tag):
            prefix = next(p for p in SYSTEM_PREFIXES if tag.startswith(p))
            raise TagError(
                f"'{tag}' starts with '{prefix}', which system tags use (they say who made a "
                f"run and how: {', '.join(SYSTEM_PREFIXES)}). Choose another tag, e.g. "
                f"'{tag.replace(':', '-', 1)}'."
            )
        found[tag] = None
    return tuple(found)
