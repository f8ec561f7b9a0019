"""The crop dataset: exact lengths for every format, bounded silence rejection, determinism, no writes."""

from __future__ import annotations

import json
import logging
import pickle
import tempfile

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader
from typer.testing import CliRunner

from homecat.catalog import Catalog
from homecat.cli import app
from homecat.crop_snapshot import build_crop_index, write_snapshot
from homecat.crops import CropDataset, CropIndex, NoCrops, dev_crops, read_crop
from homecat.errors import HomecatError
from homecat.split import assign_splits
from tests.catalog_helpers import demo_catalog, scan_and_validate
from tests.conftest import write_tone

CROP_SEC = 2.0


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo corpus, validated and split (module-wide: reading it is what the tests do)."""
    tmp_path = tmp_path_factory.mktemp("demo")
    from homecat.settings import load_settings

    def settings_for(root, **overrides):
        values = {"paths.catalog": tmp_path / "catalog.duckdb", "data.raw_audio_root": root, **overrides}
        return load_settings(overrides=values, environ={}, cwd=tmp_path).settings

    settings, root = demo_catalog(tmp_path, settings_for)
    with Catalog.open(settings.paths.catalog) as catalog:
        assign_splits(catalog, settings.split)
        index = build_crop_index(catalog, ["train", "dev"], CROP_SEC)
    return settings, root, index


def _dataset(settings, index, rank=0, epoch=0, **crops):
    values = {"crop_sec": CROP_SEC, "crops_per_epoch": 12, **crops}
    return CropDataset(index, settings.crops.model_copy(update=values), settings.data, rank=rank, epoch=epoch)


def test_crops_are_exactly_crop_sec_at_16k_for_every_format_rate_and_channel_count(tmp_path, settings_for):
    root = tmp_path / "raw"
    write_tone(root / "A" / "mono16k.wav", 6.0)
    write_tone(root / "B" / "mono16k.flac", 6.0)
    write_tone(root / "C" / "stereo44k.wav", 6.0, sample_rate=44100, channels=2)
    write_tone(root / "D" / "stereo48k24.wav", 6.0, sample_rate=48000, channels=2, subtype="PCM_24")
    write_tone(root / "E" / "float.wav", 6.0, subtype="FLOAT")
    settings = settings_for(root, **{"split.dev_fraction": 0.0})
    scan_and_validate(settings)
    with Catalog.open(settings.paths.catalog) as catalog:
        assign_splits(catalog, settings.split)
        index = build_crop_index(catalog, ["train"], CROP_SEC)
    assert len(index) == 5
    dataset = _dataset(settings, index, max_silence_retries=0)
    for i in range(len(index)):  # every recording, at its start, in the middle and at its very end
        for start in (0, int(index.frames[i]) // 3, int(index.frames[i]) - 1):
            samples = dataset.read(i, min(start, int(index.frames[i]) - int(CROP_SEC * index.sample_rate[i])))
            assert samples.dtype == np.float32 and samples.shape == (int(CROP_SEC * 16000),)
            # a 0.1-amplitude sine is -23 dBFS whatever the file's rate, channels or encoding
            assert 20 * np.log10(np.sqrt(np.mean(samples**2))) == pytest.approx(-23.0, abs=0.3)
    item = dataset[0]
    assert item["input_values"].shape == (32000,) and item["input_values"].dtype == torch.float32


@pytest.mark.parametrize("on_silent", ["accept", "mark", "skip"])
def test_silence_rejection_ends_on_an_all_silent_corpus_and_obeys_on_silent(demo, on_silent, caplog):
    settings, _, index = demo
    silent_index = pickle.loads(pickle.dumps(index))
    silent_index.activity_threshold_dbfs[:] = 0.0  # nothing reaches 0 dBFS: every crop is silent
    dataset = _dataset(settings, silent_index, max_silence_retries=3, on_silent=on_silent)
    with caplog.at_level(logging.WARNING, logger="homecat.crops"):
        crops = [dataset.draw(k) for k in range(3)]
    expected = {"accept": ("silent_accepted", False, 4), "mark": ("silent_marked", True, 4)}
    expected["skip"] = ("skip_exhausted", True, 4 * min(4, len(index)))
    for crop in crops:
        assert (crop.outcome, crop.silent, crop.attempts) == expected[on_silent]
        assert len(crop.samples) == CROP_SEC * 16000
    assert dataset[0]["silent"] is expected[on_silent][1]
    assert len([r for r in caplog.records if "silent" in r.getMessage()]) == (1 if on_silent == "skip" else 0)


def test_energy_starts_draw_fewer_silent_crops_than_uniform(demo):
    settings, _, index = demo
    rates = {}
    for policy in ("energy", "uniform"):
        dataset = _dataset(settings, index, crop_policy=policy, max_silence_retries=0)
        rates[policy] = np.mean([dataset.draw(k).outcome != "ok" for k in range(40)])
    assert rates["energy"] < rates["uniform"]


def _loader_crops(dataset, workers):
    loader = DataLoader(dataset, batch_size=4, num_workers=workers, sampler=dataset.sampler())
    return torch.cat([batch["input_values"] for batch in loader])


@pytest.mark.filterwarnings("ignore:This DataLoader will create")
def test_the_same_crops_for_0_1_and_3_dataloader_workers(demo):
    settings, _, index = demo
    dataset = _dataset(settings, index)
    reference = _loader_crops(dataset, 0)
    assert reference.shape == (12, 32000)
    for workers in (1, 3):
        assert torch.equal(_loader_crops(dataset, workers), reference)


def test_ranks_and_epochs_draw_different_crops_and_a_redraw_is_identical(demo):
    settings, _, index = demo
    draws = {
        key: [(c.recording_index, c.start_frame) for c in map(_dataset(settings, index, *key).draw, range(8))]
        for key in [(0, 0), (1, 0), (0, 1)]
    }
    assert draws[(0, 0)] != draws[(1, 0)] and draws[(0, 0)] != draws[(0, 1)]
    again = _dataset(settings, index, 0, 0)
    assert [(c.recording_index, c.start_frame) for c in map(again.draw, range(8))] == draws[(0, 0)]


def test_resuming_from_state_dict_continues_with_the_same_crops(demo):
    settings, _, index = demo
    full = _loader_crops(_dataset(settings, index, epoch=2), 0)
    first = _dataset(settings, index, epoch=2)
    first.advance(8)  # the trainer consumed two batches of 4, then checkpointed
    state = first.state_dict()
    resumed = _dataset(settings, index)
    resumed.load_state_dict(state)
    assert state["epoch"] == 2 and len(resumed.sampler()) == 4
    assert torch.equal(_loader_crops(resumed, 0), full[8:])
    resumed.set_epoch(3)
    assert resumed.position == 0


def test_sampling_creates_no_file_anywhere(demo, tmp_path, monkeypatch):
    settings, root, index = demo
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    monkeypatch.setenv("TMPDIR", str(scratch))
    watched = [root, scratch, settings.paths.catalog.parent]

    def listing():
        return {(p, p.stat().st_size, p.stat().st_mtime_ns) for folder in watched for p in folder.rglob("*")}

    before = listing()
    dataset = _dataset(settings, index)
    _loader_crops(dataset, 2)
    dev_set = dev_crops(index, 4, CROP_SEC)
    [read_crop(dataset, spec) for spec in dev_set]
    assert listing() == before


def test_index_snapshot_and_pickle_round_trip_without_duckdb(demo, tmp_path):
    settings, _, index = demo
    path = write_snapshot(index, tmp_path / "run" / "crop_index.parquet")
    loaded = CropIndex.load(path)
    for name in ("recording_id", "rel_path", "path", "split", "sample_rate", "channels", "frames"):
        assert np.array_equal(getattr(loaded, name), getattr(index, name)), name
    assert np.array_equal(loaded.active_offsets, index.active_offsets)
    assert np.array_equal(loaded.active_windows, index.active_windows)
    assert loaded.summary() == index.summary()
    blob = pickle.dumps(_dataset(settings, loaded))
    assert b"duckdb" not in blob
    a, b = _dataset(settings, index), pickle.loads(blob)
    assert np.array_equal(a.draw(5).samples, b.draw(5).samples)
    with pytest.raises(Exception, match="not a crop index snapshot"):
        CropIndex.load(settings.paths.catalog)


def test_recordings_shorter_than_a_crop_are_left_out_and_counted(demo):
    settings, _, index = demo
    with Catalog.open(settings.paths.catalog, read_only=True) as catalog:
        long_index = build_crop_index(catalog, ["train", "dev"], 20.0)
    # the truncated recording (12 s readable of 30) cannot give a 20 s crop
    assert "P02_truncated" in index.recording_id and "P02_truncated" not in long_index.recording_id
    assert long_index.excluded_short == 1 and long_index.summary()["hours_shorter_than_a_crop"] > 0
    with pytest.raises(Exception, match="built for 2.0 s crops"):
        _dataset(settings, index, crop_sec=20.0)


def test_a_vanished_file_is_logged_once_and_skipped(tmp_path, settings_for, caplog):
    root = tmp_path / "raw"
    for p in range(3):
        write_tone(root / f"P{p}" / f"P{p}.wav", 4.0)
    settings = settings_for(root, **{"split.dev_fraction": 0.0})
    scan_and_validate(settings)
    with Catalog.open(settings.paths.catalog) as catalog:
        assign_splits(catalog, settings.split)
        index = build_crop_index(catalog, ["train"], CROP_SEC)
    (root / "P1" / "P1.wav").unlink()
    dataset = _dataset(settings, index, on_silent="accept", max_silence_retries=0)
    with caplog.at_level(logging.WARNING, logger="homecat.crops"):
        crops = [dataset.draw(k) for k in range(30)]
    assert len([r for r in caplog.records if "P1.wav" in r.getMessage()]) == 1
    assert {str(index.rel_path[c.recording_index]) for c in crops} == {"P0/P0.wav", "P2/P2.wav"}
    for p in (0, 2):
        (root / f"P{p}" / f"P{p}.wav").unlink()
    with pytest.raises(NoCrops, match="can be read"):
        dataset.draw(99)


def test_dev_crops_are_the_same_list_every_time(demo):
    settings, _, index = demo
    first = dev_crops(index, 16, CROP_SEC)
    assert first == dev_crops(pickle.loads(pickle.dumps(index)), 16, CROP_SEC) and len(first) == 16
    assert len({(s.recording_index, s.start_frame) for s in first}) == 16
    for spec in first:
        assert (
            spec.start_frame + CROP_SEC * index.sample_rate[spec.recording_index] <= index.frames[spec.recording_index]
        )


def test_crops_preview_cli_reports_each_crop_and_totals(demo):
    settings, _, _ = demo
    result = CliRunner().invoke(
        app,
        ["--catalog", str(settings.paths.catalog), "crops", "preview", "--n", "5", "--format", "json"],
        env={"HOMECAT_CROP_SEC": str(CROP_SEC)},
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["samples"] for r in rows] == [32000] * 5
    columns = {"k", "rel_path", "start_sec", "samples", "rms_dbfs", "attempts", "outcome", "policy", "speech_share"}
    assert set(rows[0]) == columns
    totals = json.loads(result.stderr.split("totals: ", 1)[1])
    assert totals["crops"] == 5 and 0 <= totals["silent_rate"] <= 1 and totals["mean_attempts"] >= 1
    listen = CliRunner().invoke(
        app,
        ["--catalog", str(settings.paths.catalog), "crops", "preview", "--n", "5", "--listen", "--format", "json"],
        env={"HOMECAT_CROP_SEC": str(CROP_SEC)},
    )
    heard = json.loads(listen.stdout)
    assert [r["start_sec"] for r in heard] == [r["start_sec"] for r in rows]  # the same crops, plus how to hear them
    for row in heard:  # the raw file's window, by SoX's play: no audio is written for listening
        assert row["listen"].startswith("play -q /") and row["listen"].endswith(
            f" trim {row['start_sec']:.3f} {CROP_SEC:g}"
        )
        assert row["rel_path"] in row["listen"]


# --------------------------------------------------------------------------- crop policies (speech rows from `homecat vad`)


@pytest.fixture(scope="module")
def speech_demo(demo):
    """The demo catalog with Silero's speech rows, and a train+dev index that carries them."""
    from homecat.vad import run_vad

    settings, root, _ = demo
    with Catalog.open(settings.paths.catalog) as catalog:
        run_vad(catalog, settings.vad, settings.data, workers=1)
        index = build_crop_index(catalog, ["train", "dev"], CROP_SEC, "silero")
    return settings, root, index


def test_speech_start_ranges_are_exactly_where_a_crop_holds_the_share():
    from homecat.crops import speech_start_ranges
    from homecat.crops.index import covered

    rng = np.random.default_rng(3)
    for _ in range(30):
        starts = np.sort(rng.uniform(0, 100, 8))
        ends = np.minimum(starts + rng.uniform(0.1, 4, 8), np.r_[starts[1:], 200])
        crop_sec, max_start, share = 4.0, 96.0, rng.uniform(0.1, 0.9)
        grid = np.linspace(0, max_start, 20001)
        speech = covered(starts, ends, grid + crop_sec) - covered(starts, ends, grid)
        need = min(share * crop_sec, speech.max())
        lo, hi = speech_start_ranges(starts, ends, crop_sec, max_start, share)
        inside = np.zeros(len(grid), bool)
        for a, b in zip(lo, hi):
            inside |= (grid >= a - 1e-9) & (grid <= b + 1e-9)
        # every grid start inside a range holds the share; every one outside does not (up to the grid step)
        assert np.all(speech[inside] >= need - 1e-6)
        assert np.all(speech[~inside] <= need + 0.02)
    assert speech_start_ranges(np.zeros(0), np.zeros(0), 4.0, 96.0, 0.5) is None


def test_overlapping_and_touching_turns_are_merged_before_crops_use_them():
    from homecat.crop_snapshot import _merge_turns

    starts, ends = _merge_turns([[1.0, 2.0], [1.5, 3.0], [3.0, 4.0], [5.0, 6.0], [0.5, 0.7], [7.0, 7.0]])
    assert starts.tolist() == [0.5, 1.0, 5.0] and ends.tolist() == [0.7, 4.0, 6.0]


def _best_share(index, i):
    """The largest share of speech any crop of recording i holds (brute force over a fine grid of starts)."""
    from homecat.crops.index import covered

    starts, ends = index.speech(i)
    grid = np.linspace(0, index.duration_sec[i] - CROP_SEC, 20001)
    return float(np.max(covered(starts, ends, grid + CROP_SEC) - covered(starts, ends, grid))) / CROP_SEC


@pytest.mark.parametrize("policy", ["uniform", "energy", "speech", "mixture"])
def test_each_policy_draws_as_specified_and_reports_its_part(speech_demo, policy):
    settings, _, index = speech_demo
    dataset = _dataset(settings, index, crop_policy=policy, max_silence_retries=0, min_speech_share=0.5)
    crops = [dataset.draw(k) for k in range(120)]
    parts = {c.policy for c in crops}
    shares = np.array([c.speech_share for c in crops])
    if policy == "mixture":
        counts = {part: sum(c.policy == part for c in crops) / len(crops) for part in parts}
        assert parts - {"energy_fallback"} == {"speech", "energy", "uniform"}
        speech_part = counts["speech"] + counts.get("energy_fallback", 0)
        assert speech_part == pytest.approx(0.6, abs=0.12) and counts["uniform"] == pytest.approx(0.1, abs=0.08)
        # the part of crop k is a function of (seed, epoch, rank, k): a copy draws the same parts
        copy = pickle.loads(pickle.dumps(dataset))
        assert [copy.draw(k).policy for k in range(20)] == [c.policy for c in crops[:20]]
        speech_crops = [c for c in crops if c.policy == "speech"]
        assert all(c.speech_share >= min(0.5, _best_share(index, c.recording_index)) - 1e-3 for c in speech_crops)
    elif policy == "speech":
        # `homecat vad` processed one demo recording and found no speech in it: no crop comes from it (its share
        # goes to the recordings with speech), none is drawn by energy instead
        speechless = {int(i) for i in index.speechless_processed()}
        assert len(speechless) == 1 and index.without_speech == 1
        assert parts == {"speech"} and not speechless & {c.recording_index for c in crops}
        # each holds at least min_speech_share of speech, or the most any crop of its recording can hold
        assert all(c.speech_share >= min(0.5, _best_share(index, c.recording_index)) - 1e-3 for c in crops)
        assert np.mean(shares >= 0.5) > 0.8
    else:
        assert parts == {policy}
    means = {}
    for name in ("uniform", "energy", "speech"):
        other = _dataset(settings, index, crop_policy=name, max_silence_retries=0)
        means[name] = np.mean([other.draw(k).speech_share for k in range(120)])
    assert means["uniform"] < means["energy"] < means["speech"]


def test_recordings_without_speech_rows_fall_back_to_energy_with_one_warning(speech_demo, caplog):
    from homecat.speech import SpeechRow, store_speech

    settings, _, _ = speech_demo
    with Catalog.open(settings.paths.catalog) as catalog:
        rows = catalog.rows("SELECT recording_id, start_sec, end_sec FROM speech WHERE source = 'silero'")[1]
        first = min(r[0] for r in rows)
        store_speech(catalog, "one_recording", [SpeechRow(rid, s, e, "FEM") for rid, s, e in rows if rid == first])
        index = build_crop_index(catalog, ["train", "dev"], CROP_SEC, "one_recording", ["FEM"])
    with caplog.at_level(logging.WARNING, logger="homecat.crops"):
        dataset = _dataset(settings, index, crop_policy="speech", speech_source="one_recording", speech_labels=["FEM"])
        dataset.check_speech_rows()  # what training and `crops preview` call before drawing
        crops = [dataset.draw(k) for k in range(40)]
    warnings = [r.getMessage() for r in caplog.records if "no speech rows" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].startswith(f"{len(index) - 1} of {len(index)} recordings")
    for crop in crops:
        from_first = index.recording_id[crop.recording_index] == first
        assert crop.policy == ("speech" if from_first else "energy_fallback")
    with pytest.raises(Exception, match="build it again"):
        _dataset(settings, index, crop_policy="speech")  # the index holds another source than the settings

    # labels that match nothing (KCHI where the rows say FEM): not all crops silently by energy, one sentence
    with Catalog.open(settings.paths.catalog) as catalog:
        index = build_crop_index(catalog, ["train", "dev"], CROP_SEC, "one_recording", ["KCHI"])
    dataset = _dataset(settings, index, crop_policy="mixture", speech_source="one_recording", speech_labels=["KCHI"])
    with pytest.raises(
        HomecatError, match=r"none of the \d+ recordings has speech rows of source 'one_recording' with labels KCHI"
    ):
        dataset.check_speech_rows()


def test_silero_rows_of_a_changed_file_steer_nothing_until_vad_runs_again(tmp_path, settings_for):
    from homecat.speech import SpeechRow, store_speech
    from homecat.vad import run_vad

    root = tmp_path / "raw"
    for name in ("P01/a.wav", "P02/b.wav"):
        write_tone(root / name, 12.0)
    settings = settings_for(root)
    scan_and_validate(settings)
    with Catalog.open(settings.paths.catalog) as catalog:
        assign_splits(catalog, settings.split.model_copy(update={"dev_fraction": 0.0}))
        run_vad(catalog, settings.vad, settings.data, workers=1)  # tones: no speech, but vad_state is current
        store_speech(catalog, "silero", [SpeechRow("a", 1.0, 5.0, "speech"), SpeechRow("b", 1.0, 5.0, "speech")])
        current = "SELECT recording_id FROM current_speech ORDER BY 1"
        assert catalog.rows(current)[1] == [("a",), ("b",)]

    write_tone(root / "P01" / "a.wav", 10.0, freq_hz=300.0)  # replaced by another take
    scan_and_validate(settings)
    with Catalog.open(settings.paths.catalog) as catalog:
        assert catalog.rows(current)[1] == [("b",)]  # a's old turns describe the old file
        index = build_crop_index(catalog, ["train"], CROP_SEC, "silero")
        assert {rid: len(index.speech(i)[0]) for i, rid in enumerate(index.recording_id)} == {"a": 0, "b": 1}
        run_vad(catalog, settings.vad, settings.data, workers=1)
        assert catalog.rows(current)[1] == [("b",)]  # a was run again (a tone: no speech), b was not
        assert catalog.rows("SELECT count(*) FROM speech WHERE recording_id = 'b'")[1] == [(1,)]


@pytest.mark.filterwarnings("ignore:This DataLoader will create")
def test_mixture_crops_are_the_same_for_0_and_2_dataloader_workers_and_survive_a_snapshot(speech_demo, tmp_path):
    settings, _, index = speech_demo
    dataset = _dataset(settings, index, crop_policy="mixture")
    reference = _loader_crops(dataset, 0)
    assert torch.equal(_loader_crops(dataset, 2), reference)
    loaded = CropIndex.load(write_snapshot(index, tmp_path / "index.parquet"))
    assert loaded.speech_source == "silero" and np.array_equal(loaded.speech_start_sec, index.speech_start_sec)
    assert torch.equal(_loader_crops(_dataset(settings, loaded, crop_policy="mixture"), 0), reference)


def test_the_old_activity_aware_setting_still_means_energy_or_uniform(settings_for):
    assert settings_for(**{"crops.activity_aware": False}).crops.crop_policy == "uniform"
    assert settings_for(**{"crops.activity_aware": True}).crops.crop_policy == "energy"
    from homecat.settings import CropSettings

    with pytest.raises(Exception, match="speech, energy or uniform"):
        CropSettings(policy_weights={"speech": 1.0, "music": 1.0})
