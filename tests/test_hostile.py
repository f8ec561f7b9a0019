"""Hostile and unlucky inputs (issue 15): one bad file is a finding on that file and the run goes on;
names, permissions, dataset boundaries, settings bounds, BOMs, broken FLAC and stale headers."""

from __future__ import annotations

import hashlib
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from homecat.catalog import Catalog
from homecat.cli import app
from tests.conftest import one_recording_crop_index, write_tone
from tests.permissions import bound_by_permissions as _bound_by_permissions
from tests.permissions import run_bound as _run_bound

runner = CliRunner()


def _digests(root: Path) -> dict[str, str]:
    """SHA-1 of every regular file under root (raw audio must never change)."""
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink() and not path.is_fifo():
            out[os.fsdecode(path.relative_to(root))] = hashlib.sha1(path.read_bytes()).hexdigest()
    return out


def _cli(catalog: Path, *args: str):
    return runner.invoke(app, ["--catalog", str(catalog), *args], env={})


def _findings(catalog: Path) -> dict[str, set[tuple[str, str]]]:
    """rel_path -> {(code, message)}."""
    with Catalog.open(catalog, read_only=True) as c:
        rows = c.con.execute(
            "SELECT r.rel_path, f.code, f.message FROM findings f JOIN recordings r USING (recording_id)"
        ).fetchall()
    out: dict[str, set[tuple[str, str]]] = {}
    for rel_path, code, message in rows:
        out.setdefault(rel_path, set()).add((code, message))
    return out


def _validated(catalog: Path) -> set[str]:
    with Catalog.open(catalog, read_only=True) as c:
        return {
            r[0]
            for r in c.con.execute("SELECT rel_path FROM recordings JOIN audio_stats USING (recording_id)").fetchall()
        }


def _good_pair(root: Path) -> None:
    write_tone(root / "P1" / "good.wav", 2.5)
    write_tone(root / "P2" / "good2.flac", 2.5)


# --------------------------------------------------------------------------- A: one bad file, one finding


def test_a_file_system_error_no_stage_expected_is_one_sentence_naming_the_path(tmp_path):
    root = tmp_path / "raw"
    _good_pair(root)
    catalog = tmp_path / "c.duckdb"
    assert _cli(catalog, "scan", "--root", str(root)).exit_code == 0
    (tmp_path / "a-file").touch()
    result = _cli(catalog, "export", "-o", str(tmp_path / "a-file" / "out"))
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert (
        result.stderr
        == f"Error: The output folder {tmp_path / 'a-file' / 'out'} cannot be created (Not a directory).\n"
    )


def test_an_absurd_sample_rate_is_a_finding_and_the_others_are_validated(tmp_path):
    root = tmp_path / "raw"
    _good_pair(root)
    bad = write_tone(root / "P1" / "absurd.wav", 1.0)
    raw = bytearray(bad.read_bytes())
    raw[24:28] = struct.pack("<I", 1_241_558_084)  # the fmt chunk's sample rate: 10 s blocks would need 46 GiB
    raw[28:32] = struct.pack("<I", 1_241_558_084 * 2)
    bad.write_bytes(raw)
    before = _digests(root)
    catalog = tmp_path / "c.duckdb"

    assert _cli(catalog, "scan", "--root", str(root)).exit_code == 0
    result = _cli(catalog, "validate", "--workers", "1")
    assert result.exit_code == 0, result.output
    assert _validated(catalog) == {"P1/good.wav", "P2/good2.flac"}
    assert _findings(catalog)["P1/absurd.wav"] == {
        (
            "unreadable",
            "P1/absurd.wav cannot be read: its header claims a sample rate of 1241558084 Hz, outside 1000-768000 Hz.",
        )
    }
    assert _digests(root) == before


def test_a_fifo_named_wav_is_a_finding_not_a_hang(tmp_path):
    root = tmp_path / "raw"
    _good_pair(root)
    os.mkfifo(root / "P1" / "pipe.wav")  # opening it for reading would block until a writer comes
    before = _digests(root)
    catalog = tmp_path / "c.duckdb"

    assert _cli(catalog, "scan", "--root", str(root), "--hash").exit_code == 0
    result = _cli(catalog, "validate", "--workers", "1")
    assert result.exit_code == 0, result.output
    assert _validated(catalog) == {"P1/good.wav", "P2/good2.flac"}
    assert _findings(catalog)["P1/pipe.wav"] == {
        ("unreadable", "P1/pipe.wav cannot be read: it is a FIFO (named pipe), not a regular file.")
    }
    assert _digests(root) == before


def test_whatever_a_reader_raises_on_one_recording_is_a_finding_and_validate_goes_on(tmp_path, monkeypatch):
    from homecat import levels

    root = tmp_path / "raw"
    _good_pair(root)
    write_tone(root / "P1" / "odd.wav", 1.0, sample_rate=22050)
    real_add = levels.Levels.add

    def add(self, block):  # a reader bug that only this recording's rate triggers
        if self.sample_rate == 22050:
            raise MemoryError("Unable to allocate 46.3 GiB")
        return real_add(self, block)

    monkeypatch.setattr(levels.Levels, "add", add)
    catalog = tmp_path / "c.duckdb"
    assert _cli(catalog, "scan", "--root", str(root)).exit_code == 0
    result = _cli(catalog, "validate", "--workers", "1")
    assert result.exit_code == 0, result.output
    assert _validated(catalog) == {"P1/good.wav", "P2/good2.flac"}
    assert _findings(catalog)["P1/odd.wav"] == {
        (
            "failed",
            "P1/odd.wav: validate failed on this recording (MemoryError: Unable to allocate 46.3 GiB); "
            "the run went on without it.",
        )
    }


def test_whatever_a_header_read_raises_on_one_file_makes_it_unreadable_and_scan_goes_on(tmp_path, monkeypatch):
    from homecat import audio

    root = tmp_path / "raw"
    _good_pair(root)
    write_tone(root / "P1" / "odd.wav", 1.0)
    real = audio.read_header

    def read_header(path):  # a reader bug only this file triggers
        if str(path).endswith("odd.wav"):
            raise ZeroDivisionError("division by zero")
        return real(path)

    monkeypatch.setattr(audio, "read_header", read_header)
    catalog = tmp_path / "c.duckdb"
    result = _cli(catalog, "scan", "--root", str(root))
    assert result.exit_code == 0, result.output
    with Catalog.open(catalog, read_only=True) as c:
        rows = c.con.execute("SELECT rel_path, status, error FROM recordings ORDER BY rel_path").fetchall()
    assert rows == [
        ("P1/good.wav", "ok", None),
        ("P1/odd.wav", "unreadable", "ZeroDivisionError: division by zero"),
        ("P2/good2.flac", "ok", None),
    ]


def test_whatever_vad_raises_on_one_recording_leaves_it_for_the_next_run(tmp_path, settings_for, monkeypatch):
    from homecat import vad
    from homecat.scan import scan
    from homecat.validate import validate

    root = tmp_path / "raw"
    _good_pair(root)
    settings = settings_for(root)
    with Catalog.open(settings.paths.catalog) as catalog:
        scan(catalog, settings.data)
        validate(catalog, settings.validate, settings.data, workers=1)
        real = vad.detect_speech
        calls: list[int] = []

        def detect_speech(blocks, *args):  # a model bug on the first recording (in rel_path order)
            calls.append(1)
            if len(calls) == 1:
                raise IndexError("index 3 is out of bounds")
            return real(blocks, *args)

        monkeypatch.setattr(vad, "detect_speech", detect_speech)
        summary = vad.run_vad(catalog, settings.vad, settings.data, workers=1)
    assert summary.processed == 1
    assert summary.problems == [
        "P1/good.wav: vad failed on this recording (IndexError: index 3 is out of bounds); the run went on without it."
    ]


# --------------------------------------------------------------------------- B: names and permissions


def test_a_name_that_is_not_utf8_is_catalogued_shown_escaped_and_validated(tmp_path):
    root = tmp_path / "raw"
    _good_pair(root)
    raw_name = os.fsencode(root / "P1") + b"/bad\xff.wav"
    os.rename(write_tone(root / "P1" / "tmp.wav", 1.0), raw_name)  # soundfile cannot write such a name
    before = _digests(root)
    catalog = tmp_path / "c.duckdb"

    for _ in range(2):  # the rerun finds it unchanged
        result = _cli(catalog, "scan", "--root", str(root))
        assert result.exit_code == 0, result.output
    result = _cli(catalog, "validate", "--workers", "1")
    assert result.exit_code == 0, result.output
    assert _validated(catalog) == {"P1/good.wav", "P2/good2.flac", "P1/bad\\xff.wav"}
    with Catalog.open(catalog, read_only=True) as c:
        path_bytes = c.con.execute("SELECT path_bytes FROM recordings WHERE rel_path = 'P1/bad\\xff.wav'").fetchone()
        assert c.con.execute("SELECT count(*) FROM recordings WHERE path_bytes IS NULL").fetchone()[0] == 2
    assert path_bytes == (raw_name,)  # the exact bytes, so the file opens again
    result = _cli(catalog, "report", "summary")
    assert result.exit_code == 0
    assert _digests(root) == before


def test_a_crop_index_snapshot_keeps_a_name_that_is_not_utf8(tmp_path):
    from homecat import audio
    from homecat.crop_snapshot import write_snapshot
    from homecat.crops import CropIndex

    name = os.fsdecode(os.fsencode(tmp_path) + b"/bad\xff.wav")
    os.rename(write_tone(tmp_path / "tmp.wav", 1.0), name)
    index = one_recording_crop_index(name, "bad\\xff.wav", 16000)
    loaded = CropIndex.load(write_snapshot(index, tmp_path / "index.parquet"))
    assert loaded.path.tolist() == [name]
    assert audio.read_window(loaded.path[0], 100, 10).shape == (10, 1)


def test_an_unreadable_folder_is_a_finding_not_missing_and_the_rest_is_validated(permissions_bind):
    root = permissions_bind / "raw"
    _good_pair(root)
    write_tone(root / "P3" / "third.wav", 2.5)
    catalog = permissions_bind / "c.duckdb"
    flags = ["--catalog", str(catalog)]
    for step in (["scan", "--root", str(root)], ["validate", "--workers", "1"], ["split"]):  # all readable yet
        assert _cli(catalog, *step).exit_code == 0

    def state():
        with Catalog.open(catalog, read_only=True) as c:
            return (
                c.con.execute("SELECT rel_path, status FROM recordings ORDER BY rel_path").fetchall(),
                c.con.execute("SELECT recording_id, split FROM splits ORDER BY recording_id").fetchall(),
            )

    kept = state()
    before = _digests(root)
    (root / "P2").chmod(0o000)
    (root / "P3" / "third.wav").touch()  # changed, so validate reads it again
    done = _run_bound(*flags, "scan", "--root", str(root), "-f", "csv")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "missing files (kept as 'missing'),0\n" in done.stdout
    assert "folders and files this user cannot read (kept; see report findings),1\n" in done.stdout
    assert state() == kept  # P2's recording is not 'missing' and keeps its split
    found = _findings(catalog)
    assert {f for f in found["P2/good2.flac"] if f[0] == "permission_denied"} == {
        (
            "permission_denied",
            "P2/good2.flac is in a folder this user cannot list (permission denied): kept as it was, not marked missing.",
        )
    }
    assert _cli(catalog, "validate", "--workers", "1").exit_code == 0  # P2's file is current: not opened
    assert "P3/third.wav" in _validated(catalog)
    (root / "P2").chmod(0o755)
    assert _digests(root) == before

    # an annotation file this user cannot open is one sentence naming it, before anything is imported
    good, locked = permissions_bind / "good.csv", permissions_bind / "locked.csv"
    for path in (good, locked):
        path.write_text("recording,start_sec,end_sec,label\nP1/good.wav,0,1,adult\n")
    locked.chmod(0o000)
    done = _run_bound(*flags, "segments", "import", str(good), str(locked))
    assert done.returncode == 2 and done.stdout == "" and "Traceback" not in done.stderr
    assert done.stderr == f"Error: Invalid value for 'files': path '{locked}' is not readable.\n"


def test_a_root_this_user_cannot_read_stops_the_scan_in_one_sentence(permissions_bind):
    root = permissions_bind / "raw"
    _good_pair(root)
    root.chmod(0o000)
    catalog = permissions_bind / "c.duckdb"
    # from the settings (--root is refused by the option parser the same way, in its own words)
    done = _run_bound("--catalog", str(catalog), "scan", HOMECAT_RAW_AUDIO_ROOT=str(root))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"Error: The raw audio root {root} cannot be read by this user (permission denied): nothing was scanned."
    ]
    assert not catalog.exists() or _findings(catalog) == {}


# --------------------------------------------------------------------------- C: dataset boundaries


@pytest.mark.parametrize("outside", ["../../../../outside.csv", "/etc/passwd"])
def test_an_annotation_path_outside_the_dataset_is_refused_and_nothing_is_imported(tmp_path, outside):
    from tests.test_childproject import ANNOTATIONS, SEGMENT_COLUMNS, _write_csv, write_annotations, write_dataset

    dataset = write_dataset(tmp_path / "dataset")
    # a converted CSV outside the dataset that the '../' path reaches: it must not be read
    _write_csv(tmp_path / "outside.csv", [dict(zip(SEGMENT_COLUMNS, ["x", 0, 500, "", "CHI", ""]))], SEGMENT_COLUMNS)
    bad = ("vtc", "C02/rec3.wav", 0, 2500, outside, [])
    write_annotations(dataset, [*ANNOTATIONS[:1], bad])
    catalog = tmp_path / "c.duckdb"
    assert _cli(catalog, "scan", "--childproject", str(dataset)).exit_code == 0
    with Catalog.open(catalog, read_only=True) as c:
        before = [c.con.execute(f"SELECT count(*) FROM {t}").fetchone() for t in ("segments", "annotated_ranges")]

    result = _cli(catalog, "segments", "import", "--childproject", str(dataset), "--set", "vtc")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        f"Error: {dataset / 'metadata' / 'annotations.csv'} line 3, column annotation_filename: '{outside}' is not "
        "a path inside annotations/vtc/converted/; nothing was imported."
    ]
    with Catalog.open(catalog, read_only=True) as c:
        after = [c.con.execute(f"SELECT count(*) FROM {t}").fetchone() for t in ("segments", "annotated_ranges")]
    assert after == before == [(0,), (0,)]


def test_a_recording_that_links_out_of_the_dataset_is_refused(tmp_path):
    from tests.test_childproject import write_dataset

    dataset = write_dataset(tmp_path / "dataset")
    elsewhere = write_tone(tmp_path / "elsewhere.wav", 2.5)
    listed = dataset / "recordings" / "raw" / "C01" / "rec2.wav"
    listed.unlink()
    listed.symlink_to(elsewhere)  # not into .git/annex: a name in the metadata that reads another folder
    catalog = tmp_path / "c.duckdb"
    result = _cli(catalog, "scan", "--childproject", str(dataset))
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        f"Error: {dataset / 'metadata' / 'recordings.csv'} line 3, column recording_filename: 'C01/rec2.wav' is not "
        "a path inside recordings/raw/; nothing was written."
    ]
    if catalog.exists():
        with Catalog.open(catalog, read_only=True) as c:
            assert c.con.execute("SELECT count(*) FROM recordings").fetchone() == (0,)


# --------------------------------------------------------------------------- D: settings bounds


@pytest.fixture(scope="module")
def split_catalog(tmp_path_factory) -> Path:
    """Three participants' short recordings, scanned, validated and split (no dev share: all train)."""
    from homecat.scan import scan
    from homecat.settings import load_settings
    from homecat.split import assign_splits
    from homecat.validate import validate

    base = tmp_path_factory.mktemp("bounds")
    for participant, seconds in (("P1", 2.5), ("P2", 3.0), ("P3", 2.2)):
        write_tone(base / "raw" / participant / f"{participant}_day1.wav", seconds)
    settings = load_settings(
        overrides={"paths.catalog": base / "c.duckdb", "data.raw_audio_root": base / "raw", "split.dev_fraction": 0},
        environ={},
        cwd=base,
    ).settings
    with Catalog.open(settings.paths.catalog) as catalog:
        scan(catalog, settings.data)
        validate(catalog, settings.validate, settings.data, workers=1)
        assign_splits(catalog, settings.split)
    return base / "c.duckdb"


def _train_refused(tmp_path: Path, catalog: Path, crops: dict, training: dict, capsys) -> tuple[int, str]:
    """Exit code and stderr of `python -m homecat.train` (in-process) with these settings; nothing may be written."""
    import yaml

    from homecat.train.__main__ import main
    from tests.conftest import TINY

    config = tmp_path / "train.yaml"
    values = {
        "paths": {"artifacts_dir": str(tmp_path / "artifacts")},
        "crops": {"crop_sec": 0.5, **crops},
        "training": {"base_model": None, "model_overrides": TINY, "per_gpu_batch": 2, "max_steps": 2, **training},
    }
    config.write_text(yaml.safe_dump(values))
    before = catalog.read_bytes()
    code = main(["--config", str(config), "--catalog", str(catalog)])
    assert not (tmp_path / "artifacts").exists()  # no run folder, no snapshot, no logs
    assert catalog.read_bytes() == before
    return code, capsys.readouterr().err


def test_a_mask_longer_than_a_crop_is_refused_before_anything_is_written(tmp_path, split_catalog, capsys):
    # the tiny model makes 398 frames of a 0.5 s crop (kernels 10, 8; strides 5, 4)
    code, err = _train_refused(tmp_path, split_catalog, {}, {"mask_time_length": 500}, capsys)
    assert code == 2
    assert err.strip().splitlines() == [
        "Error: training.mask_time_length 500 is longer than the 398 frames the model makes of a 0.5 s crop "
        "(crops.crop_sec): use at most 398, or longer crops."
    ]


def test_negatives_that_cannot_fit_in_memory_are_refused_with_the_estimate(tmp_path, split_catalog, capsys):
    """More negatives than masked frames are drawn with replacement (tests/test_train.py); only a size whose
    distractor features exceed the machine's whole memory is refused (10^8 x 398 frames x 16 dims x 2 crops)."""
    code, err = _train_refused(tmp_path, split_catalog, {}, {"num_negatives": 100_000_000}, capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "Error: training.num_negatives 100000000 cannot fit: its distractor features alone take about 14233.6 GiB "
        "per micro-batch of 2 0.5 s crops (398 frames, 16 dimensions), more than the "
    ), lines
    assert lines[0].endswith("lower training.num_negatives or training.per_gpu_batch.")


def test_crops_longer_than_every_train_recording_name_the_longest(tmp_path, split_catalog, capsys):
    code, err = _train_refused(tmp_path, split_catalog, {"crop_sec": 30}, {}, capsys)
    assert code == 2
    assert err.strip().splitlines() == [
        "Error: crops.crop_sec 30 is longer than the longest usable train recording (3.0 s, P2_day1): use shorter crops."
    ]


# --------------------------------------------------------------------------- E: imports


def test_an_rttm_file_starting_with_a_bom_keeps_its_first_turn(tmp_path):
    root = tmp_path / "raw"
    write_tone(root / "P1" / "rec1.wav", 3.0)
    catalog = tmp_path / "c.duckdb"
    assert _cli(catalog, "scan", "--root", str(root)).exit_code == 0
    assert _cli(catalog, "validate", "--workers", "1").exit_code == 0
    rttm = tmp_path / "vtc.rttm"
    turns = "SPEAKER rec1 1 0.500 1.000 <NA> <NA> FEM <NA> <NA>\nSPEAKER rec1 1 2.000 0.500 <NA> <NA> CHI <NA> <NA>\n"
    rttm.write_bytes(b"\xef\xbb\xbf" + turns.encode())  # what Windows editors write first

    result = _cli(catalog, "vad", "import", str(rttm), "--source", "vtc")
    assert result.exit_code == 0, result.output
    with Catalog.open(catalog, read_only=True) as c:
        rows = c.con.execute("SELECT start_sec, end_sec, label FROM speech ORDER BY start_sec").fetchall()
    assert rows == [(0.5, 1.5, "FEM"), (2.0, 2.5, "CHI")]


def test_a_flac_broken_at_9_9_s_is_readable_to_its_last_decodable_frame(tmp_path):
    import soundfile as sf  # writing the test file only; homecat reads it through homecat.audio

    root = tmp_path / "raw"
    _good_pair(root)
    noise = (np.random.default_rng(0).standard_normal(12 * 16000) * 0.1).astype(np.float32)
    broken = root / "P3" / "broken.flac"
    broken.parent.mkdir(parents=True)
    sf.write(broken, noise, 16000, subtype="PCM_16")
    data = broken.read_bytes()
    broken.write_bytes(data[: len(data) * 99 // 120])  # noise compresses evenly: the bytes of the first ~9.9 s
    before = _digests(root)
    catalog = tmp_path / "c.duckdb"
    assert _cli(catalog, "scan", "--root", str(root)).exit_code == 0
    result = _cli(catalog, "validate", "--workers", "1")
    assert result.exit_code == 0, result.output

    with Catalog.open(catalog, read_only=True) as c:
        (duration,) = c.con.execute(
            "SELECT a.duration_sec FROM audio_stats a JOIN recordings USING (recording_id) WHERE rel_path = 'P3/broken.flac'"
        ).fetchone()
    # to within one FLAC frame (0.256 s) and one re-read piece (1024 frames) of where the bytes end; not 0 s
    assert 9.9 - 0.256 - 0.064 <= duration < 9.9
    truncated = {f for f in _findings(catalog)["P3/broken.flac"] if f[0] == "truncated"}
    assert truncated == {
        (
            "truncated",
            f"P3/broken.flac is truncated: its header declares 12.0 s but only {duration:.1f} s (81%) is present; "
            "the decoder stopped with: Error : flac decoder lost sync.; the part present is still used.",
        )
    }
    assert _digests(root) == before


# --------------------------------------------------------------------------- F: stale metadata


def test_a_file_replaced_with_the_same_size_and_mtime_gets_its_new_header_and_a_finding(tmp_path):
    from homecat.catalog import named_queries
    from homecat.settings import load_settings
    from homecat.split import assign_splits

    root = tmp_path / "raw"
    original = write_tone(root / "P1" / "day1.wav", 3.0)  # 48000 frames at 16 kHz
    catalog = tmp_path / "c.duckdb"
    assert _cli(catalog, "scan", "--root", str(root)).exit_code == 0
    stat = original.stat()
    replacement = write_tone(tmp_path / "other.wav", 48000 / 22050, sample_rate=22050)  # same frames, same bytes
    assert replacement.stat().st_size == stat.st_size
    os.replace(replacement, original)
    os.utime(original, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    before = _digests(root)

    assert _cli(catalog, "scan", "--root", str(root)).exit_code == 0  # same size and mtime: not re-read
    result = _cli(catalog, "validate", "--workers", "1")
    assert result.exit_code == 0, result.output
    assert ("header_changed", "P1/day1.wav: its header now says 22050 Hz, 1 channel(s), 48000 frames, but the scan "
            "read 16000 Hz, 1 channel(s), 48000 frames with the same size and modification time (the file was "
            "replaced); the catalog now holds the new values and crops use them.") in _findings(catalog)["P1/day1.wav"]  # fmt: skip
    settings = load_settings(overrides={"paths.catalog": catalog}, environ={}, cwd=tmp_path).settings
    with Catalog.open(catalog) as c:
        assert c.con.execute("SELECT sample_rate, duration_sec FROM recordings").fetchall() == [(22050, 48000 / 22050)]
        assign_splits(c, settings.split)
        query = named_queries("queries/crops.sql")["crop_index"].sql  # what the crop index is built from
        params = {"splits": ["train", "dev", "test"], "speech_source": None, "speech_labels": []}
        columns, rows = c.rows(query, params)
    assert [dict(zip(columns, r))["sample_rate"] for r in rows] == [22050]
    assert _digests(root) == before


# --------------------------------------------------------------------------- G: exports


@pytest.fixture(scope="module")
def exportable(tmp_path_factory) -> Path:
    """A catalog with one recording, a segment and a speech row: something for every export to write."""
    folder = tmp_path_factory.mktemp("exportable")
    write_tone(folder / "raw" / "P1" / "good.wav", 2.0)
    catalog = folder / "c.duckdb"
    csv, rttm = folder / "notes.csv", folder / "vtc.rttm"
    csv.write_text("recording,start_sec,end_sec,label\nP1/good.wav,0,1,adult\n")
    rttm.write_text("SPEAKER good 1 0.100 0.500 <NA> <NA> FEM <NA> <NA>\n")
    for step in (
        ["scan", "--root", str(folder / "raw")],
        ["segments", "import", str(csv)],
        ["vad", "import", str(rttm)],
    ):
        assert _cli(catalog, *step).exit_code == 0, step
    return catalog


EXPORTS = {  # command, the folder it writes into, the file it writes there
    "export": (["export", "-o", "{out}", "--only", "audio_stats.parquet"], "audio_stats.parquet"),
    "export json": (["export", "-o", "{out}", "--only", "summary.json"], "summary.json"),
    "export lhotse": (["export", "-o", "{out}", "--format", "lhotse"], "recordings.jsonl.gz"),
    "segments export": (["segments", "export", "-f", "eaf", "-o", "{out}"], "P1/good.eaf"),  # named by rel_path
    "vad export": (["vad", "export", "-o", "{out}/speech.rttm"], "speech.rttm"),
}


@pytest.mark.parametrize("name", EXPORTS)
def test_an_export_never_follows_a_link_planted_at_a_temporary_name(exportable, tmp_path, name):
    args, file_name = EXPORTS[name]
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    # links at every temporary name an export might pick: the old fixed ones and anything predictable
    folder, base = (out / file_name).parent, Path(file_name).name
    folder.mkdir(parents=True, exist_ok=True)
    for planted in (f".{base}.partial", f"{base}.partial", f".{base}.tmp", f"tmp_{base}"):
        (folder / planted).symlink_to(victim)
    result = _cli(exportable, *[a.replace("{out}", str(out)) for a in args])
    assert result.exit_code == 0, result.output
    assert victim.read_text() == "keep me\n"
    assert (out / file_name).is_file() and not (out / file_name).is_symlink()
    assert (out / file_name).stat().st_size > 0
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file() and not p.is_symlink()) == sorted(
        {file_name} | ({"supervisions.jsonl.gz"} if name == "export lhotse" else set())
    )  # no temporary file left behind


# Every export in one process that file permissions bind (each start of homecat costs seconds on a busy machine).
_INVOKE_EACH = """
import json, sys
from typer.testing import CliRunner
from homecat.cli import app
done = [CliRunner().invoke(app, args, env={}) for args in json.loads(sys.argv[1])]
print(json.dumps([[r.exit_code, type(r.exception).__name__, r.stderr] for r in done]))
"""


def test_an_export_into_a_read_only_folder_is_one_sentence_naming_the_output(exportable, permissions_bind):
    import json

    locked = permissions_bind / "locked"
    locked.mkdir()
    (permissions_bind / "link").symlink_to(locked)
    runs = [(name, out) for name in EXPORTS for out in (locked, permissions_bind / "link")]  # directly, through a link
    commands = [
        ["--catalog", str(exportable), *[a.replace("{out}", str(out)) for a in EXPORTS[name][0]]] for name, out in runs
    ]
    locked.chmod(0o555)
    done = subprocess.run(
        [*_bound_by_permissions(), sys.executable, "-c", _INVOKE_EACH, json.dumps(commands)],
        capture_output=True,
        text=True,
        env=os.environ | {"PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
        timeout=120,
    )
    locked.chmod(0o755)
    assert done.returncode == 0, done.stderr
    for (name, out), (exit_code, exception, stderr) in zip(runs, json.loads(done.stdout), strict=True):
        target = out / EXPORTS[name][1]
        expected = f"Error: {target} cannot be written (Permission denied).\n"
        if target.parent != out:  # a file in a subfolder (named by rel_path): the folder cannot be made
            expected = f"Error: The output folder {target.parent} cannot be created (Permission denied).\n"
        assert (exit_code, exception, stderr) == (1, "SystemExit", expected), (name, out)
    assert list(locked.iterdir()) == []
