"""Crop benchmark (issue 4): ratios against baselines measured in the same run; prints JSON.

  python bench/bench_crops.py [--crops 40] [--long-min 240] [--short-min 30]

- median time per 8 s crop (read_window + down-mix + resample to 16 kHz) from a 30-minute and a
  4-hour file, for 16 kHz mono WAV, 48 kHz stereo WAV and FLAC: the long/short ratio must stay
  within 1.5x (a crop reads one window, whatever the file's length);
- the same crop by reading the whole 30-minute file, then cropping: homecat must be >= 100x faster;
- if lhotse is installed, ``Recording.from_file(path).load_audio(offset=, duration=)`` in the same run;
- silent-crop rate and mean attempts per crop, activity-aware vs uniform starts, on a mostly quiet
  corpus (the demo corpus, validated), and crops/s for one worker (the dataset, as training draws).
Long files are written block by block into a temporary folder (homecat.audio.write_audio) and removed.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from homecat import audio
from homecat.catalog import Catalog
from homecat.crop_snapshot import build_crop_index
from homecat.crops import CropDataset
from homecat.demo import make_demo_corpus
from homecat.scan import scan
from homecat.settings import load_settings
from homecat.split import assign_splits
from homecat.validate import validate

CROP_SEC = 8.0
FORMATS = {  # name: (sample_rate, channels, subtype, format)
    "wav_16k_mono": (16000, 1, "PCM_16", "WAV"),
    "wav_48k_stereo": (48000, 2, "PCM_16", "WAV"),
    "flac_16k_mono": (16000, 1, "PCM_16", "FLAC"),
}


def write_long(path: Path, minutes: float, sample_rate: int, channels: int, subtype: str, fmt: str) -> None:
    """Quiet noise with a louder bout each minute, 60 s blocks (memory: one block)."""
    rng = np.random.default_rng(0)
    block_frames = 60 * sample_rate

    def blocks():
        for _ in range(int(minutes)):
            block = rng.standard_normal((block_frames, channels)).astype(np.float32) * 0.003
            block[: 5 * sample_rate] *= 30
            yield block

    audio.write_audio(path, blocks(), sample_rate, channels, subtype, fmt)


def crop_once(path: Path, start_frame: int, sample_rate: int) -> np.ndarray:
    """What the dataset does for one crop: seek + read one window, down-mix, resample."""
    frames = -(-audio.seconds_to_frames(CROP_SEC, 16000) * sample_rate // 16000)
    block = audio.read_window(path, start_frame, frames)
    return audio.resample(audio.to_mono(block, "mean"), sample_rate, 16000)[: audio.seconds_to_frames(CROP_SEC, 16000)]


def whole_then_crop(path: Path, start_frame: int, sample_rate: int) -> np.ndarray:
    """The naive baseline: read the whole file, then cut the crop out."""
    whole = np.concatenate(list(audio.iter_blocks(path, 1 << 20)))
    frames = audio.seconds_to_frames(CROP_SEC, sample_rate)
    window = whole[start_frame : start_frame + frames]
    return audio.resample(audio.to_mono(window, "mean"), sample_rate, 16000)


def mean_sec(fn, path: Path, header: audio.AudioHeader, n: int, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    max_start = header.frames - audio.seconds_to_frames(CROP_SEC + 1, header.sample_rate)
    starts = rng.integers(0, max_start, n)
    fn(path, int(starts[0]), header.sample_rate)  # warm imports
    times = []
    for start in starts:
        begin = time.perf_counter()
        fn(path, int(start), header.sample_rate)
        times.append(time.perf_counter() - begin)
    # the median: this is a shared 2-core machine, and a few reads of a 4-hour file miss the page cache
    return float(np.median(times))


def lhotse_mean_sec(path: Path, header: audio.AudioHeader, n: int) -> float | None:
    try:
        from lhotse import Recording
    except ImportError:
        return None

    def load(p: Path, start_frame: int, sample_rate: int):
        recording = Recording.from_file(str(p))
        samples = recording.load_audio(offset=start_frame / sample_rate, duration=CROP_SEC)
        return audio.resample(samples.mean(axis=0).astype(np.float32), sample_rate, 16000)

    return mean_sec(load, path, header, n)


def corpus_rates(tmp: Path, crops: int) -> dict[str, object]:
    root = tmp / "demo"
    make_demo_corpus(root, minutes=3.0)
    settings = load_settings(
        overrides={"paths.catalog": tmp / "demo.duckdb", "data.raw_audio_root": root}, environ={}, cwd=tmp
    ).settings
    with Catalog.open(settings.paths.catalog) as catalog:
        scan(catalog, settings.data)
        validate(catalog, settings.validate, settings.data)
        assign_splits(catalog, settings.split.model_copy(update={"dev_fraction": 0.0}))
        index = build_crop_index(catalog, ["train"], CROP_SEC)
    out: dict[str, object] = {"corpus_silent_fraction_of_windows": None}
    with Catalog.open(settings.paths.catalog, read_only=True) as catalog:
        out["corpus_silent_fraction_of_windows"] = round(
            catalog.con.execute("SELECT avg(silent_fraction) FROM audio_stats").fetchone()[0], 3
        )
    for name in ("energy", "uniform"):  # crop_policy energy was `activity_aware: true` before crop policies
        for retries in (0, settings.crops.max_silence_retries):
            crop_settings = settings.crops.model_copy(update={"crop_policy": name, "max_silence_retries": retries})
            dataset = CropDataset(index, crop_settings, settings.data)
            begin = time.perf_counter()
            drawn = [dataset.draw(k) for k in range(crops)]
            elapsed = time.perf_counter() - begin
            out[f"{name}_retries{retries}"] = {
                "silent_rate": round(sum(c.outcome != "ok" for c in drawn) / crops, 4),
                "mean_attempts": round(float(np.mean([c.attempts for c in drawn])), 3),
                "crops_per_sec_one_worker": round(crops / elapsed, 1),
            }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--crops", type=int, default=40, help="crops timed per file")
    parser.add_argument("--short-min", type=float, default=30)
    parser.add_argument("--long-min", type=float, default=240)
    parser.add_argument("--baseline-crops", type=int, default=3, help="whole-file reads timed per file")
    args = parser.parse_args()

    result: dict[str, object] = {"crop_sec": CROP_SEC, "per_format": {}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        for name, (sr, channels, subtype, fmt) in FORMATS.items():
            row: dict[str, object] = {}
            paths = {}
            for label, minutes in (("short", args.short_min), ("long", args.long_min)):
                path = tmp_path / f"{name}_{label}.{fmt.lower()}"
                write_long(path, minutes, sr, channels, subtype, fmt)
                paths[label] = path
                header = audio.read_header(path)
                row[f"{label}_crop_ms"] = round(1000 * mean_sec(crop_once, path, header, args.crops), 3)
            header = audio.read_header(paths["short"])
            whole = mean_sec(whole_then_crop, paths["short"], header, args.baseline_crops)
            row["short_whole_file_then_crop_ms"] = round(1000 * whole, 1)
            row["long_over_short"] = round(row["long_crop_ms"] / row["short_crop_ms"], 3)
            row["speedup_vs_whole_file_short"] = round(1000 * whole / row["short_crop_ms"], 1)
            lhotse = lhotse_mean_sec(paths["short"], header, args.crops)
            if lhotse is not None:
                row["lhotse_short_crop_ms"] = round(1000 * lhotse, 3)
                row["lhotse_over_homecat"] = round(1000 * lhotse / row["short_crop_ms"], 2)
            row["passes"] = row["long_over_short"] <= 1.5 and row["speedup_vs_whole_file_short"] >= 100
            for path in paths.values():
                path.unlink()
            result["per_format"][name] = row
        result["quiet_corpus"] = corpus_rates(tmp_path, 4 * args.crops)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
