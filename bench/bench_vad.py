"""Voice activity and crop-policy benchmark (issue 10): ratios against baselines measured in the same run.

  python bench/bench_vad.py [--minutes 10] [--long-hours 4] [--demo-minutes 3] [--crops 300]

- VAD throughput of one worker (one onnxruntime thread) on a generated 16 kHz home-like recording, as
  x real time per CPU core (audio seconds / process CPU seconds; = audio hours per core hour), for
  homecat's path (streamed blocks, silero's sequence model: one ONNX call per block) against silero's
  own protocol (``silero_vad.onnx`` called once per 512-sample chunk with its LSTM state), same audio;
  and homecat's path on a 48 kHz stereo 24-bit file (reading, down-mix and resampling included)
- peak RSS of a fresh process doing one `homecat vad` worker's job on one --long-hours file vs one
  --minutes file (VmHWM; memory must not grow with the file's length)
- on the demo corpus (its annotations.csv is the ground truth of where voices are): for each crop
  policy, the share of crops overlapping an annotated voice (adult or infant), an infant voice, the
  mean share of a crop covered by voices, and crops/s drawn in one process (8 s crops, reads included);
  with the default silence retries (a quiet crop is redrawn up to 10 times) and with none (the
  policy's own draw)
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from homecat import audio, demo
from homecat.catalog import Catalog
from homecat.crop_snapshot import build_crop_index
from homecat.crops import CropDataset
from homecat.scan import scan
from homecat.settings import load_settings
from homecat.split import assign_splits
from homecat.vad import CHUNK_SAMPLES, ChunkScorer, detect_speech, model_path, new_session, run_vad
from homecat.validate import validate

_RSS_SNIPPET = """
import os, sys
from homecat.settings import load_settings
from homecat.vad import _Params, _Task, vad_file
path = sys.argv[1]
s = load_settings(environ={}).settings
st = os.stat(path)
task = _Task("r", os.path.basename(path), path, st.st_size, st.st_mtime_ns, 0.0)
segments = vad_file(task, _Params(s.vad, "mean")).segments
# VmHWM, not ru_maxrss: Linux carries the parent's high-water mark over fork + exec into ru_maxrss
hwm = [line for line in open("/proc/self/status") if line.startswith("VmHWM")][0].split()[1]
print(int(hwm) // 1024, len(segments))  # KiB -> MiB
"""


def write_home_recording(path: Path, seconds: float, seed: int = 0) -> None:
    """A 16 kHz mono recording made by the demo generator: device noise, quiet stretches, voices."""
    rec = demo._Recording(path.name, 16000, 1, "PCM_16", "WAV", -62.0)
    rng = demo._rng(seed, path.name)
    events = demo._plan_events(rng, seconds, demo._BUSY_SHARE)
    audio.write_audio(path, demo._render(rec, seconds, events, rng), 16000, 1)


def vad_throughput(path: Path) -> dict[str, float]:
    samples = np.concatenate(list(audio.iter_mono_blocks(path, 16000 * 60, "mean", 16000)))
    audio_sec = len(samples) / 16000
    settings = load_settings(environ={}).settings.vad

    begin = time.process_time()
    wall = time.perf_counter()
    detect_speech(
        audio.iter_mono_blocks(path, audio.seconds_to_frames(settings.vad_block_sec, 16000), "mean", 16000),
        new_session(),
        settings,
    )
    ours_cpu, ours_wall = time.process_time() - begin, time.perf_counter() - wall

    # silero's protocol: one call per chunk, state carried (as silero_vad.utils_vad.OnnxWrapper does)
    stateful = new_session(model_path().parent / "silero_vad.onnx")
    n = len(samples) // CHUNK_SAMPLES
    chunks = samples[: n * CHUNK_SAMPLES].reshape(n, CHUNK_SAMPLES)
    state, context = np.zeros((2, 1, 128), np.float32), np.zeros(64, np.float32)
    sr = np.array(16000, np.int64)
    begin = time.process_time()
    probs = np.empty(n, np.float32)
    for i, chunk in enumerate(chunks):
        out, state = stateful.run(None, {"input": np.concatenate([context, chunk])[None], "state": state, "sr": sr})
        probs[i] = out[0, 0]
        context = chunk[-64:]
    per_chunk_cpu = time.process_time() - begin
    same = np.allclose(ChunkScorer(new_session())(chunks), probs, atol=1e-5)

    # the batch size of one sequence call: chunks per ONNX call
    per_call = {}
    for chunks_per_call in (64, 256, 1024, 4096):
        scorer = ChunkScorer(new_session())
        begin = time.process_time()
        for start in range(0, n, chunks_per_call):
            scorer(chunks[start : start + chunks_per_call])
        per_call[chunks_per_call] = round(audio_sec / (time.process_time() - begin), 1)
    return {
        "audio_min": round(audio_sec / 60, 2),
        "homecat_x_real_time_per_core": round(audio_sec / ours_cpu, 1),
        "homecat_wall_sec": round(ours_wall, 3),
        "silero_per_chunk_x_real_time_per_core": round(audio_sec / per_chunk_cpu, 1),
        "ratio_homecat_vs_per_chunk": round(per_chunk_cpu / ours_cpu, 2),
        "same_probabilities": bool(same),
        "model_only_x_real_time_by_chunks_per_call": per_call,
    }


def resampled_throughput(seconds: float, tmp: Path) -> dict[str, float]:
    """x real time per core of homecat's path on a 48 kHz stereo 24-bit recording (down-mix + soxr included)."""
    path = tmp / "stereo48k.wav"
    rec = demo._Recording(path.name, 48000, 2, "PCM_24", "WAV", -62.0)
    rng = demo._rng(2, path.name)
    audio.write_audio(path, demo._render(rec, seconds, demo._plan_events(rng, seconds, 0.3), rng), 48000, 2, "PCM_24")
    settings = load_settings(environ={}).settings.vad
    begin = time.process_time()
    blocks = audio.iter_mono_blocks(path, audio.seconds_to_frames(settings.vad_block_sec, 48000), "mean", 16000)
    detect_speech(blocks, new_session(), settings)
    return {
        "audio_min": round(seconds / 60, 2),
        "x_real_time_per_core": round(seconds / (time.process_time() - begin), 1),
    }


def peak_rss(path: Path) -> int:
    """MiB: peak RSS of a fresh process doing what one `homecat vad` worker does with this file."""
    out = subprocess.run([sys.executable, "-c", _RSS_SNIPPET, str(path)], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0])


POLICIES = ("uniform", "energy", "speech", "mixture")


def crop_policies(minutes: float, n_crops: int) -> dict[str, dict[str, float]]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "raw"
        demo.make_demo_corpus(root, minutes=minutes, broken=False)  # annotations cover every file
        overrides = {"paths.catalog": Path(tmp) / "c.duckdb", "data.raw_audio_root": root, "split.dev_fraction": 0.0}
        settings = load_settings(overrides=overrides, environ={}).settings
        with Catalog.open(settings.paths.catalog) as catalog:
            scan(catalog, settings.data)
            validate(catalog, settings.validate, settings.data, workers=1)
            assign_splits(catalog, settings.split)
            run_vad(catalog, settings.vad, settings.data, workers=1)
            crops = settings.crops
            index = build_crop_index(catalog, ["train"], crops.crop_sec, crops.speech_source, crops.speech_labels)
        with open(root / "annotations.csv", newline="") as f:
            events = list(csv.DictReader(f))
        voices: dict[str, list[tuple[float, float, str]]] = {}
        for e in events:
            if e["label"] in ("adult", "infant"):
                voices.setdefault(e["recording"], []).append((float(e["start_sec"]), float(e["end_sec"]), e["label"]))
        out = {}
        runs = [(policy, retries) for retries in (crops.max_silence_retries, 0) for policy in POLICIES]
        for policy, retries in runs:
            update = {"crop_policy": policy, "max_silence_retries": retries}
            dataset = CropDataset(index, crops.model_copy(update=update), settings.data)
            begin = time.perf_counter()
            drawn = [dataset.draw(k) for k in range(n_crops)]
            elapsed = time.perf_counter() - begin
            any_voice, infant, covered = [], [], []
            for c in drawn:
                a, b = c.start_sec, c.start_sec + crops.crop_sec
                spans = voices.get(str(index.rel_path[c.recording_index]), [])
                overlaps = [(max(a, s), min(b, e), label) for s, e, label in spans if s < b and e > a]
                any_voice.append(bool(overlaps))
                infant.append(any(label == "infant" for *_, label in overlaps))
                covered.append(sum(e - s for s, e, _ in overlaps) / crops.crop_sec)
            out[f"{policy}_retries{retries}"] = {
                "crops_with_a_voice": round(float(np.mean(any_voice)), 3),
                "crops_with_an_infant_voice": round(float(np.mean(infant)), 3),
                "mean_voice_share_of_a_crop": round(float(np.mean(covered)), 3),
                "mean_silero_speech_share": round(float(np.mean([c.speech_share for c in drawn])), 3),
                "crops_per_sec": round(n_crops / elapsed, 1),
            }
        out["_corpus"] = {
            "recordings": len(index),
            "hours": round(index.total_sec / 3600, 3),
            "voice_share_of_time": round(sum(e - s for v in voices.values() for s, e, _ in v) / index.total_sec, 3),
        }
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0, help="Length of the short file.")
    parser.add_argument("--long-hours", type=float, default=4.0, help="Length of the long file (peak RSS).")
    parser.add_argument("--demo-minutes", type=float, default=3.0, help="Minutes per demo recording (crop shares).")
    parser.add_argument("--crops", type=int, default=300, help="Crops drawn per policy.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        short, long = Path(tmp) / "short.wav", Path(tmp) / "long.wav"
        write_home_recording(short, args.minutes * 60)
        write_home_recording(long, args.long_hours * 3600, seed=1)
        result = {"vad_throughput_one_core": vad_throughput(short)}
        result["vad_throughput_one_core_48k_stereo_24bit"] = resampled_throughput(args.minutes * 60, Path(tmp))
        short_rss, long_rss = peak_rss(short), peak_rss(long)
        result["vad_worker_peak_rss_mib"] = {
            f"{args.minutes:g}_min": short_rss,
            f"{args.long_hours:g}_h": long_rss,
            "ratio_long_vs_short": round(long_rss / short_rss, 3),
        }
    result["crop_policies_on_demo_corpus"] = crop_policies(args.demo_minutes, args.crops)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
