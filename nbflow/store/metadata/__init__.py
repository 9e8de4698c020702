"""Run, step, task and artifact records: SQLite by default, PostgreSQL by URL, one SQL layer."""

from nbflow.store.metadata.metastore import MetadataStore
from nbflow.store.metadata.records import ArtifactRecord, RunRecord, TaskRecord

__all__ = ["ArtifactRecord", "MetadataStore", "RunRecord", "TaskRecord"]
