"""Exports for other tools: lhotse manifests read back by lhotse, and segments written as RTTM, ELAN and
Praat files read back by the readers `segments import` / `vad import` use (real audio, real catalogs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from homecat.catalog import Catalog
from homecat.cli import app

runner = CliRunner()

# small_tree (conftest): P01/P01_a.wav 3.0 s, P01/P01_b.flac 2.5 s, P02/day1/P02_a.WAV 2.0 s (44.1 kHz stereo),
# P02/P02_float.wav 2.0 s, loose.wav 2.0 s, P02/notes.wav unreadable.
EVENTS = (
    "recording,start_sec,end_sec,label,tier\n"
    "P01_a,0.100,0.900,adult,events\n"
    "P01_a,0.500,1.200,infant,events\n"  # overlaps the first: a second lane in ELAN and Praat
    "P01_a,2.000,2.750,adult,events\n"
    "P02_a,0.250,1.500,noise,\n"
)


@pytest.fixture
def catalog_path(catalog_path, tmp_path) -> Path:
    """conftest's scanned small_tree with EVENTS imported."""
    (tmp_path / "events.csv").write_text(EVENTS)
    assert invoke(catalog_path, "segments", "import", str(tmp_path / "events.csv")).exit_code == 0
    return catalog_path


def invoke(catalog_path: Path, *args: str):
    return runner.invoke(app, ["--catalog", str(catalog_path), *args], env={}, catch_exceptions=False)


def _rows(catalog_path: Path, sql: str) -> list[tuple]:
    with Catalog.open(catalog_path, read_only=True) as catalog:
        return catalog.rows(sql)[1]


def test_lhotse_manifests_load_with_lhotse_and_match_the_catalog(catalog_path, tmp_path):
    import lhotse  # the 'export' extra, which 'dev' includes
    from lhotse.qa import validate_recordings_and_supervisions

    rttm = tmp_path / "vtc.rttm"
    rttm.write_text("SPEAKER P01_b 1 0.200 1.000 <NA> <NA> FEM <NA> <NA>\n")
    assert invoke(catalog_path, "vad", "import", str(rttm)).exit_code == 0
    result = invoke(catalog_path, "export", str(tmp_path / "lhotse"), "--format", "lhotse")
    assert result.exit_code == 0, result.output
    recordings = lhotse.load_manifest(tmp_path / "lhotse" / "recordings.jsonl.gz")
    supervisions = lhotse.load_manifest(tmp_path / "lhotse" / "supervisions.jsonl.gz")
    assert isinstance(recordings, lhotse.RecordingSet) and isinstance(supervisions, lhotse.SupervisionSet)
    validate_recordings_and_supervisions(recordings, supervisions)

    catalog = _rows(
        catalog_path, "SELECT recording_id, duration_sec, sample_rate, channels FROM recordings WHERE status = 'ok'"
    )
    assert sorted((r.id, r.duration, r.sampling_rate, len(r.channel_ids)) for r in recordings) == sorted(catalog)
    stereo = recordings["P02_a"]
    assert stereo.load_audio(offset=0.5, duration=0.25).shape == (2, 11025)  # lhotse reads the original file
    by_label = sorted((s.recording_id, s.start, s.duration, s.speaker, s.custom["kind"]) for s in supervisions)
    assert by_label == [
        ("P01_a", 0.1, 0.8, "adult", "segment"),
        ("P01_a", 0.5, 0.7, "infant", "segment"),
        ("P01_a", 2.0, 0.75, "adult", "segment"),
        ("P01_b", 0.2, 1.0, "FEM", "speech"),
        ("P02_a", 0.25, 1.25, "noise", "segment"),
    ]
    # data.channel_policy 'mean': a stereo recording's supervisions name both channels (lhotse down-mixes them)
    assert [s.channel for s in supervisions if s.recording_id == "P02_a"] == [[0, 1]]


@pytest.mark.parametrize("fmt", ["eaf", "textgrid"])
def test_segments_exported_as_elan_or_praat_import_back_to_the_same_intervals(catalog_path, tmp_path, fmt):
    out = tmp_path / fmt
    result = invoke(catalog_path, "segments", "export", "--format", fmt, "-o", str(out))
    assert result.exit_code == 0, result.output
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    suffix = ".eaf" if fmt == "eaf" else ".TextGrid"
    assert files == [f"P01/P01_a{suffix}", f"P02/day1/P02_a{suffix}"]  # named by rel_path, folders kept
    result = invoke(catalog_path, "segments", "import", *[str(out / f) for f in files])
    assert result.exit_code == 0, result.output
    back = _rows(
        catalog_path,
        f"SELECT recording_id, start_sec, end_sec, label, tier FROM segments WHERE source LIKE '%{suffix}' ORDER BY ALL",
    )
    assert back == [
        ("P01_a", 0.1, 0.9, "adult", "events"),
        ("P01_a", 0.5, 1.2, "infant", "events 2"),
        ("P01_a", 2.0, 2.75, "adult", "events"),
        ("P02_a", 0.25, 1.5, "noise", "segments"),
    ]
    # the re-imported intervals repeat the CSV's: report segments counts each event once
    report = invoke(catalog_path, "report", "segments", "-f", "json")
    rows = [r for r in json.loads(report.stdout) if r["participant_id"] == "(all)"]
    assert sum(r["segments"] for r in rows) == 4 and sum(r["duplicates"] for r in rows) == 4


def test_segments_exported_as_rttm_import_back_as_speech(catalog_path, tmp_path):
    out = tmp_path / "rttm"
    assert invoke(catalog_path, "segments", "export", "--format", "rttm", "-o", str(out)).exit_code == 0
    files = [str(out / "P01" / "P01_a.rttm"), str(out / "P02" / "day1" / "P02_a.rttm")]
    result = invoke(catalog_path, "vad", "import", *files, "--source", "back")
    assert result.exit_code == 0, result.output
    assert _rows(catalog_path, "SELECT recording_id, start_sec, end_sec, label FROM speech ORDER BY ALL") == [
        ("P01_a", 0.1, 0.9, "adult"),
        ("P01_a", 0.5, 1.2, "infant"),
        ("P01_a", 2.0, 2.75, "adult"),
        ("P02_a", 0.25, 1.5, "noise"),
    ]
    missing = invoke(catalog_path, "segments", "export", "--format", "rttm", "-o", str(out), "--source", "none.csv")
    assert missing.exit_code == 1 and "There are no segments of source none.csv to export" in missing.stderr
