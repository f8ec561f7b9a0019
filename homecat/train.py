"""Continued self-supervised pretraining of wav2vec2 on random crops of the catalogued recordings.

    python -m homecat.train --config FILE [--catalog PATH] [--resume [CHECKPOINT]]
    accelerate launch [--cpu --num_processes N] -m homecat.train --config FILE
    homecat --config FILE train                         (one process)

One optimizer step, per process (see /work/shared/TRAINING-NOTES.md for why each piece is there):
1. fetch ``grad_accum_steps`` micro-batches of fixed-length crops (normalised per crop as the base
   model's feature extractor says), draw their span masks and negatives with transformers' own
   ``_compute_mask_indices`` / ``_sample_negative_indices`` under a seed fixed by (train_seed, epoch,
   rank, crop position), so a resumed run draws exactly what an uninterrupted one would;
2. all-reduce the number of masked frames of the whole step ONCE (one sync point per step);
3. forward/backward each micro-batch under ``accelerator.accumulate``, the summed loss scaled by
   grad_accum x world_size / total_masked: after accelerate's division by grad_accum and DDP's mean
   over processes the gradient is that of the loss per masked frame of the step;
4. clip, step (a step with a non-finite gradient is skipped and counted: the fp16 scaler does it
   itself; in fp32/bf16 we do), set the Gumbel temperature of the next update.

Run folder (``training.output_dir``)::

    config.yaml  provenance.json  trainer_state.json  index/{train,dev}.parquet
    logs/metrics.jsonl  logs/ranks.json  checkpoints/step_N/  final/

Only the main process writes, except accelerate's per-process RNG files inside checkpoints.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import logging
import math
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from homecat import __version__
from homecat.errors import HomecatError
from homecat.settings import Settings, TrainingSettings

log = logging.getLogger("homecat.train")

# Weights a current transformers re-creates when loading wav2vec2-base: the weight-norm of the positional
# convolution is stored under old names (weight_g/weight_v) and renamed; harmless (TRAINING-NOTES).
_COSMETIC_NEW = ("pos_conv_embed.conv.parametrizations.weight.original", "pos_conv_embed.conv.weight_")
_EVAL_STREAM = 0xE7A1  # keeps the dev masks' seeds apart from every training stream
_COLLAPSE_WINDOW = 5  # logged rows looked at by the collapse check
BatchHook = Callable[[int, int, torch.Tensor], torch.Tensor]


class NonFiniteLoss(HomecatError):
    """Too many optimizer steps in a row had a non-finite loss or gradient."""


# --------------------------------------------------------------------------- small pure pieces


def gumbel_temperature(t: TrainingSettings, update: int, pretrained: bool) -> float:
    """Temperature for optimizer update ``update`` (0-based): fairseq's max(max * decay**update, min)."""
    schedule = t.gumbel_schedule if t.gumbel_schedule != "auto" else ("continue" if pretrained else "restart")
    if schedule == "continue":
        return t.gumbel_min
    return max(t.gumbel_max * t.gumbel_decay**update, t.gumbel_min)


def normalise_crops(batch: torch.Tensor, do_normalize: bool) -> torch.Tensor:
    """Zero mean, unit variance per crop, exactly as Wav2Vec2FeatureExtractor does (eps 1e-7)."""
    if not do_normalize:
        return batch
    x = batch.double()
    mean = x.mean(dim=1, keepdim=True)
    var = x.var(dim=1, unbiased=False, keepdim=True)
    return ((x - mean) / torch.sqrt(var + 1e-7)).float()


@contextlib.contextmanager
def _numpy_seed(entropy: list[int]) -> Iterator[None]:
    """transformers' mask/negative samplers use numpy's global RNG: seed it here and put it back after."""
    saved = np.random.get_state()
    np.random.seed(np.random.SeedSequence(entropy).generate_state(1)[0])
    try:
        yield
    finally:
        np.random.set_state(saved)


def draw_masks(
    model: Any, t: TrainingSettings, batch_size: int, num_samples: int, entropy: list[int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """(mask_time_indices bool [B, T], sampled_negative_indices long [B, T, K]) for fixed-length crops."""
    from transformers.models.wav2vec2.modeling_wav2vec2 import _compute_mask_indices, _sample_negative_indices

    frames = int(model._get_feat_extract_output_lengths(num_samples))
    with _numpy_seed(entropy):
        mask = _compute_mask_indices(
            (batch_size, frames), t.mask_time_prob, t.mask_time_length, min_masks=t.mask_time_min_masks
        )
        negatives = _sample_negative_indices((batch_size, frames), t.num_negatives, mask_time_indices=mask)
    return torch.from_numpy(mask).bool(), torch.from_numpy(negatives).long()


def default_output_dir(settings: Settings) -> Path:
    t = settings.training
    return t.output_dir or settings.paths.artifacts_dir / "training" / t.run_name


def latest_checkpoint(output_dir: Path) -> Path | None:
    """The newest complete checkpoint (``step_N``; unfinished saves are ``.step_N.tmp``)."""
    found = [p for p in (output_dir / "checkpoints").glob("step_*") if p.is_dir() and p.name[5:].isdigit()]
    return max(found, key=lambda p: int(p.name[5:])) if found else None


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _versions() -> dict[str, str]:
    import accelerate
    import transformers

    return {
        "homecat": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "accelerate": accelerate.__version__,
        "numpy": np.__version__,
    }


def _base_model_name(base_model: str | None) -> str | None:
    """What trainer_state records: a Hub id as is, a local folder by its name only (never a path)."""
    if base_model is None:
        return None
    return Path(base_model).name if Path(base_model).exists() else base_model


# --------------------------------------------------------------------------- model


def load_model(t: TrainingSettings, sample_rate: int, checkpoint: Path | None = None) -> tuple[Any, Any, bool]:
    """(Wav2Vec2ForPreTraining, Wav2Vec2FeatureExtractor, pretrained?) — from a checkpoint when resuming."""
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2ForPreTraining

    if checkpoint is not None:  # the architecture comes from the checkpoint, not from the settings
        model = Wav2Vec2ForPreTraining.from_pretrained(checkpoint)
        extractor = Wav2Vec2FeatureExtractor.from_pretrained(checkpoint)
        pretrained = t.base_model is not None
    elif t.base_model is None:
        try:
            config = Wav2Vec2Config(**t.model_overrides)
        except Exception as exc:  # TypeError, ValueError, or huggingface_hub's strict-dataclass errors
            reason = str(exc).strip().splitlines()[-1].strip()
            raise HomecatError(f"training.model_overrides is not a valid Wav2Vec2Config: {reason}") from None
        model = Wav2Vec2ForPreTraining(config)
        extractor = Wav2Vec2FeatureExtractor(
            feature_size=1, sampling_rate=sample_rate, padding_value=0.0, do_normalize=True, return_attention_mask=False
        )
        log.warning("training.base_model is null: a randomly initialised model built from training.model_overrides.")
        pretrained = False
    else:
        try:
            model, info = Wav2Vec2ForPreTraining.from_pretrained(
                t.base_model, output_loading_info=True, **t.model_overrides
            )
            extractor = Wav2Vec2FeatureExtractor.from_pretrained(t.base_model)
        except OSError as exc:
            raise HomecatError(
                f"Cannot load training.base_model {t.base_model!r} ({str(exc).splitlines()[0]}). Offline, point it "
                "at a local copy, or set it to null to train a random model built from training.model_overrides."
            ) from None
        fresh = [k for k in info.get("missing_keys", ()) if not any(c in k for c in _COSMETIC_NEW)]
        if fresh:
            log.error(
                "NEWLY INITIALISED weights not in %s (continued pretraining starts partly from scratch): %s",
                t.base_model,
                ", ".join(sorted(fresh)),
            )
        pretrained = True
    if extractor.sampling_rate != sample_rate:
        raise HomecatError(
            f"The model expects {extractor.sampling_rate} Hz audio but data.sample_rate is {sample_rate}."
        )
    model.config.diversity_loss_weight = t.diversity_loss_weight
    return model, extractor, pretrained


# --------------------------------------------------------------------------- run state


@dataclass
class Progress:
    """What the loop knows beyond model/optimizer: saved in every checkpoint (register_for_checkpointing)."""

    global_step: int = 0
    updates: int = 0  # optimizer steps actually applied (skipped ones excluded)
    skipped_steps: int = 0
    nonfinite_in_a_row: int = 0
    last_train: dict[str, float | None] = field(default_factory=dict)
    last_dev: dict[str, float | None] = field(default_factory=dict)

    def state_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


@dataclass
class _Window:
    """Sums over the optimizer steps since the last log line (local to this process until reduced)."""

    loss: float = 0.0
    contrastive: float = 0.0
    diversity: float = 0.0
    masked: float = 0.0
    frames: float = 0.0
    perplexity: float = 0.0
    micro: int = 0
    crops: int = 0
    steps: int = 0
    grad_norm: float = 0.0
    wait_sec: float = 0.0
    start: float = field(default_factory=time.perf_counter)


class Trainer:
    """One training run; ``run()`` returns the run folder."""

    def __init__(
        self,
        settings: Settings,
        resume: str | Path | None = None,
        on_batch: BatchHook | None = None,
        show_progress: bool | None = None,
    ):
        from accelerate import Accelerator
        from accelerate.utils import DistributedDataParallelKwargs, set_seed

        self.settings = settings
        self.t = t = settings.training
        self.on_batch = on_batch
        self.output_dir = Path(default_output_dir(settings))
        self.checkpoint = self._resume_point(resume)

        cuda = torch.cuda.is_available()
        self.precision = t.mixed_precision if cuda else "no"
        world = int(os.environ.get("WORLD_SIZE", "1"))
        kwargs = []
        if world > 1 and t.layerdrop_multi_process == "find_unused_parameters":
            kwargs.append(DistributedDataParallelKwargs(find_unused_parameters=True))
        trackers = "tensorboard" if t.use_trackers and importlib.util.find_spec("tensorboard") else None
        self.accelerator = Accelerator(
            gradient_accumulation_steps=t.grad_accum_steps,
            mixed_precision=self.precision,
            cpu=not cuda,
            log_with=trackers,
            project_dir=str(self.output_dir / "logs"),
            kwargs_handlers=kwargs,
        )
        acc = self.accelerator
        self.world, self.rank, self.main = acc.num_processes, acc.process_index, acc.is_main_process
        set_seed(t.train_seed)  # the same initial weights on every rank
        self.progress = Progress()
        self.show_progress = (sys.stderr.isatty() if show_progress is None else show_progress) and self.main
        self.trackers = trackers

    # ------------------------------------------------------------------ setup

    def _resume_point(self, resume: str | Path | None) -> Path | None:
        if resume is None:
            found = latest_checkpoint(self.output_dir)
            if found is not None:
                raise HomecatError(
                    f"{self.output_dir} already holds checkpoints (newest {found.name}): pass --resume to "
                    "continue it, or choose another training.run_name / training.output_dir."
                )
            return None
        if str(resume) == "latest":
            found = latest_checkpoint(self.output_dir)
            if found is None:
                raise HomecatError(f"--resume: {self.output_dir / 'checkpoints'} holds no complete checkpoint.")
            return found
        path = Path(resume)
        if not (path / "config.json").is_file():
            raise HomecatError(f"--resume {path}: not a checkpoint folder (no config.json).")
        self.output_dir = path.resolve().parent.parent
        return path

    def _indexes(self) -> tuple[Any, Any]:
        """Train and dev crop indexes: a fresh snapshot from the catalog, or the run's snapshot on resume."""
        from homecat.catalog import Catalog
        from homecat.crops import CropIndex, build_crop_index

        snap = self.output_dir / "index"
        if self.checkpoint is not None:
            if not (snap / "train.parquet").is_file():
                raise HomecatError(f"{snap / 'train.parquet'} is missing: the run cannot resume without its snapshot.")
            return CropIndex.load(snap / "train.parquet"), CropIndex.load(snap / "dev.parquet")
        crop_sec = self.settings.crops.crop_sec
        if self.main:
            # The only catalog connection of the run: opened, queried, closed before any DataLoader exists.
            with Catalog.open(self.settings.paths.catalog, read_only=True) as catalog:
                train = build_crop_index(catalog, ("train",), crop_sec)
                dev = build_crop_index(catalog, ("dev",), crop_sec)
            train.save(snap / "train.parquet")
            dev.save(snap / "dev.parquet")
        self.accelerator.wait_for_everyone()
        return CropIndex.load(snap / "train.parquet"), CropIndex.load(snap / "dev.parquet")

    def _write_provenance(self, train_index: Any, dev_index: Any) -> None:
        config = self.settings.to_config_dict()
        if self.checkpoint is not None and (self.output_dir / "config.yaml").is_file():
            before = yaml.safe_load((self.output_dir / "config.yaml").read_text(encoding="utf-8")) or {}
            changed = [
                k for k, v in config.get("training", {}).items() if (before.get("training") or {}).get(k, v) != v
            ]
            if changed:
                log.warning("Resuming with training settings changed since the run began: %s", ", ".join(changed))
        (self.output_dir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        provenance_path = self.output_dir / "provenance.json"
        provenance = json.loads(provenance_path.read_text()) if provenance_path.is_file() else {}
        provenance.setdefault("started_at", time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        provenance.setdefault("catalog", str(Path(self.settings.paths.catalog).resolve()))
        provenance.update(versions=_versions(), git_commit=git_commit(), world_size=self.world)
        provenance.update(mixed_precision=self.precision, train=train_index.summary(), dev=dev_index.summary())
        if self.checkpoint is not None:
            provenance.setdefault("resumed_from", []).append(self.checkpoint.name)
        provenance_path.write_text(json.dumps(provenance, indent=2) + "\n", encoding="utf-8")

    def _setup(self) -> None:
        from homecat.crops import CropDataset, dev_crops

        t, acc = self.t, self.accelerator
        if self.main:
            (self.output_dir / "logs").mkdir(parents=True, exist_ok=True)
        acc.wait_for_everyone()
        train_index, dev_index = self._indexes()
        if self.main:
            self._write_provenance(train_index, dev_index)
        self.train_index, self.dev_index = train_index, dev_index

        model, self.extractor, self.pretrained = load_model(t, self.settings.data.sample_rate, self.checkpoint)
        self.saved_layerdrop = model.config.layerdrop  # what config.json keeps, whatever training used
        if self.world > 1 and t.layerdrop_multi_process == "zero" and model.config.layerdrop:
            log.warning(
                "layerdrop %g set to 0 for multi-process training (DDP needs every layer used in every step).",
                model.config.layerdrop,
            )
            model.config.layerdrop = 0.0
        if t.freeze_feature_encoder:
            model.freeze_feature_encoder()
        if t.gradient_checkpointing:
            # non-reentrant: works with a frozen feature encoder and with DDP's unused-parameter search
            kwargs = {"use_reentrant": False}
            if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5.x name
                model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
            else:
                model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
        self.do_normalize = bool(getattr(self.extractor, "do_normalize", True))

        decay = [p for n, p in model.named_parameters() if p.requires_grad and p.ndim >= 2]
        no_decay = [p for n, p in model.named_parameters() if p.requires_grad and p.ndim < 2]
        optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": t.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=t.learning_rate,
            betas=(0.9, 0.98),  # fairseq's wav2vec 2.0 values
            eps=1e-6,
        )
        self.dataset = CropDataset(train_index, self.settings.crops, self.settings.data, rank=self.rank)
        per_step = t.per_gpu_batch * t.grad_accum_steps
        self.steps_per_epoch = max(1, self.settings.crops.crops_per_epoch // per_step)
        self.max_steps = t.max_steps or max(1, math.ceil(t.num_train_epochs * self.steps_per_epoch))
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, self._lr_factor)
        # The scheduler is not prepared (accelerate would step it once per process); it is checkpointed as is.
        self.model, self.optimizer = acc.prepare(model, optimizer)
        for obj in (self.dataset, self.scheduler, self.progress):
            acc.register_for_checkpointing(obj)
        # The checkpoint's weights are an HF model folder (model.safetensors + config.json +
        # preprocessor_config.json) instead of accelerate's own copy, whose keys carry DDP's "module." prefix.
        acc.register_save_state_pre_hook(self._save_state_hook)
        acc.register_load_state_pre_hook(self._load_state_hook)
        if self.checkpoint is not None:
            acc.load_state(str(self.checkpoint))
            log.info("Resumed from %s at step %d", self.checkpoint, self.progress.global_step)
        self.dev_specs = dev_crops(dev_index, self.settings.crops.dev_crop_count, self.settings.crops.crop_sec)
        self.dev_dataset = CropDataset(dev_index, self.settings.crops, self.settings.data) if self.dev_specs else None
        if not self.dev_specs and self.main:
            log.warning("The dev split gives no crops: dev evaluation is off (run 'homecat split' with a dev share).")
        if self.trackers and self.main:
            flat = {f"training.{k}": v for k, v in self.settings.to_config_dict()["training"].items()}
            acc.init_trackers(
                t.run_name, config={k: v for k, v in flat.items() if isinstance(v, (int, float, str, bool))}
            )
        schedule = t.gumbel_schedule if t.gumbel_schedule != "auto" else ("continue" if self.pretrained else "restart")
        acc.print(
            f"homecat train: {self.world} process(es), precision {self.precision}, effective batch "
            f"{per_step * self.world} crops of {self.settings.crops.crop_sec:g} s, {self.max_steps} steps, "
            f"gumbel schedule {schedule}, layerdrop {model.config.layerdrop:g}, run folder {self.output_dir}"
        )

    def _lr_factor(self, update: int) -> float:
        warmup = self.t.warmup_steps
        if update < warmup:
            return (update + 1) / (warmup + 1)
        return max(0.0, (self.max_steps - update) / max(1, self.max_steps - warmup))

    # ------------------------------------------------------------------ data

    def _batches(self) -> Iterator[tuple[torch.Tensor, int, int]]:
        """(crops [B, L] raw float32, epoch, position of the first crop) forever, epoch after epoch."""
        from torch.utils.data import DataLoader

        t = self.t
        while True:
            ds = self.dataset
            loader = DataLoader(
                ds,
                batch_size=t.per_gpu_batch,
                sampler=ds.sampler(),
                num_workers=t.num_workers,
                drop_last=True,
                collate_fn=_collate,
                # its own generator: creating the iterator must not consume the global torch RNG (exact resume)
                generator=torch.Generator().manual_seed(t.train_seed),
                persistent_workers=False,
            )
            for crops, silent in loader:
                epoch, position = ds.epoch, ds.position
                ds.advance(len(crops))
                if silent.any() and not silent.all():  # crops marked silent (crops.on_silent) are left out
                    crops = crops[~silent]
                yield crops, epoch, position
            ds.set_epoch(ds.epoch + 1)

    def _next(self, batches: Iterator) -> tuple[torch.Tensor, int, int]:
        start = time.perf_counter()
        item = next(batches)
        self.window.wait_sec += time.perf_counter() - start
        return item

    # ------------------------------------------------------------------ loop

    def run(self) -> Path:
        self._setup()
        t, acc, p = self.t, self.accelerator, self.progress
        self._trim_metrics()
        batches = self._batches()
        unwrapped = acc.unwrap_model(self.model)
        self.window = _Window()
        self.model.train()
        bar = self._progress_bar()
        while p.global_step < self.max_steps:
            micro = [self._next(batches) for _ in range(t.grad_accum_steps)]
            prepared = []
            for m, (crops, epoch, position) in enumerate(micro):
                x = normalise_crops(crops, self.do_normalize)
                if self.on_batch is not None:
                    x = self.on_batch(p.global_step + 1, m, x)
                mask, neg = draw_masks(unwrapped, t, len(x), x.shape[1], [t.train_seed, epoch, self.rank, position])
                prepared.append((x.to(acc.device), mask.to(acc.device), neg.to(acc.device)))
            if p.global_step == 0:
                self._record_ranks(micro[0][0])
            # ONE all-reduce per optimizer step: the masked frames of every micro-batch on every process.
            local = torch.tensor(float(sum(int(mask.sum()) for _, mask, _ in prepared)), device=acc.device)
            total = float(acc.reduce(local, reduction="sum"))
            scale = t.grad_accum_steps * self.world / max(total, 1.0)
            unwrapped.set_gumbel_temperature(gumbel_temperature(t, p.global_step, self.pretrained))
            acc.step = 0  # micro-batch counter of accumulate(): sync on the last micro-batch of this step
            norm = float("nan")
            for x, mask, neg in prepared:
                with acc.accumulate(self.model):
                    out = self.model(x, mask_time_indices=mask, sampled_negative_indices=neg)
                    acc.backward(out.loss * scale)
                    self._account(out, mask, len(x))
                    if acc.sync_gradients:
                        norm = self._optimizer_step()
            p.global_step += 1
            self.window.steps += 1
            self.window.grad_norm += norm if math.isfinite(norm) else 0.0
            if bar is not None:
                bar[0].update(bar[1], completed=p.global_step)
            if p.global_step % t.logging_steps == 0 or p.global_step == self.max_steps:
                self._log()
            if self.dev_specs and (p.global_step % t.eval_steps == 0 or p.global_step == self.max_steps):
                self._evaluate()
            if p.global_step % t.save_steps == 0 or p.global_step == self.max_steps:
                self._save_checkpoint()
        if bar is not None:
            bar[0].stop()
        self._save_final()
        acc.end_training()
        return self.output_dir

    def _account(self, out: Any, mask: torch.Tensor, n_crops: int) -> None:
        w = self.window
        w.loss += float(out.loss.detach())  # a CPU-GPU sync point per micro-batch; cheap next to the step
        w.contrastive += float(out.contrastive_loss.detach())
        w.diversity += float(out.diversity_loss.detach())
        w.perplexity += float(out.codevector_perplexity.detach())
        w.masked += float(mask.sum())
        w.frames += mask.numel()
        w.micro += 1
        w.crops += n_crops

    def _optimizer_step(self) -> float:
        """Clip, step or skip; returns the gradient norm (inf/nan when the step was skipped)."""
        t, acc, p = self.t, self.accelerator, self.progress
        params = [q for q in self.model.parameters() if q.requires_grad]
        norm = float(acc.clip_grad_norm_(params, t.max_grad_norm if t.max_grad_norm > 0 else float("inf")))
        if self.precision == "fp16":
            self.optimizer.step()  # the scaler skips it when the unscaled gradients overflowed
            skipped = acc.optimizer_step_was_skipped
        else:
            skipped = not math.isfinite(norm)
            if not skipped:
                self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if skipped:
            p.skipped_steps += 1
            p.nonfinite_in_a_row += 1
            log.warning(
                "Step %d skipped: non-finite loss or gradient (%d skipped so far).", p.global_step + 1, p.skipped_steps
            )
            if p.nonfinite_in_a_row >= t.max_nonfinite_steps:
                raise NonFiniteLoss(
                    f"{p.nonfinite_in_a_row} optimizer steps in a row had a non-finite loss or gradient "
                    f"(up to step {p.global_step + 1}); training stopped. Lower training.learning_rate, check the "
                    "audio for NaN/inf samples, or try mixed_precision: no."
                )
        else:
            self.scheduler.step()
            p.updates += 1
            p.nonfinite_in_a_row = 0
        return norm

    # ------------------------------------------------------------------ logging

    def _log(self) -> None:
        acc, w, p, t = self.accelerator, self.window, self.progress, self.t
        sums = torch.tensor(
            [w.loss, w.contrastive, w.diversity, w.masked, w.frames, w.perplexity, w.micro, w.crops, w.wait_sec],
            dtype=torch.float64,
            device=acc.device,
        )
        sums = acc.reduce(sums, reduction="sum").tolist()  # one small all-reduce per logged step
        loss, contrastive, diversity, masked, frames, ppl, micro, crops, wait = sums
        elapsed = time.perf_counter() - w.start
        masked = max(masked, 1.0)
        row = {
            "step": p.global_step,
            "loss": loss / masked,
            "contrastive_loss": contrastive / masked,
            "diversity_loss": diversity / masked,
            "codevector_perplexity": ppl / max(micro, 1),
            "mask_share": masked / max(frames, 1.0),
            "learning_rate": self.scheduler.get_last_lr()[0],
            "gumbel_temperature": gumbel_temperature(t, p.global_step - 1, self.pretrained),
            "grad_norm": w.grad_norm / max(w.steps, 1),
            "crops_per_sec": crops / elapsed if elapsed > 0 else None,
            "data_wait_share": wait / self.world / elapsed if elapsed > 0 else None,
            "gpu_memory_gb": torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None,
            "skipped_steps": p.skipped_steps,
        }
        p.last_train = {"loss": row["loss"], "codevector_perplexity": row["codevector_perplexity"]}
        self.window = _Window()
        if not self.main:
            return
        with open(self.output_dir / "logs" / "metrics.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(_finite(row)) + "\n")
        if self.trackers:
            acc.log(
                {f"train/{k}": v for k, v in row.items() if isinstance(v, (int, float)) and k != "step"},
                step=p.global_step,
            )
        self._check_collapse()

    def _check_collapse(self) -> None:
        rows = read_metrics(self.output_dir)[-_COLLAPSE_WINDOW:]
        rows = [r for r in rows if "contrastive_loss" in r and "split" not in r]
        if len(rows) < _COLLAPSE_WINDOW:
            return
        chance = math.log(self.t.num_negatives + 1)
        losses = [r["contrastive_loss"] for r in rows]
        groups = getattr(self.accelerator.unwrap_model(self.model).config, "num_codevector_groups", 2)
        near_chance = all(abs(v - chance) < 0.05 * chance for v in losses) and max(losses) - min(losses) < 0.02 * chance
        low_ppl = all((r.get("codevector_perplexity") or 0) < 1.25 * groups for r in rows)
        if near_chance or low_ppl:
            why = (
                f"contrastive loss flat near chance log(K+1) = {chance:.2f}"
                if near_chance
                else f"codevector perplexity near {groups} (one code per group)"
            )
            log.warning(
                "Possible collapse at step %d: %s. Usual causes: learning rate too high, too little masking, "
                "too small an effective batch.",
                self.progress.global_step,
                why,
            )

    def _record_ranks(self, crops: torch.Tensor) -> None:
        """logs/ranks.json: a checksum of each rank's first micro-batch (ranks must draw different crops)."""
        acc = self.accelerator
        digest = torch.tensor(
            [float(crops.double().abs().sum()), float(crops[:, :100].double().sum())], device=acc.device
        )
        gathered = acc.gather(digest[None]).tolist()
        if self.main:
            (self.output_dir / "logs" / "ranks.json").write_text(
                json.dumps(
                    {"world_size": self.world, "step": self.progress.global_step + 1, "first_batch_checksums": gathered}
                )
                + "\n"
            )

    def _trim_metrics(self) -> None:
        """On resume, drop rows logged after the checkpoint (they will be logged again)."""
        path = self.output_dir / "logs" / "metrics.jsonl"
        if self.main and self.checkpoint is not None and path.is_file():
            keep = [r for r in read_metrics(self.output_dir) if r.get("step", 0) <= self.progress.global_step]
            path.write_text("".join(json.dumps(r) + "\n" for r in keep), encoding="utf-8")

    def _progress_bar(self) -> tuple[Any, Any] | None:
        if not self.show_progress:
            return None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn, TimeRemainingColumn

        bar = Progress("training", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn())
        bar.start()
        return bar, bar.add_task("steps", total=self.max_steps, completed=self.progress.global_step)

    # ------------------------------------------------------------------ dev evaluation

    @torch.no_grad()
    def _evaluate(self) -> None:
        """Loss per masked frame, contrastive accuracy and perplexity on the fixed dev crops (fixed masks)."""
        from homecat.crops import read_crop

        acc, t = self.accelerator, self.t
        model = acc.unwrap_model(self.model)
        model.eval()
        sums = torch.zeros(5, dtype=torch.float64)  # loss, masked, correct, perplexity, batches
        mine = self.dev_specs[self.rank :: self.world]
        for b in range(0, len(mine), t.per_gpu_batch):
            specs = mine[b : b + t.per_gpu_batch]
            first = self.rank + self.world * b  # position of specs[0] in the dev list: fixes its masks
            crops = torch.from_numpy(np.stack([read_crop(self.dev_dataset, s) for s in specs]))
            x = normalise_crops(crops, self.do_normalize).to(acc.device)
            mask, neg = draw_masks(model, t, len(x), x.shape[1], [t.train_seed, _EVAL_STREAM, first])
            mask, neg = mask.to(acc.device), neg.to(acc.device)
            with acc.autocast():
                out = model(x, mask_time_indices=mask, sampled_negative_indices=neg)
            sums += torch.tensor(
                [
                    float(out.loss),
                    float(mask.sum()),
                    _correct(model, out, mask, neg),
                    float(out.codevector_perplexity),
                    1,
                ]
            )
        model.train()
        sums = acc.reduce(sums.to(acc.device), reduction="sum").tolist()
        loss, masked, correct, ppl, batches = sums
        row = {
            "step": self.progress.global_step,
            "split": "dev",
            "dev_loss": loss / max(masked, 1),
            "dev_contrastive_accuracy": correct / max(masked, 1),
            "dev_codevector_perplexity": ppl / max(batches, 1),
            "dev_crops": len(self.dev_specs),
        }
        self.progress.last_dev = {"loss": row["dev_loss"], "codevector_perplexity": row["dev_codevector_perplexity"]}
        if self.main:
            with open(self.output_dir / "logs" / "metrics.jsonl", "a", encoding="utf-8") as f:
                f.write(json.dumps(_finite(row)) + "\n")
            if self.trackers:
                acc.log(
                    {k.replace("dev_", "dev/"): v for k, v in row.items() if k.startswith("dev_")},
                    step=self.progress.global_step,
                )

    # ------------------------------------------------------------------ saving

    def _save_model_files(self, folder: Path) -> None:
        model = self.accelerator.unwrap_model(self.model)
        used, model.config.layerdrop = model.config.layerdrop, self.saved_layerdrop
        try:
            model.save_pretrained(folder, is_main_process=True, safe_serialization=True)
        finally:
            model.config.layerdrop = used
        self.extractor.save_pretrained(folder)

    def _save_state_hook(self, models: list, weights: list, output_dir: str) -> None:
        if self.main:
            self._save_model_files(Path(output_dir))
        weights.clear()  # accelerate writes no model file of its own

    def _load_state_hook(self, models: list, input_dir: str) -> None:
        from safetensors.torch import load_file

        while models:
            model = self.accelerator.unwrap_model(models.pop())
            model.load_state_dict(load_file(Path(input_dir) / "model.safetensors"), strict=True)

    def _save_checkpoint(self) -> None:
        """checkpoints/step_N, written as .step_N.tmp and renamed: a crash mid-save leaves no complete-looking folder."""
        acc, step = self.accelerator, self.progress.global_step
        root = self.output_dir / "checkpoints"
        final, tmp = root / f"step_{step}", root / f".step_{step}.tmp"
        if self.main:
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
        acc.wait_for_everyone()
        acc.save_state(str(tmp))  # model (HF folder, hook), optimizer, scaler, RNG per process, dataset, progress
        if self.main:
            (tmp / "trainer_state.json").write_text(json.dumps(self.trainer_state(), indent=2) + "\n")
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
            self._rotate(root)
        acc.wait_for_everyone()

    def _rotate(self, root: Path) -> None:
        limit = self.t.save_total_limit
        found = sorted((p for p in root.glob("step_*") if p.name[5:].isdigit()), key=lambda p: int(p.name[5:]))
        for old in found[:-limit] if limit else []:
            shutil.rmtree(old, ignore_errors=True)

    def _save_final(self) -> None:
        self.accelerator.wait_for_everyone()
        if self.main:
            final = self.output_dir / "final"
            tmp = self.output_dir / ".final.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            self._save_model_files(tmp)
            shutil.rmtree(final, ignore_errors=True)
            os.replace(tmp, final)
            (self.output_dir / "trainer_state.json").write_text(json.dumps(self.trainer_state(), indent=2) + "\n")
            self.accelerator.print(f"Final model: {final}")
        self.accelerator.wait_for_everyone()

    def trainer_state(self) -> dict[str, Any]:
        """The run summary the push command reads: numbers and names only, no paths or participant ids."""
        p, t = self.progress, self.t

        def part(index: Any) -> tuple[float, int, int]:
            return round(index.total_sec / 3600, 4), len(index), len(set(index.participant_id.tolist()))

        (th, tr, tp), (dh, dr, dp) = part(self.train_index), part(self.dev_index)
        if torch.cuda.is_available():
            hardware = f"{self.world} x {torch.cuda.get_device_name()}"
        else:
            hardware = f"{self.world} x CPU ({platform.machine()})"
        return {
            "global_step": p.global_step,
            "max_steps": self.max_steps,
            "train": {
                "loss": p.last_train.get("loss"),
                "codevector_perplexity": p.last_train.get("codevector_perplexity"),
            },
            "dev": {"loss": p.last_dev.get("loss"), "codevector_perplexity": p.last_dev.get("codevector_perplexity")},
            "data": {
                "train_hours": th,
                "dev_hours": dh,
                "train_recordings": tr,
                "dev_recordings": dr,
                "train_participants": tp,
                "dev_participants": dp,
            },
            "crop_sec": self.settings.crops.crop_sec,
            "base_model": _base_model_name(t.base_model),
            "effective_batch_crops": t.per_gpu_batch * t.grad_accum_steps * self.world,
            "hardware": hardware,
            "mixed_precision": self.precision,
            "homecat_version": __version__,
            "git_commit": git_commit(),
        }


def _collate(items: list[dict[str, Any]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Fixed-length crops stack without padding; normalisation happens in the loop (one vectorised op)."""
    return torch.stack([i["input_values"] for i in items]), torch.tensor([bool(i["silent"]) for i in items])


def _correct(model: Any, out: Any, mask: torch.Tensor, neg: torch.Tensor) -> float:
    """Masked frames whose true quantized vector scores above all its negatives (as the model's loss sees them)."""
    q = out.projected_quantized_states
    b, frames, dim = q.shape
    negatives = q.reshape(-1, dim)[neg.reshape(-1)].view(b, frames, -1, dim).permute(2, 0, 1, 3)
    logits = model.compute_contrastive_logits(
        q[None], negatives, out.projected_states, model.config.contrastive_logits_temperature
    )
    neg_is_pos = (q == negatives).all(-1)
    logits[1:][neg_is_pos] = float("-inf")
    return float(((logits.argmax(0) == 0) & mask).sum())


def _finite(row: dict[str, Any]) -> dict[str, Any]:
    """JSON has no NaN/inf: such values are written as null."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}


def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    """Rows of logs/metrics.jsonl (training rows, and dev rows with ``split: dev``)."""
    path = Path(run_dir) / "logs" / "metrics.jsonl"
    if not path.is_file():
        raise HomecatError(f"{path} does not exist: is {run_dir} a training run folder?")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def train(
    settings: Settings,
    resume: str | Path | None = None,
    on_batch: BatchHook | None = None,
    show_progress: bool | None = None,
) -> Path:
    """Run (or resume: ``"latest"`` or a checkpoint folder) the training the settings describe; returns the run folder.

    ``on_batch(step, micro_batch, input_values) -> input_values`` sees each normalised micro-batch before
    the model does (tests use it to inject NaN crops or to simulate a crash).
    """
    return Trainer(settings, resume=resume, on_batch=on_batch, show_progress=show_progress).run()


# --------------------------------------------------------------------------- entry point


def main(argv: list[str] | None = None) -> int:
    from homecat.settings import load_settings

    parser = argparse.ArgumentParser(prog="python -m homecat.train", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, help="YAML config file (env HOMECAT_CONFIG).")
    parser.add_argument("--catalog", type=Path, help="DuckDB catalog (env HOMECAT_CATALOG).")
    parser.add_argument(
        "--resume",
        nargs="?",
        const="latest",
        default=None,
        metavar="CHECKPOINT",
        help="Continue the run: from its newest complete checkpoint, or from the checkpoint folder given.",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings(args.config, {"paths.catalog": args.catalog}).settings
        train(settings, resume=args.resume)
    except HomecatError as exc:
        if os.environ.get("HOMECAT_DEBUG"):
            raise
        for line in exc.lines:
            print(f"Error: {line}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
