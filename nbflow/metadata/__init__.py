"""Run, step, task and artifact records (SQLite by default)."""

from nbflow.metadata.records import ArtifactRecord, RunRecord, TaskRecord
from nbflow.metadata.store import MetadataStore

__all__ = ["ArtifactRecord", "MetadataStore", "RunRecord", "TaskRecord"]
