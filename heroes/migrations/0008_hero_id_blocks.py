"""Heroes counted per block of 4,096 ids, kept exact by the database itself.

`hero_id_block` holds one row per block of ids that has heroes: its first id and how many
heroes have an id in [first_id, first_id + 4096). Neither database can find the n-th row
of an index without walking the n entries before it (half a million for page 5,000 of the
admin's hero list); with these counts, the block that holds the n-th hero is found among a
few hundred rows and the walk is at most one block long. They also give the table's exact
size without counting it. (heroes.admin_pagination.IdBlocks reads them.)

Triggers keep the counts, in the transaction of the change, whatever makes it: the ORM,
bulk loads (COPY), raw SQL, other processes. On PostgreSQL they run once per statement
over its transition table (a bulk load of a million heroes adds one GROUP BY); on SQLite,
which has only row triggers, once per row. Changing a hero's id moves it between blocks.

SQLite drops a table's triggers with the table, and Django rebuilds a SQLite table to
alter most of its columns: a later migration that alters `hero` must create them again
(tests/test_admin.py checks that the counts follow inserts and deletes). The models
declare nothing, so `makemigrations --check` stays clean.
"""

from django.db import migrations

BLOCK = 4096

POSTGRESQL = [
    """CREATE TABLE hero_id_block (
        first_id bigint PRIMARY KEY,
        row_count bigint NOT NULL CHECK (row_count >= 0)
    )""",
    # The blocks' rows are locked in block order, so that concurrent changes never wait
    # for each other in a cycle; a block left empty is removed.
    f"""CREATE FUNCTION hero_id_block_count() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'TRUNCATE' THEN
            DELETE FROM hero_id_block;
        ELSIF TG_OP = 'INSERT' THEN
            INSERT INTO hero_id_block AS block (first_id, row_count)
            SELECT id - id % {BLOCK}, COUNT(*) FROM added GROUP BY 1 ORDER BY 1
            ON CONFLICT (first_id) DO UPDATE SET row_count = block.row_count + EXCLUDED.row_count;
        ELSE
            PERFORM FROM hero_id_block
            WHERE first_id IN (SELECT id - id % {BLOCK} FROM removed)
            ORDER BY first_id FOR UPDATE;
            UPDATE hero_id_block AS block SET row_count = block.row_count - gone.row_count
            FROM (
                SELECT id - id % {BLOCK} AS first_id, COUNT(*) AS row_count
                FROM removed GROUP BY 1
            ) AS gone
            WHERE block.first_id = gone.first_id;
            DELETE FROM hero_id_block
            WHERE row_count = 0 AND first_id IN (SELECT id - id % {BLOCK} FROM removed);
        END IF;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER hero_id_block_insert AFTER INSERT ON hero
        REFERENCING NEW TABLE AS added
        FOR EACH STATEMENT EXECUTE FUNCTION hero_id_block_count()""",
    """CREATE TRIGGER hero_id_block_delete AFTER DELETE ON hero
        REFERENCING OLD TABLE AS removed
        FOR EACH STATEMENT EXECUTE FUNCTION hero_id_block_count()""",
    """CREATE TRIGGER hero_id_block_truncate AFTER TRUNCATE ON hero
        FOR EACH STATEMENT EXECUTE FUNCTION hero_id_block_count()""",
    # A row trigger, for a change of id only: a statement trigger on UPDATE would read
    # every row of `UPDATE hero SET team_id = ...`, which bulk changes run on a million.
    f"""CREATE FUNCTION hero_id_block_move() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE hero_id_block SET row_count = row_count - 1
        WHERE first_id = OLD.id - OLD.id % {BLOCK};
        DELETE FROM hero_id_block WHERE first_id = OLD.id - OLD.id % {BLOCK} AND row_count = 0;
        INSERT INTO hero_id_block AS block (first_id, row_count)
        VALUES (NEW.id - NEW.id % {BLOCK}, 1)
        ON CONFLICT (first_id) DO UPDATE SET row_count = block.row_count + 1;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER hero_id_block_move AFTER UPDATE OF id ON hero
        FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id)
        EXECUTE FUNCTION hero_id_block_move()""",
]

# SQLite has one writer at a time: no lock order to keep.
LEAVE_SQLITE = f"""
        UPDATE hero_id_block SET row_count = row_count - 1
        WHERE first_id = OLD.id - OLD.id % {BLOCK};
        DELETE FROM hero_id_block WHERE first_id = OLD.id - OLD.id % {BLOCK} AND row_count = 0;"""
JOIN_SQLITE = f"""
        INSERT INTO hero_id_block (first_id, row_count) VALUES (NEW.id - NEW.id % {BLOCK}, 1)
        ON CONFLICT (first_id) DO UPDATE SET row_count = row_count + 1;"""
SQLITE = [
    """CREATE TABLE hero_id_block (
        first_id integer PRIMARY KEY,
        row_count integer NOT NULL CHECK (row_count >= 0)
    )""",
    f"CREATE TRIGGER hero_id_block_insert AFTER INSERT ON hero BEGIN {JOIN_SQLITE} END",
    f"CREATE TRIGGER hero_id_block_delete AFTER DELETE ON hero BEGIN {LEAVE_SQLITE} END",
    f"""CREATE TRIGGER hero_id_block_move AFTER UPDATE OF id ON hero
        WHEN OLD.id IS NOT NEW.id BEGIN {LEAVE_SQLITE} {JOIN_SQLITE} END""",
]

# The heroes already there; on PostgreSQL the triggers' lock on `hero` (taken by CREATE
# TRIGGER, held until the migration commits) keeps other writers out meanwhile.
FILL = f"""INSERT INTO hero_id_block (first_id, row_count)
    SELECT id - id % {BLOCK}, COUNT(*) FROM hero GROUP BY id - id % {BLOCK}"""

DROP = {
    "postgresql": [
        "DROP TABLE hero_id_block",
        "DROP TRIGGER hero_id_block_insert ON hero",
        "DROP TRIGGER hero_id_block_delete ON hero",
        "DROP TRIGGER hero_id_block_truncate ON hero",
        "DROP TRIGGER hero_id_block_move ON hero",
        "DROP FUNCTION hero_id_block_count()",
        "DROP FUNCTION hero_id_block_move()",
    ],
    "sqlite": [
        "DROP TRIGGER hero_id_block_insert",
        "DROP TRIGGER hero_id_block_delete",
        "DROP TRIGGER hero_id_block_move",
        "DROP TABLE hero_id_block",
    ],
}


def create_blocks(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    statements = {"postgresql": POSTGRESQL, "sqlite": SQLITE}.get(vendor)
    if statements is None:
        raise NotImplementedError(f"hero_id_block has no triggers for {vendor}.")
    for statement in [*statements, FILL]:
        # No parameters: `%` is the modulo operator here, not a placeholder.
        schema_editor.execute(statement, params=None)


def drop_blocks(apps, schema_editor):
    for statement in DROP[schema_editor.connection.vendor]:
        schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("heroes", "0006_herochange_hero_index"),
    ]

    operations = [
        migrations.RunPython(create_blocks, drop_blocks, elidable=False),
    ]
