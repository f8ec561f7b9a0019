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


# Every code a finding can carry (the README's table of codes says what each means); `report findings --code`
# takes these and refuses others instead of printing an empty table.
FINDING_CODES = (
    "unreadable", "too_short", "silent", "truncated", "clipping", "mostly_silent", "too_long", "duplicate",
    "exact_duplicate", "duplicate_kept",
    "header_mismatch", "sample_rate", "multichannel", "missing", "changed", "permission_denied", "header_changed",
    "failed", "not_fetched", "unreferenced", "discarded", "invalid_segment", "invalid_speech_row",
    "segment_too_short", "segment_unreadable",
)  # fmt: skip

# Report titles in words (a report's SQL doc comment is for readers of the SQL: it names its $parameters).
_TITLES = {
    "activity": "hours, speech and crop-policy shares per participant and split",
    "findings": "findings, worst first",
    "participants": "hours, usable hours and findings per participant",
    "segments": "imported segments and hours per tier, label and participant",
    "silence": "activity per recording and participant",
    "splits": "hours, recordings and participants per split, and the leakage check",
    "summary": "files, hours and participants",
}


def report_title(name: str, params: dict[str, Any] | None = None) -> str:
    """The title a table of report ``name`` gets: what it shows, and the filters given, in words."""
    params = params or {}
    if name == "silence":
        judged = params.get("threshold_db")
        at = f"every window judged at {judged:g} dBFS" if judged is not None else "each recording's own threshold"
        return f"{_TITLES[name]} ({at})"
    if name == "findings":
        only = [f"{key} {params[key]}" for key in ("code", "severity") if params.get(key) is not None]
        return _TITLES[name] + (f" (only {' and '.join(only)})" if only else "")
    return _TITLES.get(name, name)


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
