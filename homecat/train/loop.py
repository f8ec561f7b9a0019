"""The Accelerate training loop: setup, one optimizer step after another (masked-frame normalisation,
accumulation, clipping, skipped non-finite steps), logging to logs/metrics.jsonl and trackers, the collapse
check, dev evaluation and checkpoints at their intervals. ``train()`` is the entry point.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from homecat.errors import HomecatError
from homecat.progress import training_line
from homecat.settings import Settings
from homecat.train.batches import crop_batches, crop_masks
from homecat.train.bounds import check_bounds
from homecat.train.checkpoints import Checkpointer, latest_checkpoint, resume_point
from homecat.train.collapse import negative_signals, ratio, warnings_for
from homecat.train.diversity import StepDiversity
from homecat.train.evaluate import collapse_reason, evaluate
from homecat.train.model import gumbel_schedule, gumbel_temperature, load_model, make_optimizer, prepare_model
from homecat.train.plan import (
    ETA_AFTER_STEPS,
    WarmupTooLong,
    check_warmup,
    make_plan,
    unwrite_fresh_run,
    warmup_for,
)
from homecat.train.run_folder import (
    append_metrics,
    default_output_dir,
    read_metrics,
    snapshot_indexes,
    trainer_state,
    trim_metrics,
    write_provenance,
)
from homecat.train.signals import StopRequest
from homecat.train.trackers import tracker_for
from homecat.wav2vec2 import no_progress_bars, normalise_crops

log = logging.getLogger("homecat.train")  # one logger name for the whole trainer

BatchHook = Callable[[int, int, torch.Tensor], torch.Tensor]


class NonFiniteLoss(HomecatError):
    """Too many optimizer steps in a row had a non-finite loss or gradient."""


@dataclass
class Progress:
    """What the loop knows beyond model/optimizer: saved in every checkpoint (register_for_checkpointing)."""

    global_step: int = 0
    updates: int = 0  # optimizer steps actually applied (skipped ones excluded)
    skipped_steps: int = 0
    nonfinite_in_a_row: int = 0
    last_train: dict[str, float | None] = field(default_factory=dict)
    last_dev: dict[str, float | None] = field(default_factory=dict)
    train_start_perplexity: float | None = None  # codevector perplexity of the first step (weights at step 0)
    dev_start_perplexity: float | None = None  # of the step-0 dev evaluation

    def state_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


@dataclass
class _Window:
    """Sums over the optimizer steps since the last log line (local to this process until reduced)."""

    contrastive: float = 0.0
    diversity: float = 0.0  # this process's share of the steps' diversity over their masked frames (diversity.py)
    masked: float = 0.0
    frames: float = 0.0
    perplexity: float = 0.0  # this process's share of the mean step perplexity
    perplexity_steps: float = 0.0
    micro: int = 0
    crops: int = 0
    steps: int = 0
    grad_norm: float = 0.0
    wait_sec: float = 0.0
    signals: Any = None  # collapse.negative_signals summed on the device, read with the other sums
    start_perplexity: float = 0.0  # this process's share of step 1's perplexity (weights at step 0)
    start_steps: float = 0.0
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
        self.checkpoint, self.output_dir = resume_point(Path(default_output_dir(settings)), resume)
        self.notes = check_bounds(settings, self.checkpoint)  # before anything is written (issue 15)

        cuda = torch.cuda.is_available()
        self.precision = t.mixed_precision if cuda else "no"
        world = int(os.environ.get("WORLD_SIZE", "1"))
        kwargs = []
        if world > 1 and t.layerdrop_multi_process == "find_unused_parameters":
            kwargs.append(DistributedDataParallelKwargs(find_unused_parameters=True))
        trackers = tracker_for(t.report_to)  # training.report_to (homecat/train/trackers.py)
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

    def _setup(self) -> None:
        from homecat.crops import CropDataset, dev_crops

        t, acc = self.t, self.accelerator
        if t.max_steps and self.checkpoint is None:
            check_warmup(warmup_for(t, t.max_steps), t.max_steps)  # refused before anything is written
        if self.main:
            (self.output_dir / "logs").mkdir(parents=True, exist_ok=True)
        acc.wait_for_everyone()
        train_index, dev_index = snapshot_indexes(self.settings, self.output_dir, self.checkpoint, acc)
        # before provenance and the model: no data is one sentence on every rank, not a download first
        self.dataset = CropDataset(train_index, self.settings.crops, self.settings.data, rank=self.rank)
        self.dataset.check_speech_rows()
        # steps from max_steps or the plan (passes over the usable train audio); a warmup as long as the run is
        # refused here
        try:
            self.plan = make_plan(
                t, self.settings.crops.crop_sec, self.world, train_index.active_sec, train_index.total_sec
            )
        except WarmupTooLong:
            if self.main and self.checkpoint is None:
                unwrite_fresh_run(self.output_dir)  # a refused run leaves nothing behind
            raise
        if self.main:
            write_provenance(
                self.settings, self.output_dir, self.checkpoint, self.world, self.precision, train_index, dev_index
            )
        self.train_index, self.dev_index = train_index, dev_index

        model, extractor, self.pretrained = load_model(t, self.settings.data.sample_rate, self.checkpoint)
        if self.checkpoint is None and not self.pretrained and self.main:
            # A random start has no Hub id to compare the run against: keep it, so `homecat embed`/`evaluate`
            # can (one model folder, before any training or prepare_model change).
            with no_progress_bars():
                model.save_pretrained(self.output_dir / "initial", safe_serialization=True)
            extractor.save_pretrained(self.output_dir / "initial")
        saved_layerdrop = prepare_model(model, t, self.world)
        self.do_normalize = bool(getattr(extractor, "do_normalize", True))
        optimizer = make_optimizer(model, t)
        per_step = t.per_gpu_batch * t.grad_accum_steps
        self.max_steps = self.plan.steps
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, self._lr_factor)
        # The scheduler is not prepared (accelerate would step it once per process); it is checkpointed as is.
        self.model, self.optimizer = acc.prepare(model, optimizer)
        self.diversity = StepDiversity(model, acc, t.diversity_loss_weight, t.diversity_over)
        for obj in (self.dataset, self.scheduler, self.progress):
            acc.register_for_checkpointing(obj)
        self.checkpoints = Checkpointer(
            acc, self.model, extractor, saved_layerdrop, self.output_dir, t.save_total_limit
        )
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
        acc.print(
            f"homecat train: {self.world} process(es), precision {self.precision}, effective batch "
            f"{per_step * self.world} crops of {self.settings.crops.crop_sec:g} s, {self.max_steps} steps, "
            f"gumbel schedule {gumbel_schedule(t, self.pretrained)}, layerdrop {model.config.layerdrop:g}, "
            f"run folder {self.output_dir}"
        )
        acc.print(self.plan.describe())
        if self.main and self.checkpoint is None:
            for warning in self.plan.warnings():
                log.warning(warning)
        for note in self.notes:
            acc.print(note)

    def _lr_factor(self, update: int) -> float:
        """LambdaLR factor per applied update: linear warmup to the peak, then linear decay to 0 at max_steps."""
        warmup = self.plan.warmup
        if update < warmup:
            return (update + 1) / (warmup + 1)
        return max(0.0, (self.max_steps - update) / max(1, self.max_steps - warmup))

    def trainer_state(self) -> dict[str, Any]:
        return trainer_state(
            self.settings, self.progress, self.max_steps, self.train_index, self.dev_index, self.world, self.precision
        )

    # ------------------------------------------------------------------ loop

    def _next(self, batches: Iterator) -> tuple[torch.Tensor, int, int]:
        start = time.perf_counter()
        item = next(batches)
        self.window.wait_sec += time.perf_counter() - start
        return item

    def run(self) -> Path:
        # SIGUSR1/SIGTERM: finish the step, checkpoint, raise TrainingStopped (homecat/train/signals.py)
        self.stop = StopRequest().install(resumable=self.checkpoint is not None)
        self._batches: Any = None
        try:
            return self._run()
        finally:
            self.stop.restore()
            if self._batches is not None:
                # Shut the DataLoader workers down now, whatever ended the run: they ignore SIGTERM, so at exit
                # multiprocessing could not terminate workers of an iterator a traceback still holds (it would wait).
                self._batches.close()

    def _run(self) -> Path:
        self._setup()
        self.stop.setup_done()  # from here a signal stops after the current step, with a checkpoint
        t, acc, p = self.t, self.accelerator, self.progress
        # the log lines: ETA from here, the row of the last logged step and a dev loss not printed yet
        self._line_start = (time.perf_counter(), p.global_step)
        self._pending_line: dict[str, Any] | None = None
        self._fresh_dev_loss: float | None = None
        if self.main and self.checkpoint is not None:
            trim_metrics(self.output_dir, p.global_step)
        batches = self._batches = crop_batches(self.dataset, t)
        unwrapped = acc.unwrap_model(self.model)
        self.window = _Window()
        self.model.train()
        bar = self._progress_bar()
        if self.dev_specs and p.global_step == 0:
            self._evaluate()  # step 0: the starting point every later dev row is judged against
        eta_at, loop_start = p.global_step + ETA_AFTER_STEPS, time.perf_counter()
        while p.global_step < self.max_steps:
            micro = [self._next(batches) for _ in range(t.grad_accum_steps)]
            prepared = []
            for m, (crops, epoch, position) in enumerate(micro):
                x = normalise_crops(crops, self.do_normalize)
                if self.on_batch is not None:
                    x = self.on_batch(p.global_step + 1, m, x)
                seeds = [[t.train_seed, epoch, self.rank, position + i] for i in range(len(x))]
                mask, neg = crop_masks(unwrapped, t, x.shape[1], seeds)
                prepared.append((x.to(acc.device), mask.to(acc.device), neg.to(acc.device)))
            if p.global_step == 0:
                self._record_ranks(micro[0][0])
            # ONE all-reduce per optimizer step: the masked frames of every micro-batch on every process, and
            # whether any process got a stop signal (so all of them stop after this same step).
            masked = [float(mask.sum()) for _, mask, _ in prepared]
            local = torch.tensor([*masked, float(self.stop.requested)], device=acc.device)
            *reduced, stop = acc.reduce(local, reduction="sum").tolist()
            total = sum(reduced)
            scale = t.grad_accum_steps * self.world / max(total, 1.0)
            self.diversity.begin(masked, reduced)  # the diversity term sees the whole step (diversity.py)
            unwrapped.set_gumbel_temperature(gumbel_temperature(t, p.global_step, self.pretrained))
            acc.step = 0  # micro-batch counter of accumulate(): sync on the last micro-batch of this step
            norm = float("nan")
            for x, mask, neg in prepared:
                with acc.accumulate(self.model):
                    out = self.model(x, mask_time_indices=mask, sampled_negative_indices=neg)
                    # the model's own loss adds a diversity term over this micro-batch alone: replaced
                    acc.backward((out.contrastive_loss + self.diversity.term(mask)) * scale)
                    self._account(out, mask, neg, len(x))
                    if acc.sync_gradients:
                        norm = self._optimizer_step()
            self._account_step()
            p.global_step += 1
            self.window.steps += 1
            self.window.grad_norm += norm if math.isfinite(norm) else 0.0
            if bar is not None:
                bar[0].update(bar[1], completed=p.global_step)
            if p.global_step == eta_at and p.global_step < self.max_steps:
                acc.print(self.plan.estimate(ETA_AFTER_STEPS, time.perf_counter() - loop_start))
            if p.global_step % t.logging_steps == 0 or p.global_step == self.max_steps:
                self._log()
            if self.dev_specs and (p.global_step % t.eval_steps == 0 or p.global_step == self.max_steps):
                self._evaluate()
            if p.global_step % t.save_steps == 0 or p.global_step == self.max_steps:
                self.checkpoints.save(p.global_step, self.trainer_state)
            self._print_line()
            if stop and p.global_step < self.max_steps:
                self._stop_with_checkpoint()
        if bar is not None:
            bar[0].stop()
        self.checkpoints.save_final(self.trainer_state)
        acc.end_training()
        return self.output_dir

    def _account(self, out: Any, mask: torch.Tensor, neg: torch.Tensor, n_crops: int) -> None:
        w = self.window
        w.contrastive += float(out.contrastive_loss.detach())  # a CPU-GPU sync per micro-batch; cheap next to it
        w.masked += float(mask.sum())
        w.frames += mask.numel()
        w.micro += 1
        w.crops += n_crops
        step = self.progress.global_step + 1
        if step % self.t.logging_steps == 0 or step == self.max_steps:
            # collapse signals of the step that is logged (not every step: ~3% of a tiny model's step on CPU);
            # they stay on the device until _log reads them with the other sums
            signals = negative_signals(out, mask, neg)
            w.signals = signals if w.signals is None else w.signals + signals

    def _account_step(self) -> None:
        """The step's codevector perplexity and diversity, over its marginal (diversity.py), into the window as
        this process's share: the all-reduce at the next log line sums the shares."""
        w = self.window
        ppl, diversity, _ = self.diversity.finish()
        share = 1.0 / self.world
        w.diversity += diversity * share if self.t.diversity_over == "step" else diversity  # step: the same everywhere
        w.perplexity += ppl * share
        w.perplexity_steps += share
        if self.progress.global_step == 0:  # this step starts from the weights at step 0
            w.start_perplexity += ppl * share
            w.start_steps += share

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
            self._check_weights_finite(norm)
            self.scheduler.step()
            p.updates += 1
            p.nonfinite_in_a_row = 0
        return norm

    def _check_weights_finite(self, norm: float) -> None:
        """A finite gradient with a huge learning rate can still make the weights inf/NaN; every later step would be
        skipped and final/ would hold them. Stop at once, before anything of this step is saved (one norm over
        all parameters, the same on every rank)."""
        params = [q.detach() for q in self.model.parameters()]
        if math.isfinite(float(torch.nn.utils.get_total_norm(params))):
            return
        step, lr = self.progress.global_step + 1, self.scheduler.get_last_lr()[0]
        last = latest_checkpoint(self.output_dir)
        kept = f"{last} is the last good checkpoint" if last is not None else "no checkpoint was written yet"
        raise NonFiniteLoss(
            f"The weights became non-finite in optimizer step {step} (learning rate {lr:g}, gradient norm "
            f"{norm:g}); training stopped without saving them: {kept}. Lower training.learning_rate "
            "and resume from it, or start again."
        )

    # ------------------------------------------------------------------ logging and evaluation

    def _log(self) -> None:
        acc, w, p, t = self.accelerator, self.window, self.progress, self.t
        sums = torch.tensor(
            [w.contrastive, w.diversity, w.masked, w.frames, w.perplexity, w.perplexity_steps, w.micro, w.crops,
             w.wait_sec, w.start_perplexity, w.start_steps],
            dtype=torch.float64,
            device=acc.device,
        )  # fmt: skip
        signals = w.signals if w.signals is not None else torch.zeros(5, dtype=torch.float64, device=acc.device)
        sums = acc.reduce(torch.cat([sums, signals]), reduction="sum").tolist()  # one small all-reduce per log
        contrastive, diversity, masked, frames, ppl, ppl_steps, micro, crops, wait, start_ppl, start_steps = sums[:11]
        identical, negatives, informative, correct_informative, _ = sums[11:]
        if p.train_start_perplexity is None and start_steps:
            p.train_start_perplexity = start_ppl / start_steps
        elapsed = time.perf_counter() - w.start
        masked = max(masked, 1.0)
        ppl = ppl / ppl_steps if ppl_steps else None  # mean over the window's steps of the step perplexity
        row = {
            "step": p.global_step,
            "loss": (contrastive + t.diversity_loss_weight * diversity) / masked,
            "contrastive_loss": contrastive / masked,
            "diversity_loss": diversity / masked,
            "codevector_perplexity": ppl,
            "mask_share": masked / max(frames, 1.0),
            "learning_rate": self.scheduler.get_last_lr()[0],
            "gumbel_temperature": gumbel_temperature(t, p.global_step - 1, self.pretrained),
            "grad_norm": w.grad_norm / max(w.steps, 1),
            "crops_per_sec": crops / elapsed if elapsed > 0 else None,
            "data_wait_share": wait / self.world / elapsed if elapsed > 0 else None,
            "gpu_memory_gb": torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None,
            "skipped_steps": p.skipped_steps,
            "identical_negative_share": identical / negatives if negatives else None,
            "perplexity_ratio": ratio(ppl, p.train_start_perplexity),
            "contrastive_accuracy_informative": correct_informative / informative if informative else None,
        }
        p.last_train = {"loss": row["loss"], "codevector_perplexity": row["codevector_perplexity"]}
        self.window = _Window()
        if not self.main:
            return
        self._pending_line = row
        append_metrics(self.output_dir, row)
        if self.trackers:
            acc.log(
                {f"train/{k}": v for k, v in row.items() if isinstance(v, (int, float)) and k != "step"},
                step=p.global_step,
            )
        self._check_collapse(warnings_for(row, t))

    def _check_collapse(self, signals: list[str]) -> None:
        if signals:
            log.warning("Collapse warning at step %d: %s.", self.progress.global_step, "; ".join(signals))
        groups = getattr(self.accelerator.unwrap_model(self.model).config, "num_codevector_groups", 2)
        why = collapse_reason(read_metrics(self.output_dir), self.t.num_negatives, groups)
        if why is not None:
            log.warning(
                "Possible collapse at step %d: %s. Usual causes: learning rate too high, too little masking, "
                "too small an effective batch.",
                self.progress.global_step,
                why,
            )

    def _evaluate(self) -> None:
        row = evaluate(
            self.accelerator,
            self.model,
            self.t,
            self.dev_dataset,
            self.dev_specs,
            self.do_normalize,
            self.progress.global_step,
        )
        self.progress.last_dev = {"loss": row["dev_loss"], "codevector_perplexity": row["dev_codevector_perplexity"]}
        if self.progress.global_step == 0:
            self.progress.dev_start_perplexity = row["dev_codevector_perplexity"]
        row["dev_perplexity_ratio"] = ratio(row["dev_codevector_perplexity"], self.progress.dev_start_perplexity)
        self._fresh_dev_loss = row["dev_loss"]
        if self.main:
            append_metrics(self.output_dir, row)
            if signals := warnings_for(row, self.t, "dev_"):
                log.warning("Collapse warning on dev at step %d: %s.", self.progress.global_step, "; ".join(signals))
            if self.trackers:
                self.accelerator.log(
                    {k.replace("dev_", "dev/"): v for k, v in row.items() if k.startswith("dev_") and v is not None},
                    step=self.progress.global_step,
                )

    def _print_line(self) -> None:
        """The log line of a logged step (main process, when no progress bar is shown), after its dev evaluation."""
        row, self._pending_line = self._pending_line, None
        if row is None or self.show_progress:
            return
        start_sec, start_step = self._line_start
        done = self.progress.global_step - start_step
        eta = (time.perf_counter() - start_sec) / done * (self.max_steps - self.progress.global_step) if done else None
        dev, self._fresh_dev_loss = self._fresh_dev_loss, None
        print(training_line(row, self.max_steps, eta, dev), file=sys.stderr, flush=True)

    def _stop_with_checkpoint(self) -> None:
        """After the step in which a process got SIGUSR1/SIGTERM: a complete checkpoint, then TrainingStopped."""
        step = self.progress.global_step
        if step % self.t.save_steps:  # not already written by this step
            self.checkpoints.save(step, self.trainer_state)
        self.accelerator.end_training()
        raise self.stop.stopped(step, self.output_dir / "checkpoints" / f"step_{step}")

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

    def _progress_bar(self) -> tuple[Any, Any] | None:
        if not self.show_progress:
            return None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn, TimeRemainingColumn

        bar = Progress("training", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn())
        bar.start()
        return bar, bar.add_task("steps", total=self.max_steps, completed=self.progress.global_step)


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
