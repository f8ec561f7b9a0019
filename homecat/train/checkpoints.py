"""Checkpoints of a run: finding the newest, choosing where to resume, saving ``checkpoints/step_N`` atomically,
rotating old ones, and the final model.

A checkpoint is accelerate's ``save_state`` folder (optimizer, scaler, per-process RNG, dataset position,
progress) whose weights are an HF model folder (model.safetensors + config.json + preprocessor_config.json)
written by a save hook, instead of accelerate's own copy, whose keys carry DDP's "module." prefix. So any
checkpoint loads with ``from_pretrained``.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from homecat.errors import HomecatError
from homecat.wav2vec2 import no_progress_bars


def latest_checkpoint(output_dir: Path) -> Path | None:
    """The newest complete checkpoint (``step_N``; unfinished saves are ``.step_N.tmp``)."""
    found = [p for p in (output_dir / "checkpoints").glob("step_*") if p.is_dir() and p.name[5:].isdigit()]
    return max(found, key=lambda p: int(p.name[5:])) if found else None


def resume_point(output_dir: Path, resume: str | Path | None) -> tuple[Path | None, Path]:
    """(checkpoint to resume from or None, run folder): ``resume`` is None, ``"latest"`` or a checkpoint folder,
    whose run folder then wins over the settings' one."""
    if resume is None:
        found = latest_checkpoint(output_dir)
        if found is not None:
            raise HomecatError(
                f"{output_dir} already holds checkpoints (newest {found.name}): pass --resume to "
                "continue it, or choose another training.run_name / training.output_dir."
            )
        return None, output_dir
    if str(resume) == "latest":
        found = latest_checkpoint(output_dir)
        if found is None:
            raise HomecatError(f"--resume: {output_dir / 'checkpoints'} holds no complete checkpoint.")
        return found, output_dir
    path = Path(resume)
    if not (path / "config.json").is_file():
        raise HomecatError(f"--resume {path}: not a checkpoint folder (no config.json).")
    return path, path.resolve().parent.parent


class Checkpointer:
    """Saves and loads the prepared model as an HF folder inside accelerate's checkpoints (hooks registered here).

    ``saved_layerdrop`` is what config.json keeps, whatever training used (multi-process runs may set it to 0).
    """

    def __init__(
        self,
        accelerator: Any,
        model: Any,
        extractor: Any,
        saved_layerdrop: float,
        output_dir: Path,
        save_total_limit: int | None,
    ):
        self.accelerator, self.model, self.extractor = accelerator, model, extractor
        self.saved_layerdrop, self.output_dir, self.limit = saved_layerdrop, output_dir, save_total_limit
        self.main = accelerator.is_main_process
        accelerator.register_save_state_pre_hook(self._save_state_hook)
        accelerator.register_load_state_pre_hook(self._load_state_hook)

    def _save_model_files(self, folder: Path) -> None:
        model = self.accelerator.unwrap_model(self.model)
        used, model.config.layerdrop = model.config.layerdrop, self.saved_layerdrop
        try:
            with no_progress_bars():
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

    def save(self, step: int, trainer_state: Callable[[], dict[str, Any]]) -> None:
        """checkpoints/step_N, written as .step_N.tmp and renamed: a crash mid-save leaves no complete-looking folder.

        Every process must call it (save_state writes each one's RNG state); ``trainer_state`` runs on the main one.
        """
        acc = self.accelerator
        root = self.output_dir / "checkpoints"
        final, tmp = root / f"step_{step}", root / f".step_{step}.tmp"
        if self.main:
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
        acc.wait_for_everyone()
        acc.save_state(str(tmp))  # model (HF folder, hook), optimizer, scaler, RNG per process, dataset, progress
        if self.main:
            (tmp / "trainer_state.json").write_text(json.dumps(trainer_state(), indent=2) + "\n")
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
            self._rotate(root)
        acc.wait_for_everyone()

    def _rotate(self, root: Path) -> None:
        found = sorted((p for p in root.glob("step_*") if p.name[5:].isdigit()), key=lambda p: int(p.name[5:]))
        for old in found[: -self.limit] if self.limit else []:
            shutil.rmtree(old, ignore_errors=True)

    def save_final(self, trainer_state: Callable[[], dict[str, Any]]) -> None:
        """final/ (the model folder alone, written as .final.tmp and renamed) and the run's trainer_state.json."""
        acc = self.accelerator
        acc.wait_for_everyone()
        if self.main:
            final = self.output_dir / "final"
            tmp = self.output_dir / ".final.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            self._save_model_files(tmp)
            shutil.rmtree(final, ignore_errors=True)
            os.replace(tmp, final)
            (self.output_dir / "trainer_state.json").write_text(json.dumps(trainer_state(), indent=2) + "\n")
            acc.print(f"Final model: {final}")
        acc.wait_for_everyone()


def run_models(run_dir: str | Path) -> list[tuple[int, str, str]]:
    """(step, label, model folder or Hub id) of every model of a run, each once, by step: its starting point
    (``initial/``, or the base model config.yaml names), every ``checkpoints/step_N`` and ``final/`` when no
    checkpoint has its step. Labels never hold a path."""
    import yaml

    run = Path(run_dir)
    if not (run / "config.yaml").is_file():
        raise HomecatError(f"{run} has no config.yaml: is it a training run folder?")
    models: list[tuple[int, str, str]] = []
    if (run / "initial" / "config.json").is_file():
        models.append((0, "initial", str(run / "initial")))
    else:
        base = ((yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8")) or {}).get("training") or {}).get(
            "base_model"
        )
        if base:
            models.append((0, "base", str(base)))
    found = [p for p in (run / "checkpoints").glob("step_*") if p.is_dir() and p.name[5:].isdigit()]
    for p in sorted(found, key=lambda p: int(p.name[5:])):
        models.append((int(p.name[5:]), p.name, str(p)))
    state = run / "trainer_state.json"  # written with final/: its global_step is final/'s step
    if (run / "final" / "config.json").is_file() and state.is_file():
        step = int(json.loads(state.read_text(encoding="utf-8"))["global_step"])
        if step not in {s for s, _, _ in models}:
            models.append((step, "final", str(run / "final")))
    return sorted(models, key=lambda m: m[0])
