"""Who wrote a datastore, and the one warning given before unpickling from someone else's.

Loading an artifact unpickles it, and unpickling runs whatever code the pickle names: a
datastore is code you run. Browsing (runs, graphs, previews, reports, the REST API) reads only
records and previews, which are plain data, so it needs no trust; loading a value does. Before
the first value is loaded from a local datastore whose folder belongs to another user, nbflow
warns once per store per process with `UntrustedStoreWarning`.

Object stores (s3://, gs://, az://) are not checked: who may write a bucket is a matter of its
policies and credentials, which cannot be learned cheaply or reliably from the client.
"""

from __future__ import annotations

import os
import sys
import threading
import warnings
from types import FrameType

from nbflow.exceptions import UntrustedStoreWarning

_warned: set[str] = set()  # stores already warned about in this process
_warning = threading.Lock()


def warn_if_untrusted(root: str) -> None:
    """Warn, once per `root` per process, when the datastore folder `root` is not this
    user's. Checked at every load, not remembered, as ownership can change: one stat() is
    nothing next to hashing and unpickling a value."""
    if root in _warned:
        return
    owner = foreign_owner(root)
    if owner is None:
        return
    with _warning:
        if root in _warned:  # another thread got here first
            return
        _warned.add(root)
    warnings.warn(
        f"the datastore {root} was created by {owner}, not by you. Loading an artifact "
        "from it unpickles it, which runs code like any pickle can: load values only from "
        "datastores you trust. (Browsing its runs, graphs and previews unpickles nothing.)",
        UntrustedStoreWarning,
        stacklevel=_first_caller_outside_nbflow(),
    )


def _first_caller_outside_nbflow() -> int:
    """The stacklevel of the user's line that asked for the value (`task.data.x`, a step's
    input), so the warning points there and not at nbflow's internals."""
    package = os.path.dirname(os.path.dirname(__file__)) + os.sep  # nbflow/, above store/
    frame: FrameType | None = sys._getframe(2)  # the caller of warn_if_untrusted: level 2
    level = 2
    while frame is not None and frame.f_code.co_filename.startswith(package):
        frame, level = frame.f_back, level + 1
    return level


def foreign_owner(root: str) -> str | None:
    """The owner of the datastore folder `root` ("name (uid N)") when it is not the current
    user; None for this user's folder, an object store, or where uids do not exist."""
    getuid = getattr(os, "getuid", None)  # not on Windows, whose ACLs this does not judge
    if "://" in root or getuid is None:
        return None
    try:
        uid = os.stat(root).st_uid
    except OSError:  # not there (yet): nothing to load from it either
        return None
    return None if uid == getuid() else _user(uid)


def _user(uid: int) -> str:
    try:
        import pwd  # noqa: PLC0415 - Unix only: none on Windows

        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except (ImportError, KeyError):  # a uid with no account here (a container, NFS)
        return f"uid {uid}"
