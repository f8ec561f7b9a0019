"""Reports: named SQL queries in ``sql/reports/<name>.sql`` run against the catalog."""

from __future__ import annotations

from typing import Any

from homecat.catalog import Catalog, named_queries, sql_root
from homecat.errors import HomecatError


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
