"""`homecat vad`, RTTM import/export and the activity reports, on the generated demo corpus."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from homecat import audio
from homecat.catalog import Catalog
from homecat.cli import app
from homecat.demo import make_demo_corpus
from homecat.errors import HomecatError
from homecat.scan import scan
from homecat.settings import VadSettings
from homecat.speech import SpeechRow, export_rttm, store_speech
from homecat.vad import (
    CHUNK_SAMPLES,
    ChunkScorer,
    Segmenter,
    detect_speech,
    model_path,
    new_session,
    run_vad,
)
from tests.catalog_helpers import scan_and_validate
from tests.conftest import write_tone

MINUTES = 1.0  # two bouts of activity per recording


@pytest.fixture(scope="module")
def corpus_catalog(tmp_path_factory):
    """The demo corpus, scanned, validated and run through `homecat vad` once (module-wide)."""
    from homecat.settings import load_settings

    tmp_path = tmp_path_factory.mktemp("vad")
    root = tmp_path / "raw"
    make_demo_corpus(root, minutes=MINUTES)
    values = {"paths.catalog": tmp_path / "catalog.duckdb", "data.raw_audio_root": root}
    settings = load_settings(overrides=values, environ={}, cwd=tmp_path).settings
    scan_and_validate(settings)
    with Catalog.open(settings.paths.catalog) as catalog:
        summary = run_vad(catalog, settings.vad, settings.data, workers=1)
    return settings, root, summary


def _invoke(settings, *args):
    return CliRunner().invoke(app, ["--catalog", str(settings.paths.catalog), *args])


def _rows(settings, source):
    with Catalog.open(settings.paths.catalog, read_only=True) as catalog:
        return catalog.rows(
            "SELECT recording_id, start_sec, end_sec, label FROM speech WHERE source = ? ORDER BY ALL", [source]
        )[1]


# --------------------------------------------------------------------------- the model and the segment rules


def test_segmenter_streamed_in_any_pieces_equals_silero_get_speech_timestamps():
    from silero_vad.utils_vad import get_speech_timestamps_from_probs

    rng = np.random.default_rng(0)
    for trial in range(20):
        # smooth random probabilities with speech-like runs, crossing both thresholds often
        probs = np.clip(np.convolve(rng.random(3000), np.ones(9) / 9, "same") * 2 - 0.45, 0, 1).astype(np.float32)
        settings = VadSettings(
            vad_threshold=rng.uniform(0.3, 0.7),
            min_speech_sec=rng.choice([0.0, 0.1, 0.25]),
            min_silence_sec=rng.choice([0.0, 0.1, 0.3]),
            speech_pad_sec=rng.choice([0.0, 0.03, 0.2]),
        )
        total = len(probs) * CHUNK_SAMPLES - int(rng.integers(0, CHUNK_SAMPLES))
        expected = get_speech_timestamps_from_probs(
            probs.tolist(),
            threshold=settings.vad_threshold,
            min_speech_duration_ms=settings.min_speech_sec * 1000,
            min_silence_duration_ms=settings.min_silence_sec * 1000,
            speech_pad_ms=settings.speech_pad_sec * 1000,
            audio_length_samples=total,
        )
        segmenter = Segmenter(settings)
        cuts = np.sort(rng.integers(0, len(probs), 5))
        found = [seg for piece in np.split(probs, cuts) for seg in segmenter.add(piece)] + segmenter.finish(total)
        assert found == [(s["start"], s["end"]) for s in expected], trial


def test_the_sequence_model_scores_every_chunk_as_silero_vad_onnx_does():
    """One call per block (the packaged sequence export) equals one call per chunk of silero_vad.onnx."""
    rng = np.random.default_rng(1)
    samples = (0.1 * rng.standard_normal(CHUNK_SAMPLES * 120)).astype(np.float32)
    samples[20000:40000] *= 5
    stateful = new_session(model_path().parent / "silero_vad.onnx")
    state, context, expected = np.zeros((2, 1, 128), np.float32), np.zeros(64, np.float32), []
    for chunk in samples.reshape(-1, CHUNK_SAMPLES):
        inputs = {"input": np.concatenate([context, chunk])[None], "state": state, "sr": np.array(16000, np.int64)}
        out, state = stateful.run(None, inputs)
        expected.append(out[0, 0])
        context = chunk[-64:]
    scorer = ChunkScorer(new_session())
    chunks = samples.reshape(-1, CHUNK_SAMPLES)
    found = np.concatenate([scorer(chunks[:50]), scorer(chunks[50:51]), scorer(chunks[51:])])
    np.testing.assert_allclose(found, expected, atol=1e-5)


def test_speech_is_found_in_the_voices_and_not_in_the_quiet_parts(corpus_catalog):
    settings, root, summary = corpus_catalog
    assert summary.processed == 9 and summary.problems == [] and summary.speech_hours > 0
    with Catalog.open(settings.paths.catalog, read_only=True) as catalog:
        ids = dict(catalog.con.execute("SELECT rel_path, recording_id FROM recordings").fetchall())
        speech = catalog.rows("SELECT recording_id, start_sec, end_sec FROM speech WHERE source = 'silero'")[1]
    with open(root / "annotations.csv", newline="") as f:
        events = list(csv.DictReader(f))
    step = 0.01
    grid = np.arange(0, MINUTES * 60, step) + step / 2
    covered = {label: [] for label in ("adult", "infant", "noise", "quiet")}
    for rel_path in {e["recording"] for e in events}:
        is_speech = np.zeros(len(grid), bool)
        for rid, start, end in speech:
            if rid == ids[rel_path]:
                is_speech |= (grid >= start) & (grid < end)
        near_event = np.zeros(len(grid), bool)
        for e in (e for e in events if e["recording"] == rel_path):
            inside = (grid >= float(e["start_sec"])) & (grid < float(e["end_sec"]))
            covered[e["label"]].append(is_speech[inside])
            near_event |= (grid >= float(e["start_sec"]) - 0.5) & (grid < float(e["end_sec"]) + 0.5)
        covered["quiet"].append(is_speech[~near_event])
    share = {label: float(np.mean(np.concatenate(parts))) for label, parts in covered.items()}
    assert share["adult"] > 0.7  # the synthetic adult voices are speech to Silero
    assert share["infant"] > 0.2  # infant sounds partly (as in real data: why crops keep energy and uniform parts)
    assert share["quiet"] < 0.02 and share["noise"] < 0.3


def test_incremental_rerun_opens_no_audio_and_changed_settings_rerun_everything(corpus_catalog, monkeypatch):
    settings, _, _ = corpus_catalog
    before = _rows(settings, "silero")

    def no_reading(*args, **kwargs):
        raise AssertionError("audio was read")

    with monkeypatch.context() as m:
        m.setattr(audio, "iter_blocks", no_reading)
        m.setattr(audio, "read_header", no_reading)
        with Catalog.open(settings.paths.catalog) as catalog:
            again = run_vad(catalog, settings.vad, settings.data, workers=1)
    assert (again.processed, again.skipped_current) == (0, 9)
    stricter = settings.vad.model_copy(update={"vad_threshold": 0.9})
    with Catalog.open(settings.paths.catalog) as catalog:
        assert run_vad(catalog, stricter, settings.data, workers=1).processed == 9
        fewer = catalog.rows("SELECT sum(end_sec - start_sec) FROM speech WHERE source = 'silero'")[1][0][0]
        assert run_vad(catalog, settings.vad, settings.data, workers=1).processed == 9  # back to the defaults
    assert fewer < sum(e - s for _, s, e, _ in before)
    assert _rows(settings, "silero") == before


def test_two_workers_store_the_same_rows_as_one(corpus_catalog, tmp_path):
    settings, root, _ = corpus_catalog
    other = settings.model_copy(deep=True)
    other.paths.catalog = tmp_path / "other.duckdb"
    scan_and_validate(other)
    result = _invoke(other, "vad", "--workers", "2", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0] == {"what": "recordings run now", "count": 9}
    assert _rows(other, "silero") == _rows(settings, "silero")


def test_memory_is_one_block_whatever_the_length():
    """detect_speech consumes a generator block by block: peak memory is a few blocks, not the stream.

    tracemalloc sees numpy's buffers, so holding the blocks (list(blocks) first) would peak at 50
    blocks (12.8 MB) and fail here.
    """
    import tracemalloc

    settings = VadSettings()
    session = new_session()
    block_bytes = 16000 * 4 * 4  # 4 s of float32

    def blocks(n):
        for _ in range(n):
            yield np.zeros(block_bytes // 4, np.float32)

    tracemalloc.start()
    try:
        segments, total = detect_speech(blocks(50), session, settings)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert segments == [] and total == 50 * 64000
    assert peak < 5 * block_bytes, f"peak {peak / 1e6:.1f} MB for 50 blocks of {block_bytes / 1e6:.2f} MB"


def test_a_changed_file_is_the_only_one_vad_opens_again(tmp_path, settings_for, monkeypatch):
    """After one file's mtime (then another's size) changes and it is rescanned and validated, vad
    opens that recording alone; the others stay current."""
    root = tmp_path / "raw"
    for name in ("P01/a.wav", "P01/b.wav", "P02/c.wav"):
        write_tone(root / name, 2.0)
    settings = settings_for(root)
    scan_and_validate(settings)
    with Catalog.open(settings.paths.catalog) as catalog:
        assert run_vad(catalog, settings.vad, settings.data, workers=1).processed == 3

    opened: list[str] = []
    real = audio.iter_mono_blocks

    def counting(path, *args, **kwargs):
        opened.append(Path(path).name)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(audio, "iter_mono_blocks", counting)

    def rescan_then_vad() -> tuple[int, int]:
        opened.clear()
        scan_and_validate(settings)
        with Catalog.open(settings.paths.catalog) as catalog:
            summary = run_vad(catalog, settings.vad, settings.data, workers=1)
        return summary.processed, summary.skipped_current

    stat = os.stat(root / "P01/b.wav")
    os.utime(root / "P01/b.wav", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # same size, later mtime
    assert rescan_then_vad() == (1, 2) and opened == ["b.wav"]
    write_tone(root / "P02/c.wav", 3.0)  # another size
    assert rescan_then_vad() == (1, 2) and opened == ["c.wav"]
    assert rescan_then_vad() == (0, 3) and opened == []


# --------------------------------------------------------------------------- store_speech and RTTM


def test_store_speech_replaces_a_source_only_for_the_recordings_named(corpus_catalog):
    settings, _, _ = corpus_catalog
    with Catalog.open(settings.paths.catalog) as catalog:
        ids = [r[0] for r in catalog.rows("SELECT recording_id FROM recordings ORDER BY 1")[1]][:2]
        store_speech(catalog, "cp", [SpeechRow(ids[0], 1.0, 2.0, "FEM"), SpeechRow(ids[1], 3.0, 4.0001, "KCHI")])
        store_speech(catalog, "cp", [SpeechRow(ids[0], 5.0, 6.0, "MAL")], recording_ids=[ids[0]])
        with pytest.raises(Exception, match="not among the recordings"):
            store_speech(catalog, "cp", [SpeechRow(ids[1], 0.0, 1.0, "X")], recording_ids=[ids[0]])
        with pytest.raises(Exception, match="end at or after the start"):
            store_speech(catalog, "cp", [SpeechRow(ids[0], 2.0, 1.0, "X")])
    assert _rows(settings, "cp") == [(ids[0], 5.0, 6.0, "MAL"), (ids[1], 3.0, 4.0, "KCHI")]


def test_rttm_export_then_import_gives_the_same_rows_and_names_no_paths(corpus_catalog, tmp_path):
    settings, root, _ = corpus_catalog
    out = tmp_path / "silero.rttm"
    result = _invoke(settings, "vad", "export", "--format", "rttm", "--source", "silero", "-o", str(out))
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert str(root) not in text and ".wav" not in text and ".flac" not in text
    assert all(line.split()[0] == "SPEAKER" and len(line.split()) == 10 for line in text.splitlines())
    for _ in range(2):  # a re-import replaces
        result = _invoke(settings, "vad", "import", str(out), "--source", "again")
        assert result.exit_code == 0, result.output
    assert _rows(settings, "again") == _rows(settings, "silero") and len(_rows(settings, "again")) > 10


def test_rttm_import_by_file_stem_with_voice_type_labels(corpus_catalog, tmp_path):
    settings, _, _ = corpus_catalog
    vtc = tmp_path / "vtc.rttm"
    vtc.write_text(
        "SPEAKER P01_day1 1 1.000 2.500 <NA> <NA> KCHI <NA> <NA>\n"
        "SPEAKER P01_day1 1 2.000 1.000 <NA> <NA> FEM <NA> <NA>\n"
        "SPKR-INFO P01_day1 1 <NA> <NA> <NA> unknown FEM <NA> <NA>\n"
        "\n"
        "SPEAKER P02_day1 1 10.5 0.25 <NA> <NA> MAL <NA>\n"  # 9 fields: older writers
    )
    result = _invoke(settings, "vad", "import", str(vtc))
    assert result.exit_code == 0, result.output
    assert [(label, start, end) for _, start, end, label in _rows(settings, "vtc")] == [
        ("KCHI", 1.0, 3.5),
        ("FEM", 2.0, 3.0),
        ("MAL", 10.5, 10.75),
    ]


def test_every_bad_rttm_line_is_named_and_nothing_is_imported(corpus_catalog, tmp_path):
    settings, _, _ = corpus_catalog
    good = tmp_path / "fine.rttm"
    good.write_text("SPEAKER P01_day1 1 1.0 1.0 <NA> <NA> FEM <NA> <NA>\n")
    bad = tmp_path / "broken.rttm"
    bad.write_text(
        "SPEAKER P01_day1 1 1.0 1.0 <NA> <NA> FEM <NA> <NA>\n"  # fine
        "SPEAKER P01_day1 1 1.0 1.0 FEM\n"  # 6 fields
        "SPEAKER P01_day1 1 one 1.0 <NA> <NA> FEM <NA> <NA>\n"  # not a number
        "SPEAKER P01_day1 1 5.0 -1.0 <NA> <NA> FEM <NA> <NA>\n"  # negative duration
        "SPEAKER nobody 1 1.0 1.0 <NA> <NA> FEM <NA> <NA>\n"  # unknown recording
        "SPEAKER P01_day1 1 59.0 5.0 <NA> <NA> FEM <NA> <NA>\n"  # past the end (60 s)
    )
    result = _invoke(settings, "vad", "import", str(good), str(bad), "--source", "bad")
    assert result.exit_code == 1 and result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0].startswith("Error: Nothing was imported: 5 problem(s)")
    for number, words in [
        (2, "found 6"),
        (3, "must be numbers"),
        (4, "negative"),
        (5, "'nobody'"),
        (6, "past the end"),
    ]:
        assert any(f"broken.rttm, line {number}:" in line and words in line for line in lines), number
    assert "Traceback" not in result.output
    assert _rows(settings, "bad") == []


@pytest.fixture
def same_stem_catalog(tmp_path, settings_for):
    """Two families' files with one stem (scan ids them day1 and day1-<hash>) and an id with spaces."""
    root = tmp_path / "raw"
    for name in ("P01/day1.wav", "P02/day1.wav", "P03/Family 3 day1.wav"):
        write_tone(root / name, 3.0)
    settings = settings_for(root)
    with Catalog.open(settings.paths.catalog) as catalog:
        scan(catalog, settings.data)
        ids = dict(catalog.rows("SELECT rel_path, recording_id FROM recordings")[1])
    return settings, ids


def test_an_rttm_file_id_shared_by_two_families_is_an_error_not_the_first_family(same_stem_catalog, tmp_path):
    settings, ids = same_stem_catalog
    bare = next(rel for rel, rid in ids.items() if rid == "day1")  # the one scan let keep the stem
    other = next(rel for rel, rid in ids.items() if rid.startswith("day1-"))
    vtc = tmp_path / "vtc.rttm"
    vtc.write_text(
        f"SPEAKER {ids[other]} 1 0.5 1.0 <NA> <NA> FEM <NA> <NA>\n"  # the hashed id: unambiguous
        "SPEAKER day1 1 1.0 1.0 <NA> <NA> KCHI <NA> <NA>\n"  # what VTC writes for either file
    )
    result = _invoke(settings, "vad", "import", str(vtc))
    assert result.exit_code == 1, result.output
    assert (
        "vtc.rttm, line 2: file-id 'day1' names several recordings (P01/day1.wav, P02/day1.wav); "
        "write the rel_path of the one meant as the file-id." in result.stderr
    )
    assert "line 1" not in result.stderr and _rows(settings, "vtc") == []

    vtc.write_text(
        f"SPEAKER {ids[other]} 1 0.5 1.0 <NA> <NA> FEM <NA> <NA>\n"
        f"SPEAKER {bare} 1 1.0 1.0 <NA> <NA> KCHI <NA> <NA>\n"  # a rel_path names one file
    )
    result = _invoke(settings, "vad", "import", str(vtc))
    assert result.exit_code == 0, result.output
    assert _rows(settings, "vtc") == [("day1", 1.0, 2.0, "KCHI"), (ids[other], 0.5, 1.5, "FEM")]


def test_rttm_export_refuses_a_recording_id_with_whitespace(same_stem_catalog):
    settings, ids = same_stem_catalog
    spaced = ids["P03/Family 3 day1.wav"]
    assert spaced == "Family 3 day1"
    with Catalog.open(settings.paths.catalog) as catalog:
        store_speech(catalog, "vtc", [SpeechRow("day1", 0.0, 1.0, "FEM"), SpeechRow(spaced, 0.0, 1.0, "FEM")])
        out = io.StringIO()
        with pytest.raises(HomecatError) as caught:
            export_rttm(catalog, out)
    assert caught.value.lines == [
        "Recording 'Family 3 day1' cannot be exported as RTTM: its id holds whitespace, which RTTM's "
        "space-separated file-id cannot (rename the file without spaces and run 'homecat scan')."
    ]
    assert out.getvalue() == ""


# --------------------------------------------------------------------------- reports


def test_activity_report_and_plots(corpus_catalog, tmp_path):
    settings, _, _ = corpus_catalog
    from homecat.split import assign_splits

    with Catalog.open(settings.paths.catalog) as catalog:
        assign_splits(catalog, settings.split)
    png = tmp_path / "activity.png"
    env = {"HOMECAT_CROP_POLICY": "mixture"}
    result = CliRunner().invoke(
        app,
        ["--catalog", str(settings.paths.catalog), "report", "activity", "--format", "json", "--plot", str(png)],
        env=env,
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert {r["participant_id"] for r in rows} >= {"P01", "P02", "P03", "P04"}
    train = [r for r in rows if r["split"] == "train"]
    parts = ("crops_speech", "crops_speech_fallback", "crops_energy", "crops_uniform")
    assert sum(r[p] for r in train for p in parts) == pytest.approx(1.0, abs=0.01)
    assert sum(r["crops_speech"] for r in train) == pytest.approx(0.6, abs=0.01)
    assert all(r["speech_hours"] <= r["hours"] and r["active_hours"] <= r["hours"] for r in rows)
    assert all("silero/speech" in r["speech_hours_by_source_label"] for r in rows)
    assert png.stat().st_size > 10_000

    preview = CliRunner().invoke(
        app,
        ["--catalog", str(settings.paths.catalog), "crops", "preview", "--n", "6", "--format", "json"],
        env={"HOMECAT_CROP_POLICY": "speech", "HOMECAT_CROP_SEC": "2"},
    )
    assert preview.exit_code == 0, preview.output
    crops = json.loads(preview.stdout)
    assert {c["policy"] for c in crops} <= {"speech", "energy_fallback"} and len(crops) == 6
    assert all(c["speech_share"] >= 0.5 for c in crops if c["policy"] == "speech")

    timeline = tmp_path / "timeline.png"
    result = _invoke(settings, "report", "timeline", "P01/P01_day1.wav", "--plot", str(timeline), "--format", "json")
    assert result.exit_code == 0, result.output
    lanes = {r["lane"]: r for r in json.loads(result.stdout)}
    assert lanes["silero/speech"]["turns"] > 0 and 0 < lanes["silero/speech"]["share"] < 1
    assert timeline.stat().st_size > 10_000
    missing = _invoke(settings, "report", "timeline", "P09/nothing.wav")
    assert missing.exit_code == 1 and "P09/nothing.wav" in missing.stderr
