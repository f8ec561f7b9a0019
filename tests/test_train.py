"""The trainer on the real pipeline (demo corpus → scan → validate → split → crops) with a tiny random model."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from typer.testing import CliRunner

from homecat.catalog import Catalog
from homecat.cli import app
from homecat.demo import make_demo_corpus
from homecat.errors import HomecatError
from homecat.scan import scan
from homecat.settings import TrainingSettings, load_settings
from homecat.split import assign_splits
from homecat.train import NonFiniteLoss, gumbel_temperature, load_model, read_metrics, train
from homecat.validate import validate
from tests.conftest import TINY

STATE_KEYS = {
    "global_step", "max_steps", "train", "dev", "data", "crop_sec", "base_model", "effective_batch_crops",
    "hardware", "mixed_precision", "homecat_version", "git_commit",
}  # fmt: skip


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, Path]:
    """A scanned, validated, split demo corpus (built once for the module)."""
    base = tmp_path_factory.mktemp("train_corpus")
    make_demo_corpus(base / "raw", minutes=0.5)
    settings = _settings(base, {}, catalog=base / "catalog.duckdb", root=base / "raw")
    with Catalog.open(settings.paths.catalog) as catalog:
        scan(catalog, settings.data)
        validate(catalog, settings.validate, settings.data, workers=1)
        assign_splits(catalog, settings.split)
    return {"base": base, "catalog": base / "catalog.duckdb", "raw": base / "raw"}


@pytest.fixture(autouse=True)
def _fresh_accelerate_state():
    """Accelerate keeps process-wide singletons; each in-process run starts from a clean one."""
    from accelerate.state import AcceleratorState, GradientState

    yield
    AcceleratorState._reset_state(True)
    GradientState._reset_state()


def _config(path: Path, training: dict, crops: dict | None = None) -> Path:
    data = {
        "split": {"dev_fraction": 0.3},
        "crops": {"crop_sec": 0.5, "crops_per_epoch": 64, "dev_crop_count": 4, **(crops or {})},
        "training": {
            "base_model": None,
            "model_overrides": TINY,
            "per_gpu_batch": 2,
            "grad_accum_steps": 2,
            "num_negatives": 10,
            "num_workers": 0,
            "max_steps": 4,
            "save_steps": 1000,
            "logging_steps": 1,
            "eval_steps": 1000,
            "warmup_steps": 1,
            "learning_rate": 2e-3,
            "gradient_checkpointing": False,
            **training,
        },
    }
    path.write_text(yaml.safe_dump(data))
    return path


def _settings(tmp: Path, training: dict, catalog: Path | None = None, root: Path | None = None):
    tmp.mkdir(parents=True, exist_ok=True)
    cfg = _config(tmp / f"cfg-{len(list(tmp.glob('cfg-*')))}.yaml", training)
    overrides = {"paths.catalog": catalog, "paths.artifacts_dir": tmp / "artifacts", "data.raw_audio_root": root}
    return load_settings(cfg, overrides, environ={}, cwd=tmp).settings


def _losses(run: Path) -> dict[int, float]:
    return {r["step"]: r["loss"] for r in read_metrics(run) if r.get("split") != "dev"}


# --------------------------------------------------------------------------- settings and pieces


def test_training_settings_defaults_and_null_base(tmp_path):
    t = TrainingSettings()
    assert (t.mask_time_prob, t.mask_time_length, t.num_negatives, t.diversity_loss_weight) == (0.65, 10, 100, 0.1)
    assert (t.per_gpu_batch, t.grad_accum_steps, t.learning_rate, t.mixed_precision) == (2, 8, 5e-5, "fp16")
    assert t.base_model == "facebook/wav2vec2-base"
    settings = _settings(tmp_path, {"gumbel_schedule": "restart"})
    assert settings.training.base_model is None and settings.training.model_overrides["hidden_size"] == 32
    # fairseq's schedule, and "continue" stays at the floor where the base checkpoint ended
    assert gumbel_temperature(settings.training, 0, pretrained=True) == 2.0
    assert gumbel_temperature(settings.training, 10**6, pretrained=True) == 0.5
    auto = settings.training.model_copy(update={"gumbel_schedule": "auto"})
    assert gumbel_temperature(auto, 0, pretrained=True) == 0.5
    assert gumbel_temperature(auto, 0, pretrained=False) == 2.0
    bad = settings.training.model_copy(update={"model_overrides": {"conv_dim": "x"}})
    with pytest.raises(HomecatError):
        load_model(bad, 16000)


def test_the_default_plan_for_300_h_on_4_gpus_is_a_continued_pretraining_run():
    """Without max_steps: ~20k updates with 5-8% warmup, not one pass (2,110 updates, 24% warmup before issue 23);
    the README's 11 GB config (examples/train.example.yaml: accumulation 16, warmup 1,000) is accepted as is."""
    from homecat.train.plan import make_plan

    hours = 300 * 3600.0
    plan = make_plan(TrainingSettings(), 8.0, 4, hours)
    assert plan.steps >= 10_000 and 0.05 <= plan.warmup_share <= 0.08 and plan.warnings() == []
    assert "training.target_steps 20000" in plan.describe() and "warmup 6%" in plan.describe()
    example = yaml.safe_load(Path("examples/train.example.yaml").read_text())["training"]
    assert example["grad_accum_steps"] == 16 and example["warmup_steps"] == 1000 and "max_steps" not in example
    readme = make_plan(TrainingSettings(**{k: v for k, v in example.items() if k in TrainingSettings.model_fields}),
                       8.0, 4, hours)  # fmt: skip
    assert readme.steps >= 10_000 and 0.05 <= readme.warmup_share <= 0.08 and readme.warnings() == []
    # the plan before issue 23 (one pass, warmup 500) is warned about on both counts, naming the recipes
    old = make_plan(TrainingSettings(max_passes=1, warmup_steps=500), 8.0, 4, hours)
    assert (old.steps, old.warmup) == (2109, 500)
    short, long_warmup = old.warnings()
    assert "2109 updates is short" in short and "20-50k updates" in short
    assert "warmup is 24% of the run" in long_warmup and "5-8% warmup" in long_warmup
    # a small corpus: the passes bound the plan, and the line says so
    small = make_plan(TrainingSettings(), 8.0, 4, 5 * 3600.0)
    assert small.steps == 50 * 5 * 3600 // (8 * 64) and "max_passes 50 passes" in small.describe()
    assert small.passes == pytest.approx(50, rel=1e-3) and len(small.warnings()) == 1
    # num_train_epochs of older configs caps the passes (the same one-pass run they planned)
    assert TrainingSettings(num_train_epochs=1).max_passes == 1


def test_passes_count_usable_hours_not_silence():
    import numpy as np

    from homecat.crops.index import CropIndex

    names = np.array(["a", "b", "c"], dtype=object)
    index = CropIndex(
        recording_id=names, participant_id=names, split=names, rel_path=names, path=names,
        sample_rate=np.full(3, 16000, np.int32), channels=np.ones(3, np.int16),
        frames=np.full(3, 3600 * 16000, np.int64), window_sec=np.full(3, 1.0),
        activity_threshold_dbfs=np.array([-40.0, -40.0, np.nan], np.float32),
        active_offsets=np.array([0, 900, 900, 900]), active_windows=np.arange(900, dtype=np.int32), crop_sec=8.0,
    )  # fmt: skip
    # a quarter active, all silent, activity unknown (counted whole)
    assert index.total_sec == 3 * 3600 and index.active_sec == 900 + 0 + 3600


# --------------------------------------------------------------------------- runs


def test_cli_train_smoke_files_and_report(corpus, tmp_path):
    """One CLI run: metrics, checkpoint folder, snapshot, provenance, final model, report and plot."""
    cfg = _config(tmp_path / "cfg.yaml", {"max_steps": 2, "save_steps": 2, "eval_steps": 2})
    out = tmp_path / "artifacts" / "training" / "wav2vec2-ssl"
    env = {"HOMECAT_ARTIFACTS_DIR": str(tmp_path / "artifacts")}
    result = CliRunner().invoke(app, ["--config", str(cfg), "--catalog", str(corpus["catalog"]), "train"], env=env)
    assert result.exit_code == 0, result.output
    assert "plan: 2 optimizer steps (1 warmup)" in result.output and "passes over" in result.output
    rows = read_metrics(out)
    train_rows = [r for r in rows if r.get("split") != "dev"]
    assert [r["step"] for r in train_rows] == [1, 2]
    for key in (
        "loss",
        "contrastive_loss",
        "diversity_loss",
        "codevector_perplexity",
        "mask_share",
        "learning_rate",
        "gumbel_temperature",
        "grad_norm",
        "crops_per_sec",
        "data_wait_share",
        "gpu_memory_gb",
    ):
        assert key in train_rows[0]
    assert 0.3 < train_rows[0]["mask_share"] < 0.8
    # stderr is no terminal here: one plain line per logged step, short, with the fields a log reader needs
    lines = [line for line in result.stderr.splitlines() if line.startswith("step ")]
    assert [line.split()[1] for line in lines] == ["1/2", "2/2"], result.stderr
    for field in ("loss", "lr", "ppl", "mask", "crops/s", "wait", "ETA"):
        assert f" {field} " in lines[0], lines[0]
    # dev is evaluated before the first update and at step 2: each line shows the newest fresh dev loss
    dev_losses = [r["dev_loss"] for r in rows if r.get("split") == "dev"]
    assert [line.split(" dev ")[1].split()[0] for line in lines] == [f"{loss:.3f}" for loss in dev_losses]
    assert max(len(line) for line in lines) < 160
    # training.report_to tensorboard (the default): event files in the run folder, written without any network
    assert list((out / "logs" / "wav2vec2-ssl").glob("events.out.tfevents.*"))
    dev = [r for r in rows if r.get("split") == "dev"]
    assert dev and 0 <= dev[0]["dev_contrastive_accuracy"] <= 1 and math.isfinite(dev[0]["dev_loss"])
    ckpt = out / "checkpoints" / "step_2"
    for name in ("model.safetensors", "config.json", "preprocessor_config.json", "trainer_state.json"):
        assert (ckpt / name).is_file()
    assert not list((out / "checkpoints").glob(".*"))  # no temp folder left
    assert (out / "index" / "train.parquet").is_file() and (out / "index" / "dev.parquet").is_file()
    assert "catalog" in json.loads((out / "provenance.json").read_text())
    assert yaml.safe_load((out / "config.yaml").read_text())["training"]["mask_time_prob"] == 0.65

    from transformers import Wav2Vec2FeatureExtractor, Wav2Vec2ForPreTraining, Wav2Vec2Model

    Wav2Vec2ForPreTraining.from_pretrained(out / "final")
    Wav2Vec2Model.from_pretrained(out / "final")
    assert Wav2Vec2FeatureExtractor.from_pretrained(out / "final").do_normalize

    text = (out / "trainer_state.json").read_text()
    state = json.loads(text)
    assert set(state) == STATE_KEYS and state["global_step"] == 2 and state["effective_batch_crops"] == 4
    assert state["data"]["train_recordings"] > 0 and state["dev"]["loss"] is not None
    assert str(corpus["base"]) not in text and "/" not in json.dumps(state["data"])
    for pid in ("P01", "P02", "P03", "P04", "unknown"):
        assert pid not in text

    report = CliRunner().invoke(app, ["report", "training", str(out), "--plot", str(tmp_path / "c.png")])
    assert report.exit_code == 0, report.output
    assert "training steps" in report.output and (tmp_path / "c.png").stat().st_size > 1000
    report = CliRunner().invoke(app, ["report", "training", str(out), "--last", "1", "--format", "json"])
    assert [r["step"] for r in json.loads(report.stdout)] == [2]

    again = CliRunner().invoke(app, ["--config", str(cfg), "--catalog", str(corpus["catalog"]), "train"], env=env)
    assert again.exit_code == 1 and "--resume" in again.output


def test_loss_goes_down(corpus, tmp_path, capsys):
    settings = _settings(tmp_path, {"max_steps": 30, "grad_accum_steps": 1, "warmup_steps": 3}, corpus["catalog"])
    run = train(settings, show_progress=False)
    out = capsys.readouterr().out
    assert "plan: 30 optimizer steps (3 warmup), 2 crops = 0.02 min of audio per update" in out
    assert "s per step over the first 5 steps: about" in out and "for the remaining 25" in out
    losses = list(_losses(run).values())
    assert len(losses) == 30
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 0.1
    from homecat.train.report import verdict

    assert verdict(run).label == "learning", verdict(run).reason


def test_checkpoint_then_exact_resume(corpus, tmp_path):
    """A run killed after its step-3 checkpoint and resumed logs the same losses as an uninterrupted run."""
    common = {"max_steps": 6, "save_steps": 3, "layerdrop_multi_process": "zero"}
    whole = train(_settings(tmp_path / "a", {**common, "run_name": "a"}, corpus["catalog"]), show_progress=False)

    def crash(step, micro, x):
        if step == 5:
            raise KeyboardInterrupt("killed")
        return x

    settings = _settings(tmp_path / "b", {**common, "run_name": "b"}, corpus["catalog"])
    with pytest.raises(KeyboardInterrupt):
        train(settings, on_batch=crash, show_progress=False)
    run_b = settings.paths.artifacts_dir / "training" / "b"
    assert sorted(p.name for p in (run_b / "checkpoints").iterdir()) == ["step_3"]
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(True)
    GradientState._reset_state()
    train(settings, resume="latest", show_progress=False)
    a, b = _losses(whole), _losses(run_b)
    assert sorted(b) == [1, 2, 3, 4, 5, 6]  # step 4 logged before the crash was replaced, not duplicated
    for step in (4, 5, 6):
        assert b[step] == pytest.approx(a[step], abs=1e-5)
    assert sorted(p.name for p in (run_b / "checkpoints").iterdir()) == ["step_3", "step_6"]


def test_sigterm_finishes_the_step_writes_a_checkpoint_and_stops_with_exit_code_99(corpus, tmp_path):
    """SIGTERM arriving during step 2 (SIGUSR1 alike; 2 processes: tests/test_cluster.py): step 2 completes and is
    checkpointed, the handlers are put back afterwards."""
    import signal

    from homecat.train.signals import EXIT_STOPPED, TrainingStopped

    def term_at_2(step, micro, x):
        if step == 2 and micro == 0:
            os.kill(os.getpid(), signal.SIGTERM)
        return x

    settings = _settings(tmp_path, {"max_steps": 6, "save_steps": 5}, corpus["catalog"])
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(TrainingStopped, match="Stopped on SIGTERM after step 2") as stopped:
        train(settings, on_batch=term_at_2, show_progress=False)
    assert stopped.value.exit_code == EXIT_STOPPED == 99
    run = settings.paths.artifacts_dir / "training" / "wav2vec2-ssl"
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step_2"]
    assert json.loads((run / "checkpoints" / "step_2" / "trainer_state.json").read_text())["global_step"] == 2
    assert [r["step"] for r in read_metrics(run) if r.get("split") != "dev"] == [1, 2]
    assert signal.getsignal(signal.SIGTERM) is before


def test_nonfinite_steps_are_skipped_then_stop(corpus, tmp_path):
    def nan_at_2(step, micro, x):
        return torch.full_like(x, float("nan")) if step == 2 else x

    run = train(_settings(tmp_path / "a", {"max_steps": 4}, corpus["catalog"]), on_batch=nan_at_2, show_progress=False)
    rows = {r["step"]: r for r in read_metrics(run) if r.get("split") != "dev"}
    assert rows[1]["skipped_steps"] == 0 and rows[2]["skipped_steps"] == 1 and rows[4]["skipped_steps"] == 1
    assert math.isfinite(rows[4]["loss"])
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(True)
    GradientState._reset_state()
    always = _settings(tmp_path / "b", {"max_steps": 10, "max_nonfinite_steps": 3}, corpus["catalog"])
    with pytest.raises(NonFiniteLoss, match="3 optimizer steps in a row"):
        train(always, on_batch=lambda s, m, x: x * float("inf"), show_progress=False)


def test_two_processes_on_cpu(corpus, tmp_path):
    """accelerate launch with 2 CPU processes (DDP over gloo): different crops per rank, one writer, layerdrop off for DDP."""
    cfg = _config(tmp_path / "cfg.yaml", {"max_steps": 2, "save_steps": 2, "gradient_checkpointing": True})
    env = {**os.environ, "HOMECAT_ARTIFACTS_DIR": str(tmp_path / "artifacts"), "OMP_NUM_THREADS": "1"}
    # accelerate 1.15's `--cpu --num_processes 2` starts ONE process unless MPI is set up; `--multi_gpu` on a
    # machine without CUDA starts 2 processes through torchrun and Accelerate picks MULTI_CPU (gloo).
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "homecat.train", "--config", str(cfg),
           "--catalog", str(corpus["catalog"])]  # fmt: skip
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = tmp_path / "artifacts" / "training" / "wav2vec2-ssl"
    ranks = json.loads((out / "logs" / "ranks.json").read_text())
    assert ranks["world_size"] == 2
    first, second = ranks["first_batch_checksums"]
    assert first != second
    steps = [r["step"] for r in read_metrics(out) if r.get("split") != "dev"]
    assert steps == [1, 2]  # one writer: each step logged once
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["effective_batch_crops"] == 2 * 2 * 2 and state["global_step"] == 2
    assert "layerdrop 0.1 set to 0" in done.stderr
    assert (out / "checkpoints" / "step_2" / "random_states_1.pkl").is_file()

    # dev rows at step 0 (before any update) and at the end; one process reproduces both for the same weights
    dev = {r["step"]: r for r in read_metrics(out) if r.get("split") == "dev"}
    assert sorted(dev) == [0, 2]
    result = CliRunner().invoke(app, ["--config", str(cfg), "evaluate", "--run", str(out), "--format", "json",
                                      "--plot", str(tmp_path / "dev.png")])  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [(r["step"], r["model"]) for r in rows] == [(0, "initial"), (2, "step_2")]  # final/ is step_2: once
    for row in rows:
        logged = dev[row["step"]]
        assert row["dev_crops"] == logged["dev_crops"] == 4
        for mine, theirs in [("loss_per_masked_frame", "dev_loss"), ("contrastive_accuracy", "dev_contrastive_accuracy"),
                             ("identical_negative_share", "dev_identical_negative_share"),
                             ("codevector_perplexity", "dev_codevector_perplexity")]:  # fmt: skip
            assert row[mine] == pytest.approx(logged[theirs], rel=1e-4, abs=1e-6), mine
    assert (tmp_path / "dev.png").stat().st_size > 1000


def test_no_data_is_reported_before_the_model_is_loaded(tmp_path):
    """An empty catalog fails at once with the data sentence, not after trying to fetch the base model."""
    from homecat.crops import NoCrops

    catalog = tmp_path / "empty.duckdb"
    Catalog.open(catalog).close()
    settings = _settings(tmp_path, {"base_model": str(tmp_path / "no-such-model")}, catalog=catalog)
    with pytest.raises(NoCrops, match="run 'homecat validate' and 'homecat split' first"):
        train(settings)
    assert not (tmp_path / "artifacts" / "training" / "wav2vec2-ssl" / "provenance.json").exists()


def test_a_quantizer_with_one_code_is_flagged_collapsed_though_its_loss_looks_perfect(corpus, tmp_path):
    """Every frame quantized to the same code: every negative equals its positive, the contrastive loss is 0 and
    plain accuracy 1.0; the identical-negative share and the verdict say collapsed."""
    from transformers import Wav2Vec2ForPreTraining

    from homecat.train.report import verdict
    from tests.test_embed import save_tiny_model

    folder = save_tiny_model(tmp_path / "one-code")

    model = Wav2Vec2ForPreTraining.from_pretrained(folder)
    q = model.quantizer
    with torch.no_grad():
        q.weight_proj.weight.zero_()
        q.weight_proj.bias.fill_(0.0)
        q.weight_proj.bias.view(q.num_groups, q.num_vars)[:, 0] = 100.0  # code 0 of each group, whatever the input
    model.save_pretrained(folder)
    settings = _settings(
        tmp_path, {"base_model": str(folder), "model_overrides": {}, "max_steps": 3, "eval_steps": 3}, corpus["catalog"]
    )
    run = train(settings, show_progress=False)
    rows = read_metrics(run)
    train_rows = [r for r in rows if r.get("split") != "dev"]
    dev = [r for r in rows if r.get("split") == "dev"]
    assert [r["step"] for r in dev] == [0, 3]
    assert all(r["loss"] < 0.1 * math.log(11) and r["identical_negative_share"] == 1.0 for r in train_rows)
    assert dev[-1]["dev_contrastive_accuracy"] == 1.0 and dev[-1]["dev_contrastive_accuracy_informative"] is None
    judged = verdict(run)
    assert judged.label == "collapsed" and "100% of sampled negatives identical" in judged.reason
    report = CliRunner().invoke(app, ["report", "training", str(run), "--plot", str(tmp_path / "c.png")])
    assert report.exit_code == 0 and f"{run.name}: collapsed (" in report.output


def test_a_warmup_as_long_as_the_run_is_refused_before_anything_is_written(corpus, tmp_path):
    env = {"HOMECAT_ARTIFACTS_DIR": str(tmp_path / "artifacts")}
    for training, source in [({"max_steps": 4, "warmup_steps": 4}, "training.max_steps"),
                             ({"max_steps": None, "warmup_steps": 10**6}, "training.max_passes passes over")]:  # fmt: skip
        cfg = _config(tmp_path / "cfg.yaml", training)
        result = CliRunner().invoke(app, ["--config", str(cfg), "--catalog", str(corpus["catalog"]), "train"], env=env)
        assert result.exit_code == 1
        assert "training.warmup_steps" in result.stderr and source in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "artifacts" / "training" / "wav2vec2-ssl" / "provenance.json").exists()
    assert not (tmp_path / "artifacts" / "training" / "wav2vec2-ssl" / "logs").exists()


def test_a_2_s_crop_with_100_negatives_trains_drawing_them_with_replacement(corpus, tmp_path):
    """wav2vec2-base's frame rate (320 samples per frame) on 2 s crops: 100 frames, at most 70 masked, so 100
    negatives repeat some distractors, as fairseq and transformers allow; one note line says so."""
    base_rate = {**TINY, "conv_kernel": [16, 20], "conv_stride": [16, 20]}  # 16 x 20 = 320 samples per frame
    cfg = _config(tmp_path / "cfg.yaml", {"model_overrides": base_rate, "num_negatives": 100, "max_steps": 2},
                  crops={"crop_sec": 2.0})  # fmt: skip
    env = {"HOMECAT_ARTIFACTS_DIR": str(tmp_path / "artifacts")}
    result = CliRunner().invoke(app, ["--config", str(cfg), "--catalog", str(corpus["catalog"]), "train"], env=env)
    assert result.exit_code == 0, result.output
    assert "note: training.num_negatives 100 is more than the 69 other masked frames a 2 s crop has at most" in (
        result.output
    )
    rows = [r for r in read_metrics(tmp_path / "artifacts" / "training" / "wav2vec2-ssl") if r.get("split") != "dev"]
    assert [r["step"] for r in rows] == [1, 2] and all(math.isfinite(r["loss"]) for r in rows)


def test_the_step_diversity_term_is_transformers_own_for_one_micro_batch_on_one_process():
    """One process, one micro-batch: the term the trainer adds (homecat/train/diversity.py) has the value and the
    gradient of the diversity part of transformers' summed loss."""
    from accelerate import Accelerator
    from transformers import Wav2Vec2Config, Wav2Vec2ForPreTraining

    from homecat.train.batches import draw_masks
    from homecat.train.diversity import StepDiversity

    torch.manual_seed(0)
    model = Wav2Vec2ForPreTraining(Wav2Vec2Config(**TINY)).train()
    t = TrainingSettings(num_negatives=10)
    x = torch.randn(3, 8000)
    mask, neg = draw_masks(model, t, 3, 8000, [0])
    diversity = StepDiversity(model, Accelerator(cpu=True), t.diversity_loss_weight, "step")
    diversity.begin([float(mask.sum())], [float(mask.sum())])
    torch.manual_seed(1)  # the same Gumbel noise for both passes
    out = model(x, mask_time_indices=mask, sampled_negative_indices=neg)
    ours = diversity.term(mask)
    theirs = t.diversity_loss_weight * out.diversity_loss
    assert float(ours.detach()) == pytest.approx(float(theirs.detach()), rel=1e-5)
    weight = model.quantizer.weight_proj.weight
    (g_ours,) = torch.autograd.grad(ours, weight, retain_graph=True)
    (g_theirs,) = torch.autograd.grad(theirs, weight)
    assert torch.allclose(g_ours, g_theirs, rtol=1e-4, atol=1e-7)
    ppl, summed, frames = diversity.finish()
    assert ppl == pytest.approx(float(out.codevector_perplexity), rel=1e-5) and frames == float(mask.sum())
    diversity.close()


def test_logged_perplexity_does_not_depend_on_the_micro_batch_size(corpus, tmp_path):
    """The same 16 crops and the same weights (step 1 is logged from the weights at step 0) as 8 micro-batches of 2
    or 1 of 16: the step's perplexity agrees within 5%. A quantizer with peaked codes (64 per group) makes the
    difference visible: transformers' per-micro-batch perplexity differs by far more on the same run."""
    from transformers import Wav2Vec2ForPreTraining

    from tests.test_embed import save_tiny_model

    folder = save_tiny_model(tmp_path / "peaked", num_codevectors_per_group=64)
    model = Wav2Vec2ForPreTraining.from_pretrained(folder)
    with torch.no_grad():
        model.quantizer.weight_proj.weight.mul_(40.0)  # near one code per frame: narrow marginals on few frames
    model.save_pretrained(folder)
    common = {"base_model": str(folder), "model_overrides": {}, "max_steps": 1, "warmup_steps": 0, "eval_steps": 1000}
    logged = {}
    for name, batch, accum, scope in [("a", 2, 8, "step"), ("b", 16, 1, "step"), ("c", 2, 8, "micro_batch")]:
        settings = _settings(tmp_path / name, {**common, "per_gpu_batch": batch, "grad_accum_steps": accum,
                                               "diversity_over": scope}, corpus["catalog"])  # fmt: skip
        from accelerate.state import AcceleratorState, GradientState

        AcceleratorState._reset_state(True)
        GradientState._reset_state()
        run = train(settings, show_progress=False)
        (logged[name],) = [r for r in read_metrics(run) if r.get("split") != "dev"]
    small, large = logged["a"]["codevector_perplexity"], logged["b"]["codevector_perplexity"]
    assert abs(small / large - 1) < 0.05, (small, large)
    assert logged["c"]["codevector_perplexity"] == pytest.approx(small, rel=1e-3)  # logged over the step too
    # transformers' own term (micro-batches of 2 crops): its perplexity, from the logged diversity, is far lower
    per_micro = 128 * (1 - logged["c"]["diversity_loss"])
    assert per_micro < 0.9 * small, (per_micro, small)


def test_a_hub_id_without_network_fails_in_seconds_naming_offline_mode_and_a_local_copy(corpus, tmp_path):
    """An offline node: the Hub endpoint hangs up on every connection and the Hugging Face cache is empty.
    huggingface_hub reads HF_ENDPOINT at import, so both checks run in real processes."""
    import socket
    import threading

    # The Hub endpoint hangs up on every connection: each attempt is counted, so "in seconds" is checked as what
    # makes it fast (one quick probe, no retries of config.json), not as a wall-clock time a busy machine can miss.
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    connections = []
    stop = threading.Event()

    def hang_up() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            connections.append(1)
            conn.close()

    server = threading.Thread(target=hang_up, daemon=True)
    server.start()
    endpoint = f"http://127.0.0.1:{listener.getsockname()[1]}"
    env = {**os.environ, "HF_ENDPOINT": endpoint, "HF_HOME": str(tmp_path / "hf"), "PYTHONPATH": str(Path.cwd())}
    load = (
        "from homecat.errors import HomecatError\nfrom homecat.settings import TrainingSettings\n"
        "from homecat.train.model import load_model\ntry:\n"
        "    load_model(TrainingSettings(base_model='facebook/wav2vec2-base'), 16000)\n"
        "except HomecatError as exc:\n    print(exc)\n"
    )
    try:
        done = subprocess.run([sys.executable, "-c", load], env=env, capture_output=True, text=True, timeout=120)
    finally:
        stop.set()
        server.join()
        listener.close()
    sentence = done.stdout
    assert len(connections) == 1, (connections, done.stderr[-2000:])  # the probe alone: no config.json retries
    assert "Cannot reach the Hugging Face Hub" in sentence and "training.base_model" in sentence
    for words in ("hf download facebook/wav2vec2-base --local-dir", "HF_HUB_OFFLINE=1"):
        assert words in sentence, sentence

    cfg = _config(tmp_path / "cfg.yaml", {})
    command = [sys.executable, "-m", "homecat", "--config", str(cfg), "--catalog", str(corpus["catalog"]), "evaluate",
               "--model", "facebook/wav2vec2-base"]  # fmt: skip
    done = subprocess.run(command, env={**env, "HF_HUB_OFFLINE": "1"}, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and done.stderr.count("Error:") == 1, done.stderr[-3000:]
    assert "not in the Hugging Face cache and HF_HUB_OFFLINE is set" in done.stderr
    assert "hf download facebook/wav2vec2-base --local-dir" in done.stderr


def _history(dev: list[tuple], train: list[tuple] | None = None) -> list[dict]:
    """Synthetic logs/metrics.jsonl rows: dev (step, loss, identical share, perplexity ratio, informative accuracy),
    train (step, loss, identical share, perplexity ratio)."""
    rows = [{"step": s, "loss": loss, "identical_negative_share": share, "perplexity_ratio": r,
             "contrastive_accuracy_informative": 0.5} for s, loss, share, r in train or []]  # fmt: skip
    rows += [{"step": s, "split": "dev", "dev_loss": loss, "dev_identical_negative_share": share,
              "dev_perplexity_ratio": r, "dev_contrastive_accuracy_informative": acc} for s, loss, share, r, acc in dev]  # fmt: skip
    return sorted(rows, key=lambda r: (r["step"], r.get("split", "")))


_HEALTHY_TRAIN = [(s, 3.0 - s / 1000, 0.06, 0.9) for s in range(100, 600, 100)]
VERDICTS = [
    # (case, rows, label, words in the reason)
    ("dev 3.0 -> 2.5 and one noisy train row at 55% identical: the dev rows decide",
     _history([(0, 3.0, 0.06, 1.0, 0.30), (500, 2.5, 0.06, 0.9, 0.45)],
              [*_HEALTHY_TRAIN[:4], (500, 2.6, 0.55, 0.9)]),  # the noisy row is the latest
     "learning", ["dev loss 3.000 at step 0, 2.500 at step 500", "informative accuracy 0.300 at step 0, 0.450"]),
    ("45% identical and perplexity 0.25 x step 0 with falling loss: just under both limits",
     _history([(0, 3.0, 0.05, 1.0, 0.30), (500, 2.6, 0.45, 0.25, 0.40)], _HEALTHY_TRAIN),
     "learning, near collapse", ["identical negatives 45.0% (limit 50%)", "perplexity 0.25 x step 0 (floor 0.2)"]),
    ("a NaN dev loss", _history([(0, 3.0, 0.05, 1.0, 0.3), (500, float("nan"), 0.05, 0.9, 0.3)], _HEALTHY_TRAIN),
     "diverged", ["non-finite dev_loss on dev at step 500"]),
    ("an inf anywhere in dev, even an earlier row",
     _history([(0, 3.0, 0.05, 1.0, 0.3), (250, 2.9, 0.05, float("inf"), 0.3), (500, 2.5, 0.05, 0.9, 0.4)]),
     "diverged", ["non-finite dev_perplexity_ratio on dev at step 250"]),
    ("dev over a collapse limit (one dev row: dev crops and masks are fixed, not noise)",
     _history([(0, 3.0, 0.05, 1.0, 0.3), (500, 1.0, 0.62, 0.1, None)], _HEALTHY_TRAIN),
     "collapsed", ["62% of sampled negatives identical", "perplexity at 0.10 x step 0"]),
    ("dev loss 20% above step 0", _history([(0, 3.0, 0.05, 1.0, 0.3), (500, 3.6, 0.05, 0.9, 0.2)]),
     "diverged", ["dev loss 3.000 at step 0, 3.600 at step 500"]),
    ("dev loss within 1% of step 0", _history([(0, 3.0, 0.05, 1.0, 0.3), (500, 2.99, 0.05, 0.9, 0.3)]),
     "flat", ["dev loss 3.000 at step 0, 2.990"]),
    ("healthy dev, train over a limit for the last 3 logged steps: a warning in the reason, not the label",
     _history([(0, 3.0, 0.05, 1.0, 0.3), (500, 2.5, 0.05, 0.9, 0.4)],
              [*_HEALTHY_TRAIN[:2], *[(s, 2.7, 0.6, 0.9) for s in (300, 400, 500)]]),
     "learning", ["train, last 3 logged steps: 60% of sampled negatives identical"]),
    ("no dev rows: train over a limit for 3 logged steps", _history([], [*_HEALTHY_TRAIN[:2], *[(s, 2.7, 0.6, 0.9) for s in (300, 400, 500)]]),
     "collapsed", ["train, last 3 logged steps"]),
    ("no dev rows: one noisy train row among falling losses", _history([], [*_HEALTHY_TRAIN[:4], (500, 2.5, 0.55, 0.9)]),
     "learning", ["train loss 2.850 over steps 100-200, 2.550 over steps 400-500 (no dev comparison)"]),
    ("train losses non-finite over the last 3 logged steps", _history([], [*_HEALTHY_TRAIN[:2], *[(s, float("nan"), 0.0, 1.0) for s in (300, 400, 500)]]),
     "diverged", ["non-finite train loss over the last 3 logged steps (to step 500)"]),
    ("nothing logged", [], "unknown", ["nothing logged yet"]),
]  # fmt: skip


@pytest.mark.parametrize(("case", "rows", "label", "words"), VERDICTS, ids=[v[0][:40] for v in VERDICTS])
def test_the_run_verdict_is_read_from_dev(case, rows, label, words):
    from homecat.train.collapse import run_verdict

    judged = run_verdict(rows, TrainingSettings())
    assert judged.label == label, (case, judged)
    for w in words:
        assert w in judged.reason, (case, judged.reason)
