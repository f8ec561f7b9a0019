"""Validation benchmark (issue 3): ratios against baselines measured in the same run.

  python bench/bench_validate.py [--hours 1.0] [--files 4] [--long-hours 4]

- one worker validating 16-bit PCM WAV (16 kHz mono) vs reading the same files' bytes with
  numpy.fromfile in 1 MiB blocks (target: validation >= 60% of the raw read rate); MB/s and
  hours of audio per second
- peak RSS of a fresh process validating one --long-hours file vs one 10-minute file
  (VmHWM of a fresh process; target: < 300 MB and within 20%)
- bytes of DuckDB storage per hour of audio for the `levels` table
Each timing is the best of --repeats runs; the files are in the page cache for both sides.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np

from homecat import audio
from homecat.catalog import Catalog, read_sql
from homecat.scan import scan
from homecat.settings import load_settings
from homecat.validate import validate

_RSS_SNIPPET = """
import sys
from homecat.catalog import Catalog
from homecat.scan import scan
from homecat.settings import load_settings
from homecat.validate import validate
root, catalog = sys.argv[1], sys.argv[2]
s = load_settings(overrides={"paths.catalog": catalog, "data.raw_audio_root": root}, environ={}).settings
with Catalog.open(catalog) as c:
    scan(c, s.data)
    validate(c, s.validate, s.data, workers=1)
# VmHWM, not ru_maxrss: Linux carries the forking parent's high-water mark into a child's ru_maxrss across exec
hwm_kib = [line for line in open("/proc/self/status") if line.startswith("VmHWM")][0].split()[1]
print(int(hwm_kib) // 1024)  # KiB -> MiB
"""


def write_noise_wav(path: Path, seconds: float, sample_rate: int = 16000) -> None:
    """Quiet noise with a loud burst every minute, written block by block (16-bit PCM)."""
    rng = np.random.default_rng(0)
    block_frames = 60 * sample_rate

    def blocks():
        left = int(seconds * sample_rate)
        while left > 0:
            n = min(block_frames, left)
            block = rng.standard_normal(n).astype(np.float32) * 0.001
            block[: n // 10] *= 100
            yield block[:, None]
            left -= n

    audio.write_audio(path, blocks(), sample_rate, 1, "PCM_16")


def raw_read(paths: list[Path]) -> int:
    total = 0
    for path in paths:
        with open(path, "rb") as f:
            while True:
                chunk = np.fromfile(f, dtype=np.uint8, count=1 << 20)
                if not len(chunk):
                    break
                total += len(chunk)
    return total


def best_of(repeats: int, fn) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def peak_rss_mib(root: Path, catalog: Path) -> int:
    out = subprocess.run(
        [sys.executable, "-c", _RSS_SNIPPET, str(root), str(catalog)], capture_output=True, text=True, check=True
    )
    return int(out.stdout.strip().splitlines()[-1])


def levels_bytes(catalog_path: Path, tmp: Path, copies: int = 200) -> tuple[int, float]:
    """DuckDB file growth from holding ``copies`` copies of the catalog's levels rows (under new
    recording ids, so there is enough to fill whole 256 KiB blocks), and the hours they cover."""
    ddl = read_sql("schema/v2.sql")
    ddl = ddl[ddl.index("CREATE TABLE levels") :]
    sizes = []
    for fill in (False, True):
        path = tmp / f"levels-{fill}.duckdb"
        con = duckdb.connect(str(path))
        con.execute(ddl)
        if fill:
            con.execute(f"ATTACH '{catalog_path}' AS src (READ_ONLY)")
            con.execute(
                "INSERT INTO levels SELECT recording_id || '-' || c, window_index, rms_dbfs, peak_dbfs "
                f"FROM src.levels, range({copies}) t(c) ORDER BY c, recording_id, window_index"
            )
            hours = copies * con.execute("SELECT sum(duration_sec) / 3600 FROM src.audio_stats").fetchone()[0]
        con.execute("CHECKPOINT")
        con.close()
        sizes.append(path.stat().st_size)
    return sizes[1] - sizes[0], hours


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=float, default=1.0, help="audio for the throughput test")
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--long-hours", type=float, default=4.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        root = tmp_path / "raw"
        for i in range(args.files):
            write_noise_wav(root / f"P{i:02d}" / f"rec{i}.wav", args.hours * 3600 / args.files)
        paths = sorted(root.rglob("*.wav"))
        total_bytes = sum(p.stat().st_size for p in paths)
        raw_read(paths)  # warm the page cache
        raw_sec = best_of(args.repeats, lambda: raw_read(paths))

        settings = load_settings(
            overrides={"paths.catalog": tmp_path / "c.duckdb", "data.raw_audio_root": root}, environ={}
        ).settings
        with Catalog.open(settings.paths.catalog) as catalog:
            scan(catalog, settings.data)
            validate_sec = best_of(
                args.repeats, lambda: validate(catalog, settings.validate, settings.data, redo_all=True, workers=1)
            )
        level_bytes, level_hours = levels_bytes(settings.paths.catalog, tmp_path)

        long_root, short_root = tmp_path / "long", tmp_path / "short"
        write_noise_wav(long_root / "P01" / "long.wav", args.long_hours * 3600)
        write_noise_wav(short_root / "P01" / "short.wav", 600)
        rss_long = peak_rss_mib(long_root, tmp_path / "long.duckdb")
        rss_short = peak_rss_mib(short_root, tmp_path / "short.duckdb")

    mb = total_bytes / 1e6
    results = {
        "audio_hours": args.hours,
        "files": args.files,
        "megabytes": round(mb, 1),
        "raw_read_mb_per_sec": round(mb / raw_sec, 1),
        "validate_one_worker_mb_per_sec": round(mb / validate_sec, 1),
        "validate_over_raw_read": round(raw_sec / validate_sec, 3),
        "validate_audio_hours_per_sec": round(args.hours / validate_sec, 2),
        "peak_rss_mib_long": rss_long,
        "peak_rss_mib_10min": rss_short,
        "long_hours": args.long_hours,
        "rss_long_over_short": round(rss_long / rss_short, 3),
        "levels_bytes_per_audio_hour": round(level_bytes / level_hours),
    }
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
