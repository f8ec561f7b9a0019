"""`homecat embed` on real files and a real catalog with tiny random wav2vec2 models saved with save_pretrained."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from homecat import audio
from homecat.catalog import Catalog
from homecat.cli import app
from homecat.embed import embed, layer_column, part_files, read_layer, receptive_field, stored_ids, windows
from homecat.errors import HomecatError
from homecat.scan import scan
from homecat.weights import Weights
from tests.conftest import TINY, write_tone


def save_tiny_model(folder: Path, seed: int = 0, **config) -> Path:
    """A tiny random Wav2Vec2ForPreTraining (pretraining heads included) with its feature extractor."""
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2ForPreTraining

    torch.manual_seed(seed)
    cfg = Wav2Vec2Config(**{**TINY, **config})
    Wav2Vec2ForPreTraining(cfg).save_pretrained(folder)
    layer_norm = cfg.feat_extract_norm == "layer"
    Wav2Vec2FeatureExtractor(do_normalize=True, return_attention_mask=layer_norm).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("models") / "tiny")


def add_segments(catalog_path: Path, rows: list[tuple[str, str, float, float, str]]) -> None:
    """(segment_id, recording_id, start_sec, end_sec, label) rows, as `homecat segments import` writes them."""
    with Catalog.open(catalog_path) as catalog:
        for sid, rid, start, end, label in rows:
            catalog.con.execute(
                "INSERT INTO segments (segment_id, recording_id, start_sec, end_sec, label, tier, source, imported_at) "
                "VALUES (?, ?, ?, ?, ?, '', 'test.csv', now())",
                [sid, rid, start, end, label],
            )


def scanned(settings_for, root: Path, **overrides):
    settings = settings_for(root, **{"paths.artifacts_dir": root.parent / "artifacts", **overrides})
    with Catalog.open(settings.paths.catalog) as catalog:
        scan(catalog, settings.data)
    return settings


@pytest.fixture
def spy_reads(monkeypatch) -> list[tuple[str, int, int]]:
    """Every audio.read_window call (path, start_frame, num_frames); the real read still happens."""
    calls: list[tuple[str, int, int]] = []
    real = audio.read_window

    def spy(path, start_frame, num_frames):
        calls.append((Path(path).name, start_frame, num_frames))
        return real(path, start_frame, num_frames)

    monkeypatch.setattr(audio, "read_window", spy)
    return calls


def test_windows_and_receptive_field():
    assert windows(100, 40) == [(0, 34), (34, 33), (67, 33)]  # nearly equal, no short tail
    assert windows(40, 40) == [(0, 40)] and windows(10, 40) == [(0, 10)]
    assert receptive_field([10, 3, 3, 3, 3, 2, 2], [5, 2, 2, 2, 2, 2, 2]) == 400  # wav2vec2-base: 25 ms
    assert receptive_field(TINY["conv_kernel"], TINY["conv_stride"]) == 45


def test_embedding_reads_only_the_segment_whatever_the_file_length(tmp_path, settings_for, tiny, spy_reads):
    """A 2 s segment of a 1-hour file costs the same reads as one of a 1-minute file: one window of 2 s."""
    root = tmp_path / "raw"
    tone = (0.1 * np.sin(2 * np.pi * 220 * np.arange(8000 * 60) / 8000)).astype(np.float32)[:, None]
    audio.write_audio(root / "P01" / "minute.wav", iter([tone]), 8000, 1)
    audio.write_audio(root / "P02" / "hour.wav", iter([tone] * 60), 8000, 1)  # 60 x the same minute
    settings = scanned(settings_for, root)
    add_segments(settings.paths.catalog, [("m", "minute", 30.0, 32.0, "a"), ("h", "hour", 30.0, 32.0, "a")])

    [summary] = embed(settings, models=[str(tiny)])
    assert (summary.computed, summary.segments) == (2, 2)
    assert sorted(spy_reads) == [("hour.wav", 240000, 16000), ("minute.wav", 240000, 16000)]
    folder = settings.paths.artifacts_dir / "embeddings" / "tiny"
    last = read_layer(folder, 2, {"m": 0, "h": 1})
    np.testing.assert_allclose(last[0], last[1], atol=1e-6)  # same samples, same vector


def _expected(model_dir: Path, samples: np.ndarray, spans: list[tuple[int, int]]) -> np.ndarray:
    """The pooled vector computed by hand: each window on its own, weighted by its frame count."""
    from transformers import Wav2Vec2Model

    from homecat.wav2vec2 import normalise_crops

    model = Wav2Vec2Model.from_pretrained(model_dir).eval()
    sums, frames = 0.0, 0
    for offset, length in spans:
        x = normalise_crops(torch.from_numpy(samples[offset : offset + length])[None], True)
        with torch.no_grad():
            hidden = torch.stack(model(x, output_hidden_states=True).hidden_states)[:, 0]  # [layers, frames, dim]
        sums = sums + hidden.sum(1).double().numpy()
        frames += hidden.shape[1]
    return sums / frames


def test_layers_and_long_segments_in_windows(tmp_path, settings_for, tiny):
    root = tmp_path / "raw"
    write_tone(root / "P01" / "a.wav", 4.0, freq_hz=330.0)
    settings = scanned(settings_for, root, **{"embed.max_segment_sec": 1.0})
    add_segments(settings.paths.catalog, [("long", "a", 0.5, 3.0, "x")])
    embed(settings, models=[str(tiny)])

    import pyarrow.parquet as pq

    folder = settings.paths.artifacts_dir / "embeddings" / "tiny"
    [part] = part_files(folder)
    table = pq.read_table(part)
    assert table.column_names == [
        "segment_id",
        "frames",
        "audio_version",
        *[layer_column(k) for k in range(3)],
    ]  # layers 0..N
    samples = audio.read_window(root / "P01" / "a.wav", 8000, 40000)[:, 0]
    spans = windows(40000, 16000)  # 2.5 s in windows of at most 1 s: three of ~0.83 s
    assert len(spans) == 3
    expected = _expected(tiny, samples, spans)
    got = np.stack([read_layer(folder, k, {"long": 0})[0] for k in range(3)])
    np.testing.assert_allclose(got, expected, atol=2e-5)
    # not simply one window: the plain mean of the whole segment in one pass differs
    assert not np.allclose(got, _expected(tiny, samples, [(0, 40000)]), atol=1e-4)
    with Catalog.open(settings.paths.catalog) as catalog:
        row = catalog.con.execute(
            "SELECT kind, n_layers, dim, segment_count, path, weights_sha256, run_name, step FROM embedding_sets"
        ).fetchone()
    # the weights named by the sha256sum of their file; a folder outside a run has no run or step
    sha = hashlib.sha256((tiny / "model.safetensors").read_bytes()).hexdigest()
    assert row == ("wav2vec2", 3, 32, 1, "embeddings/tiny", sha, None, None)


class _RampPool:
    """An extractor whose 'frames' depend on the window's content (its mean level), so that weighting by
    frames and a plain mean of the window means give clearly different vectors."""

    kind, n_layers, dim, min_samples, batch_size, padded = "test", 1, 1, 1, 1, False

    def fits(self, batch, x):
        return not batch

    def pool(self, xs):
        out = []
        for x in xs:
            frames = 1 + int(abs(float(x.mean())) * 100)
            out.append((np.full((1, 1), float(x.mean()) * frames), frames))
        return out


def test_windows_of_a_long_segment_are_combined_weighted_by_their_frames(tmp_path, settings_for):
    from homecat.embed import Segment, SetSummary, _PartWriter, _run

    root = tmp_path / "raw"
    ramp = np.linspace(0.0, 0.9, 48000, dtype=np.float32)[:, None]  # 3 s rising from silence to loud
    audio.write_audio(root / "P01" / "ramp.wav", iter([ramp]), 16000, 1, subtype="FLOAT")
    settings = scanned(settings_for, root, **{"embed.max_segment_sec": 1.0})
    segment = Segment("s", "ramp", "P01/ramp.wav", str(root / "P01" / "ramp.wav"), 16000, 1, 48000, 0.0, 3.0, "x", "v1")
    folder = tmp_path / "set"
    folder.mkdir()
    writer = _PartWriter(folder, 1, 1, rows_per_group=4)
    summary = SetSummary("set", "test")
    _run(settings, _RampPool(), "set", [segment], writer, summary, None)
    writer.close()
    means = [float(ramp[o : o + n].mean()) for o, n in windows(48000, 16000)]
    frames = [1 + int(abs(m) * 100) for m in means]
    weighted = sum(m * f for m, f in zip(means, frames)) / sum(frames)
    got = read_layer(folder, 0, {"s": 0})[0, 0]
    assert got == pytest.approx(weighted, rel=1e-5)
    assert abs(weighted - np.mean(means)) > 0.05  # the plain mean of window means would fail the line above


def test_padded_batches_of_layer_norm_models_equal_one_window_at_a_time(tmp_path, settings_for):
    """Layer-norm encoders get zero-padded batches with an attention mask: the vectors do not change."""
    model = save_tiny_model(tmp_path / "ln", feat_extract_norm="layer", do_stable_layer_norm=True)
    root = tmp_path / "raw"
    write_tone(root / "P01" / "a.wav", 6.0, freq_hz=250.0)
    rows = [(f"s{i}", "a", 0.1 * i, 0.1 * i + 0.3 + 0.17 * i, "x") for i in range(8)]
    vectors = {}
    for batch_size in (1, 8):
        settings = scanned(settings_for, root, **{"embed.embed_batch_size": batch_size})
        if batch_size == 1:
            add_segments(settings.paths.catalog, rows)
        embed(settings, models=[str(model)], name=f"b{batch_size}")
        folder = settings.paths.artifacts_dir / "embeddings" / f"b{batch_size}"
        vectors[batch_size] = read_layer(folder, 2, {r[0]: i for i, r in enumerate(rows)})
    np.testing.assert_allclose(vectors[1], vectors[8], atol=1e-4)


def test_rerun_computes_only_new_segments_and_other_weights_are_an_error(tmp_path, settings_for, tiny, spy_reads):
    root = tmp_path / "raw"
    write_tone(root / "P01" / "a.wav", 5.0)
    settings = scanned(settings_for, root)
    add_segments(settings.paths.catalog, [("s1", "a", 0.0, 1.0, "x"), ("s2", "a", 1.0, 2.5, "y")])
    first = embed(settings, models=[str(tiny)])[0]
    assert first.computed == 2
    spy_reads.clear()
    again = embed(settings, models=[str(tiny)])[0]
    assert (again.computed, again.already, again.segments) == (0, 2, 2) and spy_reads == []
    folder = settings.paths.artifacts_dir / "embeddings" / "tiny"
    assert len(part_files(folder)) == 1  # nothing new: no new part

    add_segments(settings.paths.catalog, [("s3", "a", 3.0, 4.0, "x")])
    third = embed(settings, models=[str(tiny)])[0]
    assert (third.computed, third.segments) == (1, 3) and [c[2] for c in spy_reads] == [16000]
    assert len(part_files(folder)) == 2 and sorted(stored_ids(folder)) == ["s1", "s2", "s3"]

    # the file replaced by another take (same length, other sound): its vectors describe the old audio
    before = read_layer(folder, 2, {"s1": 0})
    write_tone(root / "P01" / "a.wav", 5.0, freq_hz=440.0)
    with Catalog.open(settings.paths.catalog) as catalog:
        scan(catalog, settings.data)
    spy_reads.clear()
    fourth = embed(settings, models=[str(tiny)])[0]
    assert (fourth.computed, fourth.already, fourth.segments) == (3, 0, 3) and len(spy_reads) == 3
    assert not np.allclose(read_layer(folder, 2, {"s1": 0}), before, atol=1e-4)  # the newest part wins
    assert embed(settings, models=[str(tiny)])[0].computed == 0

    other = save_tiny_model(tmp_path / "other" / "tiny", seed=1)
    with pytest.raises(HomecatError, match="holds vectors of other weights.*--overwrite"):
        embed(settings, models=[str(other)])
    replaced = embed(settings, models=[str(other)], overwrite=True)[0]
    assert (replaced.computed, replaced.segments) == (3, 3) and len(part_files(folder)) == 1
    changed = settings.model_copy(update={"embed": settings.embed.model_copy(update={"max_segment_sec": 5.0})})
    with pytest.raises(HomecatError, match="other settings \\(max_segment_sec 20.0 -> 5.0\\)"):
        embed(changed, models=[str(other)])


def test_too_short_segment_is_a_finding_not_a_crash(tmp_path, settings_for, tiny):
    root = tmp_path / "raw"
    write_tone(root / "P01" / "a.wav", 3.0)
    settings = scanned(settings_for, root)
    # 2 ms = 32 samples, under the tiny conv stack's 45-sample receptive field
    add_segments(settings.paths.catalog, [("ok", "a", 0.0, 1.0, "x"), ("blip", "a", 1.0, 1.002, "x")])
    for _ in range(2):  # a rerun writes the same finding again, not a second one
        [summary] = embed(settings, models=[str(tiny)])
        assert (summary.too_short, summary.segments) == (1, 1)
    with Catalog.open(settings.paths.catalog) as catalog:
        rows = catalog.con.execute("SELECT code, severity, stage, message FROM findings").fetchall()
    assert len(rows) == 1
    code, severity, stage, message = rows[0]
    assert (code, severity, stage) == ("segment_too_short", "warning", "embed")
    assert "P01/a.wav" in message and "32 samples" in message and "45" in message


def test_egemaps_set_has_one_layer_of_88(tmp_path, settings_for):
    root = tmp_path / "raw"
    write_tone(root / "P01" / "a.wav", 3.0)
    settings = scanned(settings_for, root)
    add_segments(settings.paths.catalog, [("s1", "a", 0.0, 1.0, "x"), ("s2", "a", 1.0, 1.03, "x")])
    [summary] = embed(settings, features=["egemaps"])
    assert (summary.set_name, summary.kind, summary.segments, summary.too_short) == ("egemaps", "egemaps", 1, 1)
    vectors = read_layer(settings.paths.artifacts_dir / "embeddings" / "egemaps", 0, {"s1": 0})
    assert vectors.shape == (1, 88) and np.isfinite(vectors).all()
    assert (summary.weights_sha256, summary.step) == (None, None)  # handcrafted: no weights
    with Catalog.open(settings.paths.catalog) as catalog:
        assert catalog.con.execute("SELECT weights_sha256, step FROM embedding_sets").fetchall() == [(None, None)]


def test_weights_name_their_run_and_step_and_hash_shards_in_a_stable_order(tmp_path, tiny):
    import shutil

    from homecat.weights import folder_sha256, weights_of

    run = tmp_path / "run1"
    for folder in ("initial", "final", "checkpoints/step_40"):
        shutil.copytree(tiny, run / folder)
    (run / "config.yaml").write_text("training: {}\n")
    (run / "trainer_state.json").write_text(json.dumps({"global_step": 50}))
    sha = hashlib.sha256((tiny / "model.safetensors").read_bytes()).hexdigest()
    assert [weights_of(run / f) for f in ("initial", "checkpoints/step_40", "final")] == [
        Weights(sha, "run1", 0), Weights(sha, "run1", 40), Weights(sha, "run1", 50)
    ]  # fmt: skip
    assert weights_of(tiny) == Weights(sha, None, None)
    assert weights_of("no-such-lab/no-such-model").sha256 is None  # a Hub id not in the cache: unknown

    sharded = tmp_path / "sharded"
    sharded.mkdir()
    (sharded / "b.safetensors").write_bytes(b"second")
    (sharded / "a.safetensors").write_bytes(b"first")
    index = {"weight_map": {"x": "b.safetensors", "y": "a.safetensors", "z": "b.safetensors"}}
    (sharded / "model.safetensors.index.json").write_text(json.dumps(index))
    expected = hashlib.sha256(
        "".join(f"{n}:{hashlib.sha256(d).hexdigest()}\n" for n, d in [("a.safetensors", b"first"),
                                                                    ("b.safetensors", b"second")]).encode()
    ).hexdigest()  # fmt: skip
    assert folder_sha256(sharded) == expected
    assert folder_sha256(tmp_path / "nothing-here") is None


def test_cli_embed_json_and_one_sentence_errors(tmp_path, settings_for, tiny):
    root = tmp_path / "raw"
    write_tone(root / "P01" / "a.wav", 3.0)
    settings = scanned(settings_for, root)
    env = {"HOMECAT_ARTIFACTS_DIR": str(settings.paths.artifacts_dir)}
    base = ["--catalog", str(settings.paths.catalog)]
    runner = CliRunner()
    result = runner.invoke(app, [*base, "embed", "--model", str(tiny)], env=env)
    assert result.exit_code == 1 and result.stderr.startswith("Error: There are no segments to embed")
    add_segments(settings.paths.catalog, [("s1", "a", 0.0, 1.0, "x")])
    result = runner.invoke(app, [*base, "embed", "--model", str(tiny), "--name", "mine", "-f", "json"], env=env)
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.stdout)
    assert (row["set"], row["computed"], row["segments"]) == ("mine", 1, 1)
    result = runner.invoke(app, [*base, "embed", "--model", str(tiny), "--model", str(tiny), "--name", "x"], env=env)
    assert result.exit_code == 1 and "--name names one set" in result.stderr and "Traceback" not in result.output
    result = runner.invoke(app, [*base, "embed", "--model", str(tmp_path / "nowhere")], env=env)
    assert result.exit_code == 1 and result.stderr.startswith("Error: Cannot load the model")
    assert len(result.stderr.strip().splitlines()) == 1
