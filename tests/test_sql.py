"""`homecat sql` reads the catalog and nothing else: every escape is refused and no byte on disk changes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import duckdb
import pytest

from tests.test_cli import invoke


def _disk(root: Path) -> dict[str, str]:
    """Every file under root and a hash of its bytes (raw audio, the catalog, the other database)."""
    return {str(p.relative_to(root)): hashlib.sha1(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def scanned(small_tree, tmp_path):
    catalog = tmp_path / "c.duckdb"
    assert invoke("--catalog", str(catalog), "scan", "--root", str(small_tree)).exit_code == 0
    other = duckdb.connect(str(tmp_path / "other.duckdb"))
    other.execute("CREATE TABLE precious AS SELECT 42 AS answer")
    other.close()
    return catalog


ESCAPES = {
    "copy over a raw recording": ("COPY (SELECT 1) TO '{raw}/P01/P01_a.wav'", "COPY statements are refused"),
    "attach the catalog writable, then delete": (
        "ATTACH '{catalog}' AS w (READ_WRITE); USE w; DELETE FROM w.recordings",
        "exactly one statement; this query has 3",
    ),
    "attach another database writable": ("ATTACH '{other}' AS o (READ_WRITE)", "ATTACH statements are refused"),
    "attach another database and drop": ("ATTACH '{other}' AS o; DROP TABLE o.precious", "exactly one statement"),
    "install an extension": ("INSTALL httpfs", "INSTALL/LOAD statements are refused"),
    "change a setting": ("SET enable_external_access = true", "SET/RESET/USE statements are refused"),
    "a setting pragma": ("PRAGMA threads = 1", "SET/RESET/USE statements are refused"),
    "delete from the catalog": ("DELETE FROM recordings", "DELETE statements are refused"),
    "copy hidden in explain analyze": (
        "EXPLAIN ANALYZE COPY (SELECT 1) TO '{raw}/P01/P01_a.wav'",
        "reads the catalog only, no other file or extension",
    ),
    "read a file outside the catalog": (
        "SELECT * FROM read_csv('{raw}/P02/readme.txt')",
        "reads the catalog only, no other file or extension",
    ),
}


@pytest.mark.parametrize("name", list(ESCAPES))
def test_an_escape_is_refused_in_one_sentence_and_nothing_changes(scanned, small_tree, tmp_path, name):
    query, expected = ESCAPES[name]
    query = query.format(raw=small_tree, catalog=scanned, other=tmp_path / "other.duckdb")
    before = _disk(tmp_path)
    rows_before = invoke("--catalog", str(scanned), "sql", "SELECT count(*) FROM recordings", "-f", "csv").stdout

    result = invoke("--catalog", str(scanned), "sql", query)

    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("Error: ") and expected in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and result.stdout == ""
    assert _disk(tmp_path) == before
    assert (
        invoke("--catalog", str(scanned), "sql", "SELECT count(*) FROM recordings", "-f", "csv").stdout == rows_before
    )
    con = duckdb.connect(str(tmp_path / "other.duckdb"), read_only=True)
    assert con.execute("SELECT answer FROM precious").fetchall() == [(42,)]
    con.close()


def test_reading_statements_run_with_every_format(scanned):
    def sql(query: str, fmt: str = "csv") -> str:
        result = invoke("--catalog", str(scanned), "sql", query, "-f", fmt)
        assert result.exit_code == 0, result.output
        return result.stdout

    assert sql("WITH ok AS (SELECT * FROM recordings WHERE status = 'ok') SELECT count(*) AS n FROM ok") == "n\n5\n"
    described = json.loads(sql("DESCRIBE recordings", "json"))
    assert {"column_name": "rel_path"}.items() <= described[0].items()
    assert "status" in sql("SUMMARIZE recordings")
    assert "recordings" in sql("SHOW TABLES", "table")
    assert "rel_path" in sql("PRAGMA table_info('recordings')")
    assert sql("EXPLAIN SELECT 1").startswith("explain_key")
    assert sql("SELECT 1 AS a;  ") == "a\n1\n"  # a trailing semicolon is still one statement
