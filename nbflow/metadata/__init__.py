"""Run, step, task and artifact records: SQLite by default, PostgreSQL by URL, one SQL layer."""

from nbflow.metadata.records import ArtifactRecord, RunRecord, TaskRecord
from nbflow.metadata.store import MetadataStore

__all__ = ["ArtifactRecord", "MetadataStore", "RunRecord", "TaskRecord"]
