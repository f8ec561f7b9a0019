"""Annotations as labs have them: mapped CSV columns and time units, clip offsets, ELAN TIME_ORIGIN,
LENA .its files, and the same event imported from several files (real catalogs of real audio)."""

from __future__ import annotations

from pathlib import Path

import pympi
import pytest
from typer.testing import CliRunner

from homecat.catalog import Catalog
from homecat.cli import app
from homecat.errors import HomecatError
from homecat.mapping import Mapping
from homecat.scan import scan
from homecat.segments import import_file

runner = CliRunner()

# small_tree (conftest): P01/P01_a.wav 3.0 s, P01/P01_b.flac 2.5 s, P02/day1/P02_a.WAV 2.0 s (44.1 kHz),
# P02/P02_float.wav 2.0 s, loose.wav 2.0 s, P02/notes.wav unreadable.


@pytest.fixture
def catalog_path(small_tree, settings_for) -> Path:
    settings = settings_for(small_tree)
    with Catalog.open(settings.paths.catalog) as catalog:
        scan(catalog, settings.data)
    return settings.paths.catalog


def _segments(catalog_path: Path) -> list[tuple]:
    with Catalog.open(catalog_path, read_only=True) as catalog:
        _, rows = catalog.rows(
            "SELECT recording_id, round(start_sec, 6), round(end_sec, 6), label, tier FROM segments "
            "ORDER BY recording_id, start_sec, tier"
        )
    return rows


def _import(catalog_path: Path, path: Path, **kwargs):
    with Catalog.open(catalog_path) as catalog:
        return import_file(catalog, path, **kwargs)


def invoke(catalog_path: Path, *args: str):
    return runner.invoke(app, ["--catalog", str(catalog_path), *args], env={}, catch_exceptions=False)


# --------------------------------------------------------------------------- mapping


def test_renamed_columns_in_milliseconds_land_at_the_right_seconds(catalog_path, tmp_path):
    csv_path = tmp_path / "lab.csv"
    csv_path.write_text("filename,onset,offset,speaker_type\nP01_a,250,1500,FEM\nP01_b,0,2000,CHI\n")
    result = invoke(
        catalog_path,
        "segments", "import", str(csv_path),
        "--column", "recording=filename", "--column", "start=onset", "--column", "end=offset",
        "--column", "speaker=speaker_type", "--column", "label=speaker_type", "--time-unit", "ms",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert _segments(catalog_path) == [("P01_a", 0.25, 1.5, "FEM", "FEM"), ("P01_b", 0.0, 2.0, "CHI", "CHI")]


def test_frames_at_a_rate_and_a_per_row_clip_offset(catalog_path, tmp_path):
    csv_path = tmp_path / "clips.csv"
    # 100 frames per second; each row's clip starts `clip_onset` frames into the recording
    csv_path.write_text("recording,start,end,label,clip_onset\nP01_a,10,50,adult,100\nP01_a,0,20,infant,250\n")
    mapping = Mapping.from_options(["start=start", "end=end", "offset=clip_onset"], "frames", 100.0)
    _import(catalog_path, csv_path, mapping=mapping)
    assert _segments(catalog_path) == [("P01_a", 1.1, 1.5, "adult", ""), ("P01_a", 2.5, 2.7, "infant", "")]


def test_a_per_file_offset_that_pushes_rows_past_the_end_is_reported_with_the_line(catalog_path, tmp_path):
    csv_path = tmp_path / "clip.csv"
    csv_path.write_text("recording,start_sec,end_sec,label\nP01_a,0.5,1.0,a\nP01_a,1.0,1.5,b\n")
    with pytest.raises(HomecatError) as info:
        _import(catalog_path, csv_path, mapping=Mapping(offset_sec=2.0))
    assert "clip.csv: line 3: end_sec 3.500 is past the end of P01/P01_a.wav (3.000 s)." in info.value.lines
    assert _segments(catalog_path) == []
    _import(catalog_path, csv_path, mapping=Mapping(offset_sec=2.0), skip_invalid=True)
    assert _segments(catalog_path) == [("P01_a", 2.5, 3.0, "a", "")]


def test_mapping_mistakes_are_one_sentence(catalog_path, tmp_path):
    csv_path = tmp_path / "lab.csv"
    csv_path.write_text("filename,onset,offset,code\nP01_a,1,2,x\n")
    for args, expected in [
        (["--column", "begin=onset"], "--column 'begin=onset' must be KEY=COLUMN"),
        (["--time-unit", "frames"], "--time-unit frames needs --frame-rate"),
        (["--time-unit", "hours"], "--time-unit 'hours' is not one of s, ms, frames"),
        (["--column", "start=onset"], "the header lacks recording (or recording_id), end_sec, label"),
    ]:
        result = invoke(catalog_path, "segments", "import", str(csv_path), *args)
        assert result.exit_code == 1 and expected in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.output


def _eaf_with_origin(path: Path, media: str, origin_ms: int | None, events: list[tuple[int, int, str]]) -> Path:
    eaf = pympi.Elan.Eaf(author="test")
    eaf.add_linked_file(media, mimetype="audio/x-wav", time_origin=origin_ms)
    eaf.add_tier("events")
    for start_ms, end_ms, label in events:
        eaf.add_annotation("events", start_ms, end_ms, label)
    pympi.Elan.to_eaf(str(path), eaf)
    return path


def test_eaf_time_origin_places_a_clip_in_the_recording(catalog_path, tmp_path):
    """The EAF annotates a clip of P01_a.wav that starts 1.5 s in: ELAN's TIME_ORIGIN says so."""
    eaf = _eaf_with_origin(tmp_path / "clip7.eaf", "file:///data/P01/P01_a.wav", 1500, [(100, 600, "adult")])
    _import(catalog_path, eaf, recording="P01_a")
    assert _segments(catalog_path) == [("P01_a", 1.6, 2.1, "adult", "events")]
    # a per-file offset adds to the origin; an origin that puts the clip past the end is the usual problem
    with pytest.raises(HomecatError, match=r"end_sec 3.600 is past the end"):
        _import(catalog_path, eaf, recording="P01_a", mapping=Mapping(offset_sec=1.5))


def test_eaf_origins_of_several_media_choose_the_recordings_one(catalog_path, tmp_path):
    path = tmp_path / "P01_a.eaf"
    eaf = pympi.Elan.Eaf(author="test")
    eaf.add_linked_file("file:///video/P01_a_cam.mp4", mimetype="video/mp4", time_origin=700)
    eaf.add_linked_file("file:///audio/P01_a.wav", mimetype="audio/x-wav", time_origin=1000)
    eaf.add_tier("events")
    eaf.add_annotation("events", 0, 500, "x")
    pympi.Elan.to_eaf(str(path), eaf)
    _import(catalog_path, path)
    assert _segments(catalog_path) == [("P01_a", 1.0, 1.5, "x", "events")]
