"""The catalog: versioned schema, the lock sentence, SQL files shipped in the wheel."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from homecat.catalog import Catalog, latest_schema_version, named_queries, read_sql, schema_versions
from homecat.errors import CatalogError, CatalogLocked
from homecat.reports import report_names
from tests.conftest import catalog_held_by_another_process

REPO = Path(__file__).resolve().parent.parent


def test_a_new_catalog_is_at_the_newest_schema_version(tmp_path):
    with Catalog.open(tmp_path / "c.duckdb") as catalog:
        assert catalog.schema_version() == latest_schema_version()
        assert schema_versions() == list(range(1, latest_schema_version() + 1))


def test_reopening_does_not_reapply_migrations(tmp_path):
    with Catalog.open(tmp_path / "c.duckdb") as catalog:
        catalog.con.execute(
            "INSERT INTO recordings (rel_path, path, recording_id, participant_id, size_bytes, mtime_ns, status,"
            " first_seen, last_seen, scanned_at) VALUES ('a.wav', '/x/a.wav', 'a', 'P', 1, 1, 'ok', now(), now(), now())"
        )
    with Catalog.open(tmp_path / "c.duckdb") as catalog:
        assert catalog.con.execute("SELECT count(*) FROM recordings").fetchone()[0] == 1
        assert catalog.con.execute("SELECT count(*) FROM schema_version").fetchone()[0] == latest_schema_version()


@pytest.mark.parametrize("old_version", range(1, latest_schema_version()))
def test_an_older_catalog_is_migrated_with_its_rows_kept(tmp_path, old_version):
    path = tmp_path / "old.duckdb"
    with Catalog.open(path, upto_version=old_version) as catalog:
        assert catalog.schema_version() == old_version
        catalog.con.execute(
            "INSERT INTO recordings (rel_path, path, recording_id, participant_id, size_bytes, mtime_ns, status,"
            " first_seen, last_seen, scanned_at) VALUES ('a.wav', '/x/a.wav', 'a', 'P', 1, 1, 'ok', now(), now(), now())"
        )
    with pytest.raises(CatalogError, match="needs an upgrade"):
        Catalog.open(path, read_only=True)
    with Catalog.open(path) as catalog:
        assert catalog.schema_version() == latest_schema_version()
        assert catalog.con.execute("SELECT recording_id FROM recordings").fetchall() == [("a",)]
        tables = {r[0] for r in catalog.con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert {"recordings", "findings", "audio_stats", "levels"} <= tables


def test_a_stored_v1_catalog_dump_upgrades(tmp_path):
    """A catalog written by the first release (tests/data/catalog_v1.sql, a dump) opens and upgrades."""
    path = tmp_path / "v1.duckdb"
    import duckdb

    con = duckdb.connect(str(path))
    con.execute((Path(__file__).parent / "data" / "catalog_v1.sql").read_text())
    con.close()
    with Catalog.open(path) as catalog:
        assert catalog.schema_version() == latest_schema_version()
        rows = catalog.con.execute("SELECT rel_path, status FROM recordings ORDER BY 1").fetchall()
    assert rows == [("P01/a.wav", "ok"), ("P02/b.flac", "unreadable")]


def test_a_catalog_from_a_newer_homecat_is_refused(tmp_path):
    with Catalog.open(tmp_path / "c.duckdb") as catalog:
        catalog.con.execute("INSERT INTO schema_version VALUES (999, now())")
    with pytest.raises(CatalogError, match="v999, newer than this homecat"):
        Catalog.open(tmp_path / "c.duckdb")


def test_read_only_open_of_a_missing_catalog_says_to_scan_first(tmp_path):
    with pytest.raises(CatalogError, match="run 'homecat scan' first"):
        Catalog.open(tmp_path / "none.duckdb", read_only=True)


def test_a_second_writer_gets_one_sentence_naming_the_catalog_and_the_holder(tmp_path):
    path = tmp_path / "c.duckdb"
    Catalog.open(path).close()
    with catalog_held_by_another_process(path) as holder:
        with pytest.raises(CatalogLocked) as info:
            Catalog.open(path)
    message = str(info.value)
    assert str(path) in message and f"PID {holder.pid}" in message and "\n" not in message
    assert info.value.exit_code == 3


def test_report_queries_have_names_and_descriptions():
    for name in report_names():
        query = named_queries(f"reports/{name}.sql")[name]
        assert query.doc and query.sql.upper().startswith(("SELECT", "WITH"))


@pytest.mark.slow
def test_sql_files_load_from_an_installed_wheel(tmp_path):
    """Build the wheel, install it alone into a folder, and read schema and reports from there."""
    wheel_dir = tmp_path / "wheel"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheel_dir), str(REPO)],
        check=True,
        capture_output=True,
    )
    wheel = next(wheel_dir.glob("homecat-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "homecat/sql/schema/v1.sql" in names and "homecat/sql/reports/summary.sql" in names
    target = tmp_path / "site"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(target)
    probe = textwrap.dedent(
        f"""
        import homecat.catalog as c, homecat.reports as r
        assert c.__file__.startswith({str(target)!r}), c.__file__
        print(c.latest_schema_version(), len(c.read_sql("schema/v1.sql")) > 0, r.report_names())
        """
    )
    out = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(target)!r}); " + probe],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.split()[0] == str(latest_schema_version())
    assert "summary" in out.stdout
    assert read_sql("schema/v1.sql")  # and from the checkout too
