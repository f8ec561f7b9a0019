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
from homecat.crops import CropDataset, CropIndex, NoCrops, build_crop_index, dev_crops, read_crop
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
            samples = dataset._read(i, min(start, int(index.frames[i]) - int(CROP_SEC * index.sample_rate[i])))
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


def test_activity_aware_starts_draw_fewer_silent_crops_than_uniform(demo):
    settings, _, index = demo
    rates = {}
    for aware in (True, False):
        dataset = _dataset(settings, index, activity_aware=aware, max_silence_retries=0)
        rates[aware] = np.mean([dataset.draw(k).outcome != "ok" for k in range(40)])
    assert rates[True] < rates[False]


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
    path = index.save(tmp_path / "run" / "crop_index.parquet")
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
    assert set(rows[0]) == {"k", "rel_path", "start_sec", "samples", "rms_dbfs", "attempts", "outcome"}
    totals = json.loads(result.stderr.split("totals: ", 1)[1])
    assert totals["crops"] == 5 and 0 <= totals["silent_rate"] <= 1 and totals["mean_attempts"] >= 1
