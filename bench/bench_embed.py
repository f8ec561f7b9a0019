"""`homecat embed` vs a bare Wav2Vec2Model forward over the same segments, and peak memory vs segment count.

    python bench/bench_embed.py                       # throughput (tiny and base-sized) + memory, one JSON object
    python bench/bench_embed.py --skip-memory         # throughput only
    python bench/bench_embed.py --memory-only --sizes 1000 10000

Throughput. Random-init models (no download): the tiny test config, and a base-sized wav2vec2 (hidden 768,
conv stack and feature projection as wav2vec2-base, group norm) with --base-layers transformer layers
(default 12 = wav2vec2-base; fewer when time-bound). Segments of 0.3-3 s (the demo's annotation lengths)
from 16 kHz WAV files, registered in a real catalog. The embed figure is ``SetSummary.elapsed_sec``: the whole
per-segment loop (seek + read, resample check, normalisation, forward with hidden states, pooling of every
layer, Parquet writes); model loading and the weights hash are reported apart (once per run, not per segment).
The bare baseline runs ``model(x, output_hidden_states=True)`` under inference_mode on the same segments,
read and normalised beforehand, one per forward (what embed does for group-norm models with segments of
distinct lengths). Each is repeated, alternating, and the best time kept (the machine is shared; the first runs also pay
one-off per-shape kernel set-up). ``--threads`` (default 1) sets torch's threads for both sides: on a
machine shared with other work, one thread per side gives steadier ratios.

Memory. Per size, the parent writes the corpus and N segments of 0.5 s into a fresh catalog; a fresh
subprocess then only embeds them (tiny model) and reports its peak RSS (VmHWM) and the growth over its
RSS just before ``embed`` (imports and a first model load paid).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from homecat import audio
from homecat.catalog import Catalog
from homecat.embed import embed
from homecat.scan import scan
from homecat.settings import load_settings

TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37, conv_dim=[32, 32],
            conv_stride=[5, 4], conv_kernel=[10, 8], num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2,
            codevector_dim=16, proj_codevector_dim=16, num_codevectors_per_group=8)  # fmt: skip


def _corpus(tmp: Path, n_segments: int, seg_sec: tuple[float, float], seed: int = 0):
    """4 participants x one 10-minute 16 kHz WAV of noise-like audio; n segments spread over them."""
    rng = np.random.default_rng(seed)
    root = tmp / "raw"
    for p in range(4):
        blocks = (0.05 * rng.standard_normal((16000 * 60, 1)).astype(np.float32) for _ in range(10))
        audio.write_audio(root / f"P{p:02d}" / f"P{p:02d}.wav", blocks, 16000, 1)
    settings = load_settings(
        overrides={"paths.catalog": tmp / "c.duckdb", "paths.artifacts_dir": tmp / "artifacts", "data.raw_audio_root": root},
        environ={}, cwd=tmp,
    ).settings  # fmt: skip
    with Catalog.open(settings.paths.catalog) as catalog:
        scan(catalog, settings.data)
        rows = []
        for i in range(n_segments):
            duration = float(rng.uniform(*seg_sec))
            start = float(rng.uniform(0, 600 - duration))
            rows.append(
                (f"s{i:06d}", f"P{i % 4:02d}", round(start, 3), round(start + duration, 3), ("a", "b", "c")[i % 3])
            )
        catalog.con.executemany(
            "INSERT INTO segments (segment_id, recording_id, start_sec, end_sec, label, tier, source, imported_at) "
            "VALUES (?, ?, ?, ?, ?, '', 'bench.csv', now())",
            rows,
        )
    return settings, rows


def _save(folder: Path, config: dict) -> Path:
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2ForPreTraining

    torch.manual_seed(0)
    Wav2Vec2ForPreTraining(Wav2Vec2Config(**config)).save_pretrained(folder)
    Wav2Vec2FeatureExtractor(do_normalize=True, return_attention_mask=False).save_pretrained(folder)
    return folder


def _bare(model_dir: Path, settings, rows) -> float:
    """Seconds for one forward with hidden states per segment, the audio read and normalised beforehand."""
    from transformers import Wav2Vec2Model

    from homecat.wav2vec2 import normalise_crops

    model = Wav2Vec2Model.from_pretrained(model_dir).eval()
    root = Path(settings.data.raw_audio_root)
    inputs = []
    for _, rid, start, end, _ in rows:
        x = audio.read_window(root / rid / f"{rid}.wav", audio.seconds_to_frames(start, 16000),
                              audio.seconds_to_frames(end, 16000) - audio.seconds_to_frames(start, 16000))[:, 0]  # fmt: skip
        inputs.append(normalise_crops(torch.from_numpy(np.ascontiguousarray(x))[None], True))
    t0 = time.perf_counter()
    with torch.inference_mode():
        for x in inputs:
            model(x, output_hidden_states=True)
    return time.perf_counter() - t0


def throughput(name: str, config: dict, n_segments: int, repeats: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        settings, rows = _corpus(tmp, n_segments, (0.3, 3.0))
        model_dir = _save(tmp / name, config)
        embed_sec, bare_sec, total_sec = [], [], []
        for k in range(repeats):
            bare_sec.append(_bare(model_dir, settings, rows))
            t0 = time.perf_counter()
            [summary] = embed(settings, models=[str(model_dir)], name=f"run{k}")  # a new set: everything computed
            total_sec.append(time.perf_counter() - t0)
            embed_sec.append(summary.elapsed_sec)
            assert summary.computed == n_segments
        e, b = min(embed_sec), min(bare_sec)
        return {
            "case": name,
            "segments": n_segments,
            "audio_sec": round(sum(r[3] - r[2] for r in rows), 1),
            "embed_loop_sec": round(e, 3),
            "bare_forward_sec": round(b, 3),
            "overhead": round(e / b - 1, 4),
            "embed_segments_per_sec": round(n_segments / e, 1),
            "bare_segments_per_sec": round(n_segments / b, 1),
            "embed_call_sec_incl_load_and_hash": round(min(total_sec), 3),
            "runs_embed_sec": [round(x, 3) for x in embed_sec],
            "runs_bare_sec": [round(x, 3) for x in bare_sec],
        }


def _memory_child(tmp: Path) -> None:
    """Runs in a subprocess on a corpus made by the parent: embed its segments, print peak RSS and growth."""
    settings = load_settings(
        overrides={"paths.catalog": tmp / "c.duckdb", "paths.artifacts_dir": tmp / "artifacts",
                   "data.raw_audio_root": tmp / "raw"}, environ={}, cwd=tmp,
    ).settings  # fmt: skip
    from transformers import Wav2Vec2Model

    Wav2Vec2Model.from_pretrained(tmp / "tiny")  # imports and a first load paid before the baseline
    before_kib = _rss_kib()
    t0 = time.perf_counter()
    [summary] = embed(settings, models=[str(tmp / "tiny")])
    elapsed = time.perf_counter() - t0
    # VmHWM, not ru_maxrss: Linux carries the forking parent's peak into a child's ru_maxrss across exec
    peak_kib = _status_kib("VmHWM")
    print(json.dumps({"segments": summary.computed, "peak_rss_mib": round(peak_kib / 1024, 1),
                      "rss_before_embed_mib": round(before_kib / 1024, 1),
                      "growth_during_embed_mib": round((peak_kib - before_kib) / 1024, 1),
                      "seconds": round(elapsed, 1)}))  # fmt: skip


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _rss_kib() -> int:
    return _status_kib("VmRSS")


def memory(sizes: list[int]) -> list[dict]:
    """Corpus and model made here; the embedding alone in a fresh subprocess per size (its own peak RSS)."""
    out = []
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            _corpus(Path(tmp), n, (0.5, 0.5))
            _save(Path(tmp) / "tiny", TINY)
            proc = subprocess.run(
                [sys.executable, __file__, "--child", tmp], capture_output=True, text=True, check=True
            )
            out.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--segments", type=int, default=200, help="segments per throughput case (tiny)")
    parser.add_argument("--base-segments", type=int, default=60, help="segments for the base-sized case")
    parser.add_argument("--base-layers", type=int, default=12, help="transformer layers of the base-sized model")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads for both sides (1: steadier on a shared machine)"
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--memory-only", action="store_true")
    args = parser.parse_args()
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # the load report of a checkpoint's unused pretraining heads, per load
    hf_logging.disable_progress_bar()
    if args.child:
        _memory_child(args.child)
        return
    torch.set_num_threads(args.threads)
    result: dict = {"torch_threads": torch.get_num_threads()}
    if not args.memory_only:
        base = dict(num_hidden_layers=args.base_layers, feat_extract_norm="group", do_stable_layer_norm=False)
        result["throughput"] = [
            throughput("tiny", TINY, args.segments, args.repeats),
            throughput(f"base_sized_{args.base_layers}_layers", base, args.base_segments, args.repeats),
        ]
    if not args.skip_memory:
        result["memory"] = memory(args.sizes)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
