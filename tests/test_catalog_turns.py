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
