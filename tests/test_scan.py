"""`homecat scan`: what users rely on: every file recorded right, incremental, deterministic."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import numpy as np
import pytest

from homecat import audio
from homecat.catalog import Catalog
from homecat.errors import ConfigError
from homecat.scan import participant_of, scan
from tests.conftest import write_tone

TIME_COLUMNS = {"first_seen", "last_seen", "scanned_at"}


def _rows(catalog: Catalog, exclude=TIME_COLUMNS | {"path"}) -> list[dict]:
    columns, rows = catalog.rows("SELECT * FROM recordings ORDER BY rel_path")
    return [{c: v for c, v in zip(columns, row) if c not in exclude} for row in rows]


@pytest.fixture
def count_opens(monkeypatch):
    """Counts header reads (the only way scan opens audio) while still reading for real."""
    opened: list[str] = []
    real = audio.read_header

    def counting(path):
        opened.append(Path(path).name)
        return real(path)

    monkeypatch.setattr(audio, "read_header", counting)
    return opened


def test_scan_records_every_file_with_its_header(small_tree, settings_for):
    settings = settings_for(small_tree)
    with Catalog.open(settings.paths.catalog) as catalog:
        summary = scan(catalog, settings.data)
        rows = {r["rel_path"]: r for r in _rows(catalog)}

    assert sorted(rows) == [
        "P01/P01_a.wav",
        "P01/P01_b.flac",
        "P02/P02_float.wav",
        "P02/day1/P02_a.WAV",
        "P02/notes.wav",
        "loose.wav",
    ]
    stereo = rows["P02/day1/P02_a.WAV"]
    assert (stereo["format"], stereo["subtype"], stereo["sample_rate"], stereo["channels"]) == (
        "WAV",
        "PCM_16",
        44100,
        2,
    )
    assert stereo["frames"] == 88200 and stereo["duration_sec"] == pytest.approx(2.0)
    assert rows["P01/P01_b.flac"]["format"] == "FLAC"
    assert rows["P02/P02_float.wav"]["subtype"] == "FLOAT"
    assert rows["P01/P01_a.wav"]["size_bytes"] == (small_tree / "P01/P01_a.wav").stat().st_size
    bad = rows["P02/notes.wav"]
    assert bad["status"] == "unreadable" and "not recognised" in bad["error"].lower()
    assert bad["frames"] is None
    assert (summary.new, summary.unreadable, summary.ok_recordings) == (6, 1, 5)
    assert summary.ok_hours == pytest.approx((3 + 2.5 + 2 + 2 + 2) / 3600)


def test_two_scans_of_the_same_tree_give_identical_rows(small_tree, settings_for, tmp_path):
    first = settings_for(small_tree, **{"paths.catalog": tmp_path / "a.duckdb"})
    second = settings_for(small_tree, **{"paths.catalog": tmp_path / "b.duckdb"})
    results = []
    for settings in (first, second):
        with Catalog.open(settings.paths.catalog) as catalog:
            scan(catalog, settings.data, workers=3 if settings is first else 1)
            results.append(_rows(catalog, exclude=TIME_COLUMNS))
    assert results[0] == results[1]


def test_unchanged_rescan_opens_no_audio_and_a_touched_file_is_the_only_one_reread(
    small_tree, settings_for, count_opens
):
    settings = settings_for(small_tree)
    with Catalog.open(settings.paths.catalog) as catalog:
        scan(catalog, settings.data)
        assert len(count_opens) == 6
        count_opens.clear()

        summary = scan(catalog, settings.data)
        assert count_opens == []
        assert (summary.new, summary.changed, summary.unchanged) == (0, 0, 6)

        # New content, new mtime: exactly that file is read again and its header replaced.
        write_tone(small_tree / "P01" / "P01_a.wav", 5.0)
        os.utime(small_tree / "P01" / "P01_a.wav", ns=(1, 10**18))
        summary = scan(catalog, settings.data)
        assert count_opens == ["P01_a.wav"]
        assert (summary.changed, summary.unchanged) == (1, 5)
        duration = catalog.con.execute(
            "SELECT duration_sec FROM recordings WHERE rel_path = 'P01/P01_a.wav'"
        ).fetchone()
        assert duration[0] == pytest.approx(5.0)


def test_a_vanished_file_becomes_missing_and_keeps_its_history(small_tree, settings_for):
    settings = settings_for(small_tree)
    with Catalog.open(settings.paths.catalog) as catalog:
        scan(catalog, settings.data)
        before = catalog.con.execute(
            "SELECT recording_id, first_seen, last_seen FROM recordings WHERE rel_path = 'loose.wav'"
        ).fetchone()
        (small_tree / "loose.wav").unlink()
        summary = scan(catalog, settings.data)
        after = catalog.con.execute(
            "SELECT status, recording_id, first_seen, last_seen, duration_sec FROM recordings WHERE rel_path = 'loose.wav'"
        ).fetchone()
        assert summary.missing == 1
        assert after[0] == "missing"
        assert after[1:4] == before  # same id, first_seen and last_seen: the history stays
        assert after[4] == pytest.approx(2.0)

        write_tone(small_tree / "loose.wav", 2.0)  # it comes back
        scan(catalog, settings.data)
        status = catalog.con.execute(
            "SELECT status, recording_id FROM recordings WHERE rel_path = 'loose.wav'"
        ).fetchone()
        assert status == ("ok", before[0])


def test_participant_comes_from_the_first_folder_or_a_configured_regex(small_tree, settings_for):
    default = re.compile(settings_for().data.participant_regex)
    assert participant_of("P02/day1/P02_a.WAV", default) == "P02"
    assert participant_of("loose.wav", default) == "unknown"

    settings = settings_for(small_tree, **{"data.participant_regex": r"(?:^|/)(?P<participant>P\d+)_[^/]*$"})
    with Catalog.open(settings.paths.catalog) as catalog:
        scan(catalog, settings.data)
        pids = dict(catalog.con.execute("SELECT rel_path, participant_id FROM recordings").fetchall())
    assert pids["P02/day1/P02_a.WAV"] == "P02"
    assert pids["loose.wav"] == "unknown"
    assert pids["P02/notes.wav"] == "unknown"


def test_changing_the_participant_regex_relabels_without_opening_audio(small_tree, settings_for, count_opens):
    settings = settings_for(small_tree)
    with Catalog.open(settings.paths.catalog) as catalog:
        scan(catalog, settings.data)
        count_opens.clear()
        relabelled = settings_for(small_tree, **{"data.participant_regex": r"(?P<participant>day\d)"})
        scan(catalog, relabelled.data)
        pids = dict(catalog.con.execute("SELECT rel_path, participant_id FROM recordings").fetchall())
    assert count_opens == []
    assert pids["P02/day1/P02_a.WAV"] == "day1" and pids["P01/P01_a.wav"] == "unknown"


def test_stem_collisions_get_stable_unique_ids_and_are_reported(tmp_path, settings_for):
    root = tmp_path / "raw"
    write_tone(root / "A" / "rec.wav", 2.0)
    write_tone(root / "B" / "rec.flac", 2.0)
    settings = settings_for(root)
    with Catalog.open(settings.paths.catalog) as catalog:
        summary = scan(catalog, settings.data)
        ids = dict(catalog.con.execute("SELECT rel_path, recording_id FROM recordings").fetchall())
        assert ids["A/rec.wav"] == "rec"  # first by path keeps the plain stem
        assert re.fullmatch(r"rec-[0-9a-f]{8}", ids["B/rec.flac"])
        assert summary.collisions == {"rec": ["rec", ids["B/rec.flac"]]}

        # A newcomer with the same stem never takes an existing recording's id.
        write_tone(root / "0" / "rec.wav", 2.0)
        scan(catalog, settings.data)
        later = dict(catalog.con.execute("SELECT rel_path, recording_id FROM recordings").fetchall())
    assert later["A/rec.wav"] == "rec" and later["B/rec.flac"] == ids["B/rec.flac"]
    assert later["0/rec.wav"].startswith("rec-") and len(set(later.values())) == 3


def test_hidden_entries_are_skipped_extensions_match_any_case_and_symlink_loops_end(tmp_path, settings_for):
    root = tmp_path / "raw"
    write_tone(root / "P01" / "a.FLAC", 2.0)
    write_tone(root / "P01" / ".cache" / "hidden.wav", 2.0)
    write_tone(root / ".trash" / "old.wav", 2.0)
    write_tone(root / "P01" / "._a.wav", 2.0)  # macOS resource-fork twin
    (root / "P01" / "loop").symlink_to(root)  # a loop back to the root
    settings = settings_for(root)
    with Catalog.open(settings.paths.catalog) as catalog:
        scan(catalog, settings.data)
        paths = [r[0] for r in catalog.con.execute("SELECT rel_path FROM recordings").fetchall()]
    assert paths == ["P01/a.FLAC"]


def test_hash_option_stores_the_sha1_of_the_bytes(small_tree, settings_for):
    settings = settings_for(small_tree)
    with Catalog.open(settings.paths.catalog) as catalog:
        scan(catalog, settings.data, hash_audio=True)
        sha1 = catalog.con.execute("SELECT sha1 FROM recordings WHERE rel_path = 'P01/P01_a.wav'").fetchone()[0]
    assert sha1 == hashlib.sha1((small_tree / "P01/P01_a.wav").read_bytes()).hexdigest()


def test_a_missing_root_is_one_clear_sentence(tmp_path, settings_for):
    settings = settings_for(None)
    with Catalog.open(settings.paths.catalog) as catalog:
        with pytest.raises(ConfigError, match="No raw audio root is set"):
            scan(catalog, settings.data)
        with pytest.raises(ConfigError, match="does not exist"):
            scan(catalog, settings.data, root=tmp_path / "nowhere")


def test_scan_writes_nothing_into_the_audio_tree(small_tree, settings_for):
    before = {p: p.stat().st_mtime_ns for p in small_tree.rglob("*")}
    settings = settings_for(small_tree)
    with Catalog.open(settings.paths.catalog) as catalog:
        scan(catalog, settings.data, hash_audio=True)
    assert {p: p.stat().st_mtime_ns for p in small_tree.rglob("*")} == before


def test_mp3_is_catalogued_and_other_files_are_counted_by_kind(tmp_path, settings_for):
    """A lab's phone recordings never vanish silently: an MP3 is read like a WAV (libsndfile decodes it), and
    every other file is counted by extension with what to do about it."""
    from homecat.validate import validate

    root = tmp_path / "raw"
    write_tone(root / "P01" / "day1.wav", 2.5)
    audio.write_audio(  # libsndfile writes MP3 as well as it reads it
        root / "P01" / "phone.mp3", iter([np.zeros((16000 * 3, 1), np.float32) + 0.05]), 16000, 1, "MPEG_LAYER_III"
    )
    (root / "P01" / "call.m4a").write_bytes(b"\0\0\0\x18ftypM4A ")
    (root / "P01" / "talk.ogg").write_bytes(b"OggS")
    for name in ("notes.txt", "coding.txt", "README"):
        (root / "P01" / name).write_text("not audio")
    settings = settings_for(root)
    with Catalog.open(settings.paths.catalog) as catalog:
        summary = scan(catalog, settings.data)
        validate(catalog, settings.validate, settings.data)
        (fmt, status, frames), *_ = catalog.con.execute(
            "SELECT format, status, frames FROM recordings WHERE rel_path = 'P01/phone.mp3'"
        ).fetchall()
        errors = catalog.con.execute(
            "SELECT count(*) FROM findings WHERE recording_id = 'phone' AND severity = 'error'"
        ).fetchone()[0]
    assert (fmt, status, errors) == ("MP3", "ok", 0) and abs(frames - 48000) < 16000 * 0.2
    assert summary.skipped == {".m4a": 1, ".ogg": 1, ".txt": 2, "": 1}
    assert {"what": "other files skipped (not in data.allowed_ext)", "count": 5} in summary.rows()
    readable, convert, other = summary.notes()
    assert "1 .ogg" in readable and "data.allowed_ext" in readable
    assert "1 .m4a" in convert and "ffmpeg" in convert
    assert other == "skipped other files: 2 .txt, 1 (no extension)"
