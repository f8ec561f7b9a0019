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
                             ({"max_steps": None, "warmup_steps": 500}, "passes over the train audio")]:  # fmt: skip
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


def test_a_hub_id_without_network_fails_in_seconds_naming_offline_mode_and_a_local_copy(corpus, tmp_path):
    """An offline node: the Hub endpoint refuses connections (a closed port) and the Hugging Face cache is empty.
    huggingface_hub reads HF_ENDPOINT at import, so both checks run in real processes."""
    import socket

    with socket.socket() as s:  # a port nobody listens on once closed
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    env = {**os.environ, "HF_ENDPOINT": closed, "HF_HOME": str(tmp_path / "hf"), "PYTHONPATH": str(Path.cwd())}
    # the load itself is timed, after the imports (which take seconds of their own on a busy 2-core machine)
    timed = (
        "import time\nfrom homecat.errors import HomecatError\nfrom homecat.settings import TrainingSettings\n"
        "from homecat.train.model import load_model\nimport transformers.models.wav2vec2\n"
        "start = time.monotonic()\ntry:\n"
        "    load_model(TrainingSettings(base_model='facebook/wav2vec2-base'), 16000)\n"
        "except HomecatError as exc:\n    print(f'{time.monotonic() - start:.2f}', exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", timed], env=env, capture_output=True, text=True, timeout=120)
    took, sentence = done.stdout.split(" ", 1)
    assert float(took) < 10, done.stdout
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
