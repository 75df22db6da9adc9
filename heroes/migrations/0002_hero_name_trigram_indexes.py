"""Trigram GIN indexes so that the admin's substring search ("man" finds Rusty-Man) stays fast.

PostgreSQL only: the admin searches with `icontains`, which Django writes as
`UPPER(column::text) LIKE UPPER(%s)`, so the indexes are on that expression with
pg_trgm's operator class. Built CONCURRENTLY (hence a non-atomic migration) so that
an existing table of 1,000,000 heroes stays writable meanwhile. On SQLite this does
nothing; the models declare no index, so `makemigrations --check` stays clean.
"""

from django.db import migrations

INDEXES = {
    "hero_name_upper_trgm": "name",
    "hero_secret_name_upper_trgm": "secret_name",
}


def create_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, column in INDEXES.items():
        schema_editor.execute(
            f'CREATE INDEX CONCURRENTLY IF NOT EXISTS "{name}" '
            f'ON "hero" USING gin ((UPPER("{column}"::text)) gin_trgm_ops)'
        )


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"')


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("heroes", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(create_indexes, drop_indexes, elidable=False),
    ]
