"""Reports: named SQL queries in ``sql/reports/<name>.sql`` run against the catalog."""

from __future__ import annotations

from typing import Any

import duckdb

from homecat.catalog import Catalog, named_queries, sql_root
from homecat.errors import HomecatError, first_line

# What `homecat sql` runs, by the type DuckDB's parser gives the statement: WITH, DESCRIBE, SUMMARIZE,
# SHOW and FROM-first queries parse as SELECT; a PRAGMA that changes a setting parses as SET.
_READ_STATEMENTS = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN, duckdb.StatementType.PRAGMA}
_KIND_NAMES = {"LOAD": "INSTALL/LOAD", "SET": "SET/RESET/USE", "CALL": "CALL/CHECKPOINT"}


def report_names() -> list[str]:
    """Every report shipped in ``sql/reports/``."""
    return sorted(
        n.name.removesuffix(".sql") for n in sql_root().joinpath("reports").iterdir() if n.name.endswith(".sql")
    )


def run_report(catalog: Catalog, name: str, params: dict[str, Any] | None = None) -> tuple[list[str], list[tuple], str]:
    """Run report ``name`` with named ``$param`` values; return (columns, rows, its description)."""
    if name not in report_names():
        raise HomecatError(f"There is no report '{name}'; reports: {', '.join(report_names())}.")
    query = named_queries(f"reports/{name}.sql")[name]
    columns, rows = catalog.rows(query.sql, params or None)
    return columns, rows, query.doc


def run_query(catalog: Catalog, query: str) -> tuple[list[str], list[tuple]]:
    """Run one reading statement of the user's on a read-only catalog; return (columns, rows).

    Three locks, each enough for most escapes: the statement's type from DuckDB's parser (one
    SELECT/EXPLAIN/PRAGMA), the read-only file, and a connection that cannot touch other files,
    extensions or settings (so COPY inside EXPLAIN ANALYZE or read_csv of another file fail too).
    """
    if not catalog.read_only:
        raise ValueError("run_query needs a catalog opened read-only")
    catalog.forbid_outside_access()
    try:
        statements = catalog.con.extract_statements(query)
    except duckdb.Error as exc:
        raise HomecatError(f"The query failed: {first_line(exc)}") from None
    if len(statements) != 1:
        raise HomecatError(f"homecat sql runs exactly one statement; this query has {len(statements)}.")
    kind = statements[0].type
    if kind not in _READ_STATEMENTS:
        name = _KIND_NAMES.get(kind.name, kind.name)
        raise HomecatError(
            f"homecat sql only reads, so {name} statements are refused (SELECT, WITH, DESCRIBE, SUMMARIZE, SHOW, "
            "EXPLAIN and PRAGMA run); write results with --format and the shell, or with 'homecat export'."
        )
    try:
        return catalog.rows(statements[0].query)
    except duckdb.PermissionException as exc:
        raise HomecatError(
            f"homecat sql reads the catalog only, no other file or extension: {first_line(exc)}"
        ) from None
    except duckdb.Error as exc:
        raise HomecatError(f"The query failed: {first_line(exc)}") from None
