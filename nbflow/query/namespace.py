"""Namespaces, as Metaflow has them: the client lists the runs of one namespace, a tag.

The default namespace is the current user's, `user:NAME` (the system tag every run gets from
the user who made it), so `Flow("f").latest_run` is your latest run even in a datastore shared
with others. `namespace(None)` lists every run; `namespace("user:anne")` (or `"anne"`) Anne's.

Namespaces filter what is *listed* (`flows()`, `flow.runs()`, iterating a flow, `latest_run`,
`latest_successful_run`, `compare(flow)`); a path names one object exactly, so `Run("f/3")`
opens it whoever made it (Metaflow raises MetaflowNamespaceMismatch there instead). Runs made
before nbflow recorded who made them (no `user:` tag) are in every namespace. The command line,
the REST API and the sidebar browse the whole datastore, as `namespace(None)`.
"""

from __future__ import annotations

from nbflow.store.metadata.tags import user_tag

_DEFAULT = "default"
# The namespace set by `namespace()`, for the whole process as in Metaflow: None (every run), a
# tag, or _DEFAULT (the current user's, resolved when used: NBFLOW_USER may change).
_chosen: dict[str, str | None] = {"namespace": _DEFAULT}


def namespace(ns: str | None) -> str | None:
    """Switch the namespace this process lists runs in (Metaflow's `namespace()`): a tag such
    as `user:anne` or `project:churn`, a bare user name (`anne`), or None for every run.
    Returns the namespace now in use."""
    if ns is not None and (not isinstance(ns, str) or not ns.strip()):
        raise TypeError(f"namespace() takes a tag such as 'user:anne', or None; not {ns!r}")
    _chosen["namespace"] = None if ns is None else (ns if ":" in ns else user_tag(ns))
    return get_namespace()


def get_namespace() -> str | None:
    """The namespace runs are listed in: `user:NAME` by default, None for every run."""
    chosen = _chosen["namespace"]
    return user_tag() if chosen == _DEFAULT else chosen


def default_namespace() -> str:
    """Back to the default namespace, the current user's (`user:NAME`); returns it."""
    _chosen["namespace"] = _DEFAULT
    return user_tag()
