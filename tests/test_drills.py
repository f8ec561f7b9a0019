"""Fault drills: kill stages part-way, corrupt headers, and check the catalog stays consistent."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from homecat.catalog import Catalog
from homecat.scan import scan
from homecat.validate import validate

TIME_COLUMNS = ("first_seen", "last_seen", "scanned_at")


def _tiny_tree(root: Path, files: int) -> None:
    """Many small real WAV files (0.2 s) in participant folders, written fast from one payload."""
    buffer = io.BytesIO()
    sf.write(buffer, np.zeros(3200, dtype=np.float32), 16000, format="WAV", subtype="PCM_16")
    for i in range(files):
        folder = root / f"P{i // 100:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"rec_{i:05d}.wav").write_bytes(buffer.getvalue())


def _kill_after_first_commit(process: subprocess.Popen, catalog: Path) -> None:
    """SIGKILL the process as soon as its first batch is committed (the WAL file has content)."""
    wal = Path(f"{catalog}.wal")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if wal.exists() and wal.stat().st_size > 0:
            break
        time.sleep(0.002)
    assert process.poll() is None, "the stage finished before it could be killed: give it more work"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _table(catalog_path: Path) -> list[tuple]:
    with Catalog.open(catalog_path) as catalog:
        columns = [r[0] for r in catalog.con.execute("DESCRIBE recordings").fetchall() if r[0] not in TIME_COLUMNS]
        return catalog.con.execute(f"SELECT {', '.join(columns)} FROM recordings ORDER BY rel_path").fetchall()


def test_scan_killed_part_way_leaves_a_consistent_catalog_and_a_rerun_finishes(tmp_path, settings_for):
    root = tmp_path / "raw"
    _tiny_tree(root, 4000)
    killed = tmp_path / "killed.duckdb"
    Catalog.open(killed).close()  # schema in place and checkpointed: the next WAL write is a scan batch
    command = [sys.executable, "-m", "homecat", "--catalog", str(killed), "scan", "--root", str(root), "--hash"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    _kill_after_first_commit(process, killed)

    with Catalog.open(killed) as catalog:  # opens (the WAL is replayed) and holds no partial batch
        partial = catalog.con.execute("SELECT count(*), count(DISTINCT rel_path) FROM recordings").fetchone()
    assert partial[0] == partial[1] and 0 < partial[0] < 4000  # part-way, whole batches only

    settings = settings_for(root, **{"paths.catalog": killed})
    with Catalog.open(killed) as catalog:
        summary = scan(catalog, settings.data, hash_audio=True)
    assert summary.new + summary.unchanged == 4000

    fresh = settings_for(root, **{"paths.catalog": tmp_path / "fresh.duckdb"})
    with Catalog.open(fresh.paths.catalog) as catalog:
        scan(catalog, fresh.data, hash_audio=True)
    assert _table(killed) == _table(fresh.paths.catalog)


def test_two_hundred_corrupted_headers_become_rows_not_crashes(tmp_path, settings_for):
    """Random byte mutations in the first 64 bytes of WAV and FLAC files: scan records every file."""
    rng = np.random.default_rng(7)
    root = tmp_path / "raw"
    signal_1s = (0.1 * np.sin(np.linspace(0, 2000, 16000))).astype(np.float32)
    for i in range(200):
        fmt = "wav" if i % 2 else "flac"
        path = root / f"P{i % 10}" / f"r{i:03d}.{fmt}"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, signal_1s, 16000, subtype="PCM_16")
        data = bytearray(path.read_bytes())
        for offset in rng.choice(64, size=int(rng.integers(1, 8)), replace=False):
            data[offset] = int(rng.integers(0, 256))
        path.write_bytes(bytes(data))

    settings = settings_for(root)
    with Catalog.open(settings.paths.catalog) as catalog:
        summary = scan(catalog, settings.data)
        statuses = dict(catalog.con.execute("SELECT status, count(*) FROM recordings GROUP BY 1").fetchall())
        errors = catalog.con.execute(
            "SELECT count(*) FROM recordings WHERE status = 'unreadable' AND error IS NULL"
        ).fetchone()
    assert summary.new == 200 and sum(statuses.values()) == 200
    assert set(statuses) <= {"ok", "unreadable"} and statuses.get("unreadable", 0) > 0
    assert errors[0] == 0  # every unreadable file carries the reader's message


def _varied_tree(root: Path, files: int, seconds: float) -> None:
    """Files of quiet noise with a loud burst at a different place in each (so levels differ)."""
    rng = np.random.default_rng(3)
    base = (0.003 * rng.standard_normal(int(seconds * 16000))).astype(np.float32)
    for i in range(files):
        samples = base.copy()
        start = (i * 16000) % (len(samples) - 16000)
        samples[start : start + 16000] += 0.3 * np.sin(np.arange(16000, dtype=np.float32) * (0.05 + 0.001 * i))
        path = root / f"P{i % 7}" / f"rec_{i:03d}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, samples, 16000, subtype="PCM_16")


def _validation_tables(catalog_path: Path) -> dict[str, list[tuple]]:
    with Catalog.open(catalog_path) as catalog:
        return {
            "levels": catalog.con.execute("SELECT * FROM levels ORDER BY recording_id, window_index").fetchall(),
            "stats": catalog.con.execute(
                "SELECT * EXCLUDE (validated_at) FROM audio_stats ORDER BY recording_id"
            ).fetchall(),
            "findings": catalog.con.execute(
                "SELECT recording_id, code, severity, message FROM findings ORDER BY ALL"
            ).fetchall(),
        }


def test_validation_killed_part_way_resumes_without_duplicates(tmp_path, settings_for):
    root = tmp_path / "raw"
    _varied_tree(root, 120, seconds=40.0)
    killed, fresh = tmp_path / "killed.duckdb", tmp_path / "fresh.duckdb"
    for path in (killed, fresh):
        settings = settings_for(root, **{"paths.catalog": path})
        with Catalog.open(path) as catalog:
            scan(catalog, settings.data)

    command = [sys.executable, "-m", "homecat", "--catalog", str(killed), "validate", "--workers", "1"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    _kill_after_first_commit(process, killed)
    with Catalog.open(killed) as catalog:
        done = catalog.con.execute("SELECT count(*) FROM audio_stats").fetchone()[0]
        duplicated = catalog.con.execute(
            "SELECT count(*) FROM (SELECT recording_id, window_index FROM levels GROUP BY ALL HAVING count(*) > 1)"
        ).fetchone()[0]
    assert done < 120 and duplicated == 0

    for path in (killed, fresh):  # finish the killed one; validate the other in one go
        settings = settings_for(root, **{"paths.catalog": path})
        with Catalog.open(path) as catalog:
            summary = validate(catalog, settings.validate, settings.data, workers=1)
        if path == killed:
            assert summary.validated == 120 - done  # only what the kill left undone
    assert _validation_tables(killed) == _validation_tables(fresh)


def test_corrupted_headers_survive_validation_as_findings(tmp_path, settings_for):
    rng = np.random.default_rng(11)
    root = tmp_path / "raw"
    tone = (0.2 * np.sin(np.linspace(0, 4000, 48000))).astype(np.float32)
    for i in range(200):
        path = root / f"P{i % 10}" / f"r{i:03d}.{'wav' if i % 2 else 'flac'}"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, tone, 16000, subtype="PCM_16")
        data = bytearray(path.read_bytes())
        for offset in rng.choice(64, size=int(rng.integers(1, 8)), replace=False):
            data[offset] = int(rng.integers(0, 256))
        path.write_bytes(bytes(data))
    settings = settings_for(root)
    with Catalog.open(settings.paths.catalog) as catalog:
        scan(catalog, settings.data)
        validate(catalog, settings.validate, settings.data, workers=1)
        unjudged = catalog.con.execute(
            """SELECT count(*) FROM recordings r WHERE NOT EXISTS (SELECT 1 FROM audio_stats a WHERE a.recording_id = r.recording_id)
               AND NOT EXISTS (SELECT 1 FROM findings f WHERE f.recording_id = r.recording_id AND f.severity = 'error')"""
        ).fetchone()[0]
    assert unjudged == 0  # every file is either validated or excluded with a reason


def test_config_mistakes_are_one_sentence_from_a_real_process(tmp_path):
    cases = {
        "wrong type": ("data:\n  min_duration_sec: two\n", "data.min_duration_sec"),
        "unknown key": ("data:\n  raw_root: /x\n", "data.raw_root: unknown setting"),
        "missing root": ("data:\n  raw_audio_root: /does/not/exist\n", "does not exist"),
    }
    for name, (text, expected) in cases.items():
        config = tmp_path / f"{name.replace(' ', '_')}.yaml"
        config.write_text(text)
        result = subprocess.run(
            [sys.executable, "-m", "homecat", "--catalog", str(tmp_path / "c.duckdb"), "--config", str(config), "scan"],
            capture_output=True,
            text=True,
            env={k: v for k, v in os.environ.items() if not k.startswith("HOMECAT_")},
        )
        assert result.returncode == 2, name
        assert expected in result.stderr and "Traceback" not in result.stderr, (name, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, (name, result.stderr)
