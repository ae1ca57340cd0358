"""Index operations that never block writes to a large runs table: CONCURRENTLY on PostgreSQL
(the migration must then be ``atomic = False``), the plain operation on the SQLite of
`atomfleet dev`. Shared by the migrations of this app."""

from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations


class _Online:
    """CONCURRENTLY on PostgreSQL; the plain operation elsewhere (the SQLite of `atomfleet dev`)."""

    plain: type

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        return self.plain.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        return self.plain.database_backwards(self, app_label, schema_editor, from_state, to_state)


class AddIndexOnline(_Online, AddIndexConcurrently):
    plain = migrations.AddIndex


class RemoveIndexOnline(_Online, RemoveIndexConcurrently):
    plain = migrations.RemoveIndex
