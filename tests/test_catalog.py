"""The catalog: versioned schema, the lock sentence, SQL files shipped in the wheel."""

from __future__ import annotations

import contextlib
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
    assert {"recordings", "findings", "audio_stats", "levels", "homecat_catalog"} <= tables


def test_a_v9_catalog_gains_the_recording_extent_view(tmp_path):
    """v10: the extent an annotation, an embedding or an export must fit in is one view over the rows kept."""
    path = tmp_path / "v9.duckdb"
    recordings = [  # (recording_id, header frames, header seconds, status)
        ("whole", 16000, 1.0, "ok"),
        ("cut", 16000, 1.0, "ok"),  # validate decoded only half of it
        ("replaced", 16000, 1.0, "ok"),  # its stats describe an earlier version of the file
        ("unvalidated", 16000, 1.0, "ok"),
        ("unreadable", None, None, "unreadable"),
    ]
    stats = [("whole", 1, 16000, 1.0), ("cut", 1, 8000, 0.5), ("replaced", 2, 8000, 0.5)]  # (id, mtime_ns, ...)
    with Catalog.open(path, upto_version=9) as catalog:
        for rid, frames, seconds, status in recordings:
            catalog.con.execute(
                "INSERT INTO recordings (rel_path, path, recording_id, participant_id, size_bytes, mtime_ns, frames,"
                " duration_sec, status, first_seen, last_seen, scanned_at)"
                " VALUES (?, ?, ?, 'P', 10, 1, ?, ?, ?, now(), now(), now())",
                [f"{rid}.wav", f"/x/{rid}.wav", rid, frames, seconds, status],
            )
        for rid, mtime_ns, frames_read, seconds in stats:
            catalog.con.execute(
                "INSERT INTO audio_stats (recording_id, size_bytes, mtime_ns, frames_read, duration_sec, window_sec,"
                " validated_at) VALUES (?, 10, ?, ?, ?, 1.0, now())",
                [rid, mtime_ns, frames_read, seconds],
            )
    with Catalog.open(path) as catalog:
        assert catalog.schema_version() == latest_schema_version()
        extent = catalog.con.execute("SELECT * FROM recording_extent ORDER BY recording_id").fetchall()
    assert extent == [
        ("cut", 8000, 0.5),
        ("replaced", 16000, 1.0),
        ("unreadable", None, None),
        ("unvalidated", 16000, 1.0),
        ("whole", 16000, 1.0),
    ]


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


# --------------------------------------------------------------------------- identity and damaged files


def _file_bytes(path: Path) -> bytes:
    return path.read_bytes()


def test_a_new_catalog_carries_the_homecat_mark(tmp_path):
    with Catalog.open(tmp_path / "c.duckdb") as catalog:
        assert catalog.rows("SELECT count(*) FROM homecat_catalog")[1] == [(1,)]


def test_a_foreign_duckdb_database_is_refused_and_nothing_is_added(tmp_path, small_tree):
    import duckdb

    from tests.test_cli import invoke

    path = tmp_path / "theirs.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE invoices AS SELECT 1 AS id")
    con.close()
    before = _file_bytes(path)
    for args in (["scan", "--root", str(small_tree)], ["report", "summary"]):
        result = invoke("--catalog", str(path), *args)
        assert result.exit_code == 1
        assert result.stderr == (
            f"Error: {path} is a DuckDB database but not a homecat catalog (it holds invoices); nothing was added "
            "to it: choose another file with --catalog.\n"
        )
    assert _file_bytes(path) == before


def test_an_empty_duckdb_file_becomes_a_catalog(tmp_path):
    import duckdb

    path = tmp_path / "empty.duckdb"
    duckdb.connect(str(path)).close()
    with Catalog.open(path) as catalog:
        assert catalog.schema_version() == latest_schema_version()


def _scanned_catalog(tmp_path: Path, small_tree: Path) -> Path:
    from tests.test_cli import invoke

    path = tmp_path / "c.duckdb"
    assert invoke("--catalog", str(path), "scan", "--root", str(small_tree)).exit_code == 0
    with Catalog.open(path) as catalog:  # enough rows that the file has several blocks
        catalog.con.execute(
            "INSERT INTO findings SELECT 'r' || x, 'code', 'info', repeat('m', 200), 'validate', now() FROM range(50000) t(x)"
        )
    return path


def test_a_truncated_or_damaged_catalog_is_one_sentence_naming_it(tmp_path, small_tree):
    from tests.test_cli import invoke

    path = _scanned_catalog(tmp_path, small_tree)
    whole = _file_bytes(path)
    cases = {
        "truncated": (whole[: len(whole) // 2], "is truncated"),
        "not duckdb": (b"\0" * 300_000, "is damaged or not a DuckDB file"),
        # bytes flipped inside a data block: the open works, the first query reaching the block fails
        "corrupt block": (whole[: 4 * 262144] + bytes(b ^ 0xFF for b in whole[4 * 262144 :]), "may be damaged"),
    }
    for name, (content, expected) in cases.items():
        path.write_bytes(content)
        for args in (["report", "findings"], ["scan", "--root", str(small_tree)]):
            result = invoke("--catalog", str(path), *args)
            assert result.exit_code == 1, (name, result.output)
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1 and str(path) in lines[0] and expected in lines[0], (name, result.stderr)
            assert _file_bytes(path) == content, name


def test_a_catalog_the_user_cannot_write_is_one_sentence(permissions_bind):
    """Run so that file permissions bind it (root without its file-reading capabilities, wherever the clone lives)."""
    from tests.permissions import run_bound

    folder = permissions_bind / "locked"
    folder.mkdir()
    path = folder / "c.duckdb"
    Catalog.open(path).close()
    before = _file_bytes(path)
    path.chmod(0o444)  # readable, not writable, in a folder nobody may write into
    folder.chmod(0o555)
    expected = {
        path: f"Error: The catalog {path} cannot be opened: permission denied.\n",
        folder
        / "new"
        / "c.duckdb": f"Error: The catalog's folder {folder / 'new'} cannot be created: Permission denied.\n",
    }
    for catalog, sentence in expected.items():
        out = run_bound("--catalog", str(catalog), "split")
        assert (out.returncode, out.stderr) == (1, sentence)
    assert _file_bytes(path) == before


@pytest.fixture
def tiny_disk(tmp_path):
    """A 3 MiB tmpfs (needs root and mount): a real disk that fills up."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount_point)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


def test_a_full_disk_during_validate_is_one_sentence_and_the_rerun_finishes(tiny_disk, small_tree):
    from tests.test_cli import invoke

    path = tiny_disk / "c.duckdb"
    assert invoke("--catalog", str(path), "scan", "--root", str(small_tree)).exit_code == 0
    audio_before = {p: p.read_bytes() for p in small_tree.rglob("*") if p.is_file()}
    filler = tiny_disk / "filler"
    with open(filler, "wb") as out:  # fill every byte the disk has left
        with contextlib.suppress(OSError):
            while True:
                out.write(b"\0" * 65536)
                out.flush()

    result = invoke("--catalog", str(path), "validate", "--workers", "1")

    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: The disk holding the catalog {path} is full: this batch was not written and the ones before "
        "it are kept; free some space and rerun to finish.\n"
    )
    filler.unlink()
    with Catalog.open(path, read_only=True) as catalog:  # whole batches or nothing: no stats without levels
        assert catalog.rows(
            "SELECT count(*) FROM audio_stats WHERE recording_id NOT IN (SELECT recording_id FROM levels)"
        )[1] == [(0,)]
        assert catalog.rows("SELECT count(*) FROM recordings")[1] == [(6,)]
    result = invoke("--catalog", str(path), "validate", "--workers", "1", "-f", "json")
    assert result.exit_code == 0, result.output
    with Catalog.open(path, read_only=True) as catalog:
        assert catalog.rows("SELECT count(*) FROM audio_stats")[1] == [(5,)]  # all readable files
    assert {p: p.read_bytes() for p in small_tree.rglob("*") if p.is_file()} == audio_before
