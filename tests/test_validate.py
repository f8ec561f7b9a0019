"""`homecat validate` and its reports: every broken demo file gets its code, good files get no error,
work is incremental and resumable, reports re-threshold from stored levels without reading audio."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from homecat import audio
from homecat.catalog import Catalog
from homecat.cli import app
from homecat.demo import BROKEN, make_demo_corpus
from homecat.export import export
from homecat.reports import run_report
from homecat.scan import scan
from homecat.validate import validate
from tests.conftest import write_tone

runner = CliRunner()


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory) -> Path:
    return make_demo_corpus(tmp_path_factory.mktemp("demo") / "corpus", minutes=0.5).root


@pytest.fixture
def count_reads(monkeypatch):
    """Counts streaming passes (validate's only way to read samples) while still reading for real."""
    opened: list[str] = []
    real = audio.iter_blocks

    def counting(path, block_frames):
        opened.append(Path(path).name)
        return real(path, block_frames)

    monkeypatch.setattr(audio, "iter_blocks", counting)
    return opened


def _validated(settings, **kwargs):
    with Catalog.open(settings.paths.catalog) as catalog:
        scan(catalog, settings.data)
        summary = validate(catalog, settings.validate, settings.data, **kwargs)
    return summary


def _findings(settings) -> dict[str, dict[str, str]]:
    """rel_path -> {code: severity}."""
    with Catalog.open(settings.paths.catalog, read_only=True) as catalog:
        rows = catalog.con.execute(
            "SELECT r.rel_path, f.code, f.severity, f.message FROM findings f JOIN recordings r USING (recording_id)"
        ).fetchall()
    out: dict[str, dict[str, str]] = {}
    for rel_path, code, severity, message in rows:
        assert rel_path in message  # every message names its recording
        out.setdefault(rel_path, {})[code] = severity
    return out


def test_each_broken_demo_file_gets_its_code_and_good_files_no_error(demo_root, settings_for):
    settings = settings_for(demo_root)
    _validated(settings, workers=2)  # the process pool path
    found = _findings(settings)
    assert found["P05/empty.wav"]["unreadable"] == "error"
    assert found["P05/notes.wav"]["unreadable"] == "error"
    assert found["P02/P02_truncated.wav"]["truncated"] == "warning"  # the 40% present is still usable
    assert found["P04/P04_short.wav"]["too_short"] == "error"
    assert found["P03/P03_silence.wav"]["silent"] == "error"
    assert found["P01/P01_clipped.wav"]["clipping"] == "warning"
    with Catalog.open(settings.paths.catalog, read_only=True) as catalog:
        paths = [r[0] for r in catalog.con.execute("SELECT rel_path FROM recordings").fetchall()]
    good = [f for f in paths if f not in BROKEN]
    assert len(good) == 7
    for rel_path in good:
        assert "error" not in found.get(rel_path, {}).values(), (rel_path, found.get(rel_path))
    # 44.1 and 48 kHz stereo files: resampled and down-mixed, said as information
    assert found["P02/P02_day1.wav"] == {"sample_rate": "info", "multichannel": "info"}
    assert found["P03/session1/P03_day1.wav"] == {"sample_rate": "info", "multichannel": "info"}

    with Catalog.open(settings.paths.catalog, read_only=True) as catalog:
        stats = dict(
            catalog.con.execute(
                "SELECT r.rel_path, (a.frames_read, a.duration_sec, a.threshold_source) "
                "FROM audio_stats a JOIN recordings r USING (recording_id)"
            ).fetchall()
        )
        windows = catalog.con.execute(
            "SELECT count(*), count(DISTINCT (recording_id, window_index)) FROM levels"
        ).fetchone()
    assert stats["P02/P02_day1.wav"][:2] == (1323000, pytest.approx(30.0))
    assert stats["P03/P03_silence.wav"][2] == "absolute"  # digital zeros: the absolute floor decides
    assert stats["P02/P02_truncated.wav"][1] == pytest.approx(12.0, abs=0.01)
    assert windows[0] == windows[1]


def test_truncated_wav_is_caught_from_its_header(tmp_path, settings_for):
    root = tmp_path / "raw"
    path = write_tone(root / "P01" / "cut.wav", 10.0)
    os.truncate(path, 44 + 2 * 16000 * 4)  # 4 of 10 seconds left; libsndfile reports 4 s
    settings = settings_for(root)
    _validated(settings, workers=1)
    found = _findings(settings)["P01/cut.wav"]
    assert found["truncated"] == "warning" and "error" not in found.values()


def test_quiet_but_real_recording_is_not_silent(tmp_path, settings_for):
    root = tmp_path / "raw"
    write_tone(root / "P01" / "quiet.wav", 5.0, amplitude=0.003)  # about -53 dBFS, steady
    write_tone(root / "P01" / "faint.wav", 5.0, amplitude=0.0003)  # below the -60 dBFS floor
    settings = settings_for(root)
    _validated(settings, workers=1)
    found = _findings(settings)
    assert "silent" not in found.get("P01/quiet.wav", {})
    assert found["P01/faint.wav"]["silent"] == "error"


def test_threshold_at_query_time_changes_the_answer_without_reading_audio(demo_root, settings_for, count_reads):
    settings = settings_for(demo_root)
    _validated(settings, workers=1)
    count_reads.clear()
    with Catalog.open(settings.paths.catalog, read_only=True) as catalog:
        _, own, _ = run_report(catalog, "silence", {"threshold_db": None})
        columns, strict, _ = run_report(catalog, "silence", {"threshold_db": -20.0})
    assert count_reads == []
    key = columns.index("active_hours")
    own_rows = {(r[0], r[1], r[2]): r for r in own}
    strict_rows = {(r[0], r[1], r[2]): r for r in strict}
    p01 = ("participant", "P01", None)
    assert strict_rows[p01][key] < own_rows[p01][key]
    assert {r[columns.index("threshold_source")] for r in strict if r[0] == "recording"} == {"query"}


def test_only_changed_files_are_revalidated(tmp_path, settings_for, count_reads):
    root = tmp_path / "raw"
    write_tone(root / "P01" / "a.wav", 3.0)
    write_tone(root / "P01" / "b.flac", 3.0)
    write_tone(root / "P02" / "c.wav", 3.0, sample_rate=44100, channels=2)
    settings = settings_for(root)
    _validated(settings, workers=1)
    assert sorted(count_reads) == ["a.wav", "b.flac", "c.wav"]

    count_reads.clear()
    assert _validated(settings, workers=1).validated == 0
    assert count_reads == []

    write_tone(root / "P01" / "a.wav", 4.0)  # changed
    count_reads.clear()
    summary = _validated(settings, workers=1)
    assert count_reads == ["a.wav"] and summary.validated == 1
    with Catalog.open(settings.paths.catalog, read_only=True) as catalog:
        assert catalog.con.execute("SELECT count(*) FROM levels WHERE recording_id = 'a'").fetchone()[0] == 4


def test_an_interrupted_validation_resumes_without_duplicates(tmp_path, settings_for, count_reads):
    root = tmp_path / "raw"
    for name in ("a", "b", "c"):
        write_tone(root / "P01" / f"{name}.wav", 2.5)
    settings = settings_for(root)

    def stop(done, total):
        raise KeyboardInterrupt

    with Catalog.open(settings.paths.catalog) as catalog:
        scan(catalog, settings.data)
        with pytest.raises(KeyboardInterrupt):
            validate(catalog, settings.validate, settings.data, workers=1, progress=stop)
        assert catalog.con.execute("SELECT count(*) FROM audio_stats").fetchone()[0] == 1
        count_reads.clear()
        summary = validate(catalog, settings.validate, settings.data, workers=1)
        assert sorted(count_reads) == ["b.wav", "c.wav"] and summary.skipped_current == 1
        counts = catalog.con.execute(
            "SELECT (SELECT count(*) FROM audio_stats), count(*), count(DISTINCT (recording_id, window_index)) "
            "FROM levels"
        ).fetchone()
    assert counts == (3, 9, 9)


def test_a_file_removed_after_the_scan_is_a_finding_not_a_crash(tmp_path, settings_for):
    root = tmp_path / "raw"
    write_tone(root / "P01" / "a.wav", 2.5)
    write_tone(root / "P01" / "gone.wav", 2.5)
    settings = settings_for(root)
    with Catalog.open(settings.paths.catalog) as catalog:
        scan(catalog, settings.data)
        (root / "P01" / "gone.wav").unlink()
        validate(catalog, settings.validate, settings.data, workers=1)
    assert _findings(settings)["P01/gone.wav"] == {"missing": "error"}


def test_duplicates_name_the_other_recording(tmp_path, settings_for):
    root = tmp_path / "raw"
    write_tone(root / "P01" / "a.wav", 2.5)
    (root / "P02").mkdir()
    shutil.copy(root / "P01" / "a.wav", root / "P02" / "copy.wav")
    settings = settings_for(root)
    _validated(settings, workers=1)
    with Catalog.open(settings.paths.catalog, read_only=True) as catalog:
        _, rows, _ = run_report(catalog, "findings", {"code": "duplicate", "severity": None})
    assert len(rows) == 1 and "P02/copy.wav" in rows[0][4] and "P01/a.wav" in rows[0][4]


def test_clip_level_counts_one_step_below_full_scale(tmp_path):
    assert audio.clip_level("PCM_16") == np.float32(1 - 2**-15)
    assert audio.clip_level("FLOAT") == 1.0


def test_cli_validate_reports_export_and_plot(demo_root, tmp_path):
    catalog = ["--catalog", str(tmp_path / "c.duckdb")]
    assert runner.invoke(app, [*catalog, "scan", "--root", str(demo_root)], env={}).exit_code == 0
    result = runner.invoke(app, [*catalog, "validate", "--workers", "1", "-f", "json"], env={})
    assert result.exit_code == 0, result.output
    assert {r["what"]: r["count"] for r in json.loads(result.stdout)}["recordings validated now"] == 11

    result = runner.invoke(app, [*catalog, "report", "findings", "--severity", "error", "-f", "json"], env={})
    rows = json.loads(result.stdout)
    assert {r["code"] for r in rows} == {"unreadable", "too_short", "silent"}
    result = runner.invoke(app, [*catalog, "report", "summary", "-f", "json"], env={})
    validation = {r["value"]: r["files"] for r in json.loads(result.stdout) if r["dimension"] == "validation"}
    assert validation == {"validated": 9, "with errors": 4}
    result = runner.invoke(app, [*catalog, "report", "participants", "-f", "json"], env={})
    assert {r["participant_id"] for r in json.loads(result.stdout)} >= {"P01", "P05"}

    png = tmp_path / "silence.png"
    result = runner.invoke(app, [*catalog, "report", "silence", "--plot", str(png), "-f", "csv"], env={})
    assert result.exit_code == 0, result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    out = tmp_path / "export"
    result = runner.invoke(app, [*catalog, "export", str(out)], env={})
    assert result.exit_code == 0, result.output
    manifest = pq.read_table(out / "raw_audio_manifest.parquet")
    invalid = pq.read_table(out / "invalid_files.parquet").to_pylist()
    assert manifest.num_rows == 13 and pq.read_table(out / "audio_stats.parquet").num_rows == 11
    assert {r["rel_path"] for r in invalid} == {
        "P05/empty.wav",
        "P05/notes.wav",
        "P04/P04_short.wav",
        "P03/P03_silence.wav",
    }
    assert all(r["findings"] for r in invalid)
    assert json.loads((out / "summary.json").read_text())["rows"]


def test_export_on_an_empty_catalog_writes_readable_files(tmp_path, settings_for):
    settings = settings_for(None)
    with Catalog.open(settings.paths.catalog) as catalog:
        written = export(catalog, tmp_path / "x")
    assert all(w.path.exists() for w in written)
    assert pq.read_table(tmp_path / "x" / "invalid_files.parquet").num_rows == 0


def test_array_tasks_with_shards_validate_every_recording_exactly_once(tmp_path, settings_for):
    """validate --shard K/N as N SLURM array tasks: together every recording once, each task its own share."""
    root = tmp_path / "raw"
    for i in range(8):
        write_tone(root / f"P{i % 3}" / f"rec{i}.wav", 0.5)
    catalog = str(settings_for(root).paths.catalog)
    runner = CliRunner()
    assert runner.invoke(app, ["--catalog", catalog, "scan", "--root", str(root)]).exit_code == 0
    counts = []
    for k in range(3):
        result = runner.invoke(
            app, ["--catalog", catalog, "validate", "--shard", f"{k}/3", "--workers", "1", "-f", "json"]
        )
        assert result.exit_code == 0, result.output
        counts.append({r["what"]: r["count"] for r in json.loads(result.stdout)}["recordings validated now"])
    with Catalog.open(catalog, read_only=True) as c:
        validated = c.con.execute("SELECT count(*) FROM audio_stats").fetchone()[0]
    assert sum(counts) == validated == 8 and max(counts) < 8  # shared out, none twice, none left
    again = runner.invoke(app, ["--catalog", catalog, "validate", "--shard", "0/3", "-f", "json"])
    assert {r["what"]: r["count"] for r in json.loads(again.stdout)}["recordings validated now"] == 0
    for bad in ("3/3", "1", "-1/2", "a/b"):
        result = runner.invoke(app, ["--catalog", catalog, "validate", "--shard", bad])
        assert result.exit_code == 1 and result.stderr.startswith(f"Error: --shard '{bad}' must be K/N"), bad
