"""Readers and writers take turns at the catalog while a long stage runs (real processes, real DuckDB)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from homecat.catalog import Catalog
from homecat.errors import CatalogLocked
from homecat.settings import PathSettings
from tests.conftest import catalog_held_by_another_process, write_tone
from tests.test_cli import invoke

REPO = Path(__file__).resolve().parent.parent


def test_a_reader_waits_for_a_short_holder_and_gets_in(tmp_path):
    path = tmp_path / "c.duckdb"
    Catalog.open(path).close()
    with catalog_held_by_another_process(path, hold_sec=1.0):
        start = time.monotonic()
        with Catalog.open(PathSettings(catalog=path, catalog_read_wait_sec=30), read_only=True) as catalog:
            assert catalog.schema_version() > 0
        assert time.monotonic() - start >= 0.5  # it did wait for the holder


def test_a_writer_gives_up_after_its_wait(tmp_path):
    path = tmp_path / "c.duckdb"
    Catalog.open(path).close()
    with catalog_held_by_another_process(path) as holder:
        start = time.monotonic()
        with pytest.raises(CatalogLocked, match=f"PID {holder.pid}"):
            Catalog.open(PathSettings(catalog=path, catalog_write_wait_sec=0.3))
        assert time.monotonic() - start >= 0.3


@pytest.mark.slow
def test_reports_and_another_writer_get_in_while_validate_runs(tmp_path):
    root = tmp_path / "raw"
    for i in range(12):
        write_tone(root / f"P{i:02d}" / f"P{i:02d}_day1.wav", 30.0)
    catalog = tmp_path / "c.duckdb"
    assert invoke("--catalog", str(catalog), "scan", "--root", str(root)).exit_code == 0
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        # 10 ms windows and blocks make validate slow enough (seconds) to be met while it runs
        "HOMECAT_WINDOW_SEC": "0.01",
        "HOMECAT_READ_BLOCK_SEC": "0.01",
        "HOMECAT_CATALOG_COMMIT_EVERY_SEC": "0.2",
    }
    stage = subprocess.Popen(
        [sys.executable, "-m", "homecat", "--catalog", str(catalog), "validate", "--workers", "1", "-f", "json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    validated_seen: list[int] = []  # by reports that finished while validate was still running
    other_writer_ran = False
    try:
        while stage.poll() is None:
            result = invoke("--catalog", str(catalog), "report", "participants", "-f", "json")
            assert result.exit_code == 0, result.output
            if stage.poll() is None:
                validated_seen.append(sum(row["validated_files"] for row in json.loads(result.stdout)))
            if not other_writer_ran and validated_seen:
                result = invoke("--catalog", str(catalog), "scan", "--root", str(root))
                assert result.exit_code == 0, result.output
                other_writer_ran = stage.poll() is None
    finally:
        stage.kill()
        out, err = stage.communicate()
    assert stage.returncode == 0, err
    counts = {row["what"]: row["count"] for row in json.loads(out)}
    assert counts["recordings validated now"] == 12
    assert validated_seen and other_writer_ran, "validate ended before a report or scan could meet it"
    # each batch is whole and visible at once: the counts only grow, and some are met mid-way
    assert validated_seen == sorted(validated_seen) and any(0 < n < 12 for n in validated_seen), validated_seen
    with Catalog.open(catalog, read_only=True) as done:
        assert done.rows("SELECT count(*) FROM audio_stats")[1] == [(12,)]


def _write_rttm(path: Path, recording_id: str, rows: int) -> None:
    with open(path, "w") as f:
        f.writelines(f"SPEAKER {recording_id} 1 {i * 0.001:.3f} 0.0005 <NA> <NA> FEM <NA> <NA>\n" for i in range(rows))


@pytest.mark.slow
@pytest.mark.parametrize("writer", ["validate", "vad import"])
def test_a_reader_loop_gets_in_beside_a_long_writer_on_a_loaded_machine(tmp_path, writer):
    """Readers wait at most paths.catalog_read_wait_sec: the writer's visits must end well within it, however
    much it has to store and however loaded the machine is (a CPU burner runs beside both)."""
    root = tmp_path / "raw"
    files = 300 if writer == "validate" else 1
    for i in range(files):
        write_tone(root / f"P{i // 50:02d}" / f"rec_{i:03d}.wav", 0.2 if writer == "validate" else 310.0, 8000)
    catalog = tmp_path / "c.duckdb"
    assert invoke("--catalog", str(catalog), "scan", "--root", str(root)).exit_code == 0
    # validate: a short wait, which a visit storing all 300 results at once would outlast; an import: the default,
    # as the 300,000 rows of one file are one transaction (nothing half-stored)
    read_wait_sec = "2.0" if writer == "validate" else str(PathSettings().catalog_read_wait_sec)
    env = {"HOMECAT_CATALOG_READ_WAIT_SEC": read_wait_sec}
    if writer == "validate":
        # all results stored at the end (tiny files validate faster than they are stored): stored in one go,
        # they would hold the file many times the readers' wait
        command = ["validate", "--workers", "1"]
        env["HOMECAT_CATALOG_COMMIT_EVERY_SEC"] = "600"
    else:
        _write_rttm(tmp_path / "big.rttm", "rec_000", 300_000)
        command = ["vad", "import", str(tmp_path / "big.rttm")]
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    stage = subprocess.Popen(
        [sys.executable, "-m", "homecat", "--catalog", str(catalog), *command],
        env={**os.environ, **env, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    reads_beside = 0  # reports that started and ended while the writer ran
    try:
        while stage.poll() is None:
            result = invoke("--catalog", str(catalog), "report", "summary", "-f", "json", env=env)
            assert result.exit_code == 0, result.output  # exit 3: the writer held the file past the wait
            reads_beside += stage.poll() is None
            time.sleep(0.1)  # someone watching the stage, not a reader that leaves the writer no gap
    finally:
        burner.kill()
        stage.kill()
        _, err = stage.communicate()
        burner.wait()
    assert stage.returncode == 0, err
    assert reads_beside >= 3, "the writer ended before readers could meet it"
    with Catalog.open(catalog, read_only=True) as done:
        table = "audio_stats" if writer == "validate" else "speech"
        assert done.rows(f"SELECT count(*) FROM {table}")[1] == [(files if writer == "validate" else 300_000,)]
