"""Statements built from a QuerySet's own SQL: one statement for any number of rows."""

from django.db import connections
from django.db.models import F, Model, QuerySet


def insert_select(
    model: type[Model], columns: list[str], select: QuerySet, *, ignore_conflicts: bool = False
) -> int:
    """Insert the rows `select` yields (a `values_list` matching `columns`) into `model`'s table.

    With `ignore_conflicts`, rows that would break a unique constraint are skipped
    (`ON CONFLICT DO NOTHING`, on SQLite and PostgreSQL alike). Returns the number of
    rows inserted. The SELECT must have a WHERE clause: SQLite needs one to parse the
    ON CONFLICT clause that follows it.
    """
    statement, params = insert_select_sql(model, columns, select, ignore_conflicts=ignore_conflicts)
    return execute(select.db, statement, params)


def insert_select_sql(
    model: type[Model], columns: list[str], select: QuerySet, *, ignore_conflicts: bool = False
) -> tuple[str, tuple]:
    """`insert_select`'s statement and parameters, for the database `select` reads."""
    connection = connections[select.db]
    qn = connection.ops.quote_name
    select_sql, params = select.query.get_compiler(connection=connection).as_sql()
    conflict = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
    # Identifiers come from the model and are quoted by the backend; values are parameters.
    statement = (
        f"INSERT INTO {qn(model._meta.db_table)} ({', '.join(map(qn, columns))}) "
        f"{select_sql}{conflict}"
    )
    return statement, tuple(params)


def bind(params, ids: dict[int, int]) -> list:
    """A statement's parameters with each sentinel id of `ids` replaced by its real id.

    For statements the ORM builds once, for sentinel ids (numbers no row has), and that
    are then run with real ones: compiling is what costs, not running. A parameter keeps
    its type (on PostgreSQL an id is an int subclass, psycopg's Int8); a sentinel that is
    not found, or is left behind, is an error rather than a row written with it.
    """
    missing = [sentinel for sentinel in ids if sentinel not in params]
    if missing:
        raise RuntimeError(f"The statement has no parameter for the sentinels {missing}.")
    bound = [
        type(param)(ids[param]) if _is_id(param) and param in ids else param for param in params
    ]
    if any(_is_id(param) and param in ids for param in bound):
        raise RuntimeError(f"A sentinel id was left in the parameters: {bound}.")
    return bound


def _is_id(param) -> bool:
    return isinstance(param, int) and not isinstance(param, bool)


def execute(alias: str, statement: str, params) -> int:
    """Run one statement on the database `alias`; return the number of rows it changed."""
    with connections[alias].cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.rowcount


def lock_and_count(select: QuerySet) -> int:
    """Lock the rows of `select` in primary key order and count them: one statement.

    The rows are locked FOR NO KEY UPDATE until the end of the transaction, in one order
    whatever the selection, so that bulk changes of overlapping rows wait for each
    other instead of deadlocking (or reading rows that change before they write them).
    SQLite has no row locks (its writers take the whole database): there it counts.
    """
    connection = connections[select.db]
    locked = select.select_for_update(no_key=True, of=("self",)).order_by("pk").values("pk")
    select_sql, params = locked.query.get_compiler(connection=connection).as_sql()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM ({select_sql}) AS locked", params)  # noqa: S608
        return cursor.fetchone()[0]


def compare_and_set(
    model: type[Model], column: str, rows: QuerySet, *, key: str, old: str, new: str
) -> int:
    """Set `column` of `model`'s rows to `new` where it still is `old`: one UPDATE ... FROM.

    `rows` (of any model) names in its fields `key`, `old` and `new`, for each row to
    change, its primary key, the value it should have now (NULL matching NULL) and its
    new value. Returns the number of rows changed. A join, so that each row's values are
    looked up once whatever the planner's statistics say (a subquery per row can be
    planned as a scan of all of `rows` for each). SQLite has UPDATE ... FROM since 3.33.
    """
    connection = connections[rows.db]
    qn = connection.ops.quote_name
    source = rows.order_by().annotate(_key=F(key), _old=F(old), _new=F(new))
    source = source.values_list("_key", "_old", "_new")
    select_sql, params = source.query.get_compiler(connection=connection).as_sql()
    table, pk = qn(model._meta.db_table), qn(model._meta.pk.column)
    name = qn(model._meta.get_field(column).column)
    current = f"{table}.{name}"
    # Identifiers come from the models and are quoted by the backend; values are parameters.
    statement = (
        f"UPDATE {table} SET {name} = source._new FROM ({select_sql}) AS source "  # noqa: S608
        f"WHERE {table}.{pk} = source._key "
        f"AND ({current} = source._old OR ({current} IS NULL AND source._old IS NULL))"
    )
    return execute(rows.db, statement, params)
