"""wav2vec2-base training steps on one GPU, as homecat trains it on 11 GB cards: peak memory, crops/s, step time.

    python bench/bench_gpu.py                       # batches 1-4, then the largest batch within 11 GB
    python bench/bench_gpu.py --model models/wav2vec2-base --steps 10 --memory-gib 10.5

The wav2vec2-base architecture (weights from --model, default models/wav2vec2-base as `hf download
facebook/wav2vec2-base --local-dir models/wav2vec2-base` leaves them, else a random init of the same config),
fp16 autocast with a gradient scaler, gradient checkpointing, frozen feature encoder, 8 s crops (random noise:
memory and speed do not depend on what is heard), homecat's own masks and 100 negatives per masked frame,
AdamW. One optimizer step per batch (no accumulation: that changes time per update, not memory).

"Fits 11 GB": the RTX 2080 Ti has 11 GiB, of which ~0.5 GiB go to the CUDA context, so the caching allocator is
capped at --memory-gib (default 10.5) with torch.cuda.set_per_process_memory_fraction, and per-GPU batches
grow until one runs out of memory. Without a GPU it prints one line and exits 0.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from homecat.settings import TrainingSettings
from homecat.train.batches import draw_masks
from homecat.train.model import make_optimizer, prepare_model
from homecat.wav2vec2 import normalise_crops

SAMPLE_RATE = 16000


def _model(folder: Path):
    from transformers import Wav2Vec2Config, Wav2Vec2ForPreTraining

    if (folder / "config.json").is_file():
        return Wav2Vec2ForPreTraining.from_pretrained(folder), f"weights of {folder}"
    # Wav2Vec2Config's defaults are the base architecture (12 x 768, group-norm conv encoder)
    return Wav2Vec2ForPreTraining(Wav2Vec2Config()), "random init of the wav2vec2-base config"


def _steps(folder: Path, batch: int, crop_sec: float, steps: int) -> tuple[float, float]:
    """(peak GiB, seconds per optimizer step) of ``steps`` steps after two warm-up steps."""
    t = TrainingSettings(per_gpu_batch=batch, grad_accum_steps=1)
    model, _ = _model(folder)
    prepare_model(model, t, world=1)
    model.config.diversity_loss_weight = t.diversity_loss_weight
    model.cuda().train()
    optimizer = make_optimizer(model, t)
    scaler = torch.amp.GradScaler("cuda")
    length = int(crop_sec * SAMPLE_RATE)
    torch.cuda.reset_peak_memory_stats()
    times = []
    for step in range(steps + 2):
        x = normalise_crops(torch.randn(batch, length), True)
        mask, negatives = draw_masks(model, t, batch, length, [0, 0, 0, step])
        torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.autocast("cuda", dtype=torch.float16):
            out = model(x.cuda(), mask_time_indices=mask.cuda(), sampled_negative_indices=negatives.cuda())
        scaler.scale(out.loss / mask.sum().clamp(min=1).cuda()).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), t.max_grad_norm)
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated() / 2**30
    del model, optimizer, out
    torch.cuda.empty_cache()
    return peak, sum(times[2:]) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=Path("models/wav2vec2-base"))
    parser.add_argument("--crop-sec", type=float, default=8.0)
    parser.add_argument("--steps", type=int, default=5, help="Timed optimizer steps per batch size.")
    parser.add_argument("--memory-gib", type=float, default=10.5, help="Allocator cap for 'fits 11 GB'.")
    parser.add_argument("--max-batch", type=int, default=16, help="Largest per-GPU batch tried against the cap.")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("bench_gpu: no CUDA GPU here; nothing measured.")
        return
    name = torch.cuda.get_device_name(0)
    print(f"{name}, torch {torch.__version__}, {_model(args.model)[1]}, {args.crop_sec:g} s crops, fp16")
    print(f"{'batch':>5} {'peak GiB':>9} {'step s':>7} {'crops/s':>8}")
    for batch in (1, 2, 3, 4):
        peak, step = _steps(args.model, batch, args.crop_sec, args.steps)
        print(f"{batch:>5} {peak:>9.2f} {step:>7.3f} {batch / step:>8.1f}")
    total_gib = torch.cuda.get_device_properties(0).total_memory / 2**30
    torch.cuda.set_per_process_memory_fraction(min(1.0, args.memory_gib / total_gib))
    largest = 0
    for batch in range(1, args.max_batch + 1):
        try:
            _steps(args.model, batch, args.crop_sec, steps=1)
        except torch.cuda.OutOfMemoryError:
            torch.cuda.empty_cache()
            break
        largest = batch
    more = " (or more)" if largest == args.max_batch else ""
    print(f"largest per-GPU batch within {args.memory_gib:g} GiB: {largest}{more}")


if __name__ == "__main__":
    main()
