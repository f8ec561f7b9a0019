"""Scan benchmark (issue 2): ratios against baselines measured in the same run.

  python bench/bench_scan.py [--files 20000] [--workers 8]

- unchanged rescan vs a bare os.scandir + stat walk of the same tree (target: at most ~2x)
- first scan: files/s, and its time vs calling soundfile.info (homecat.audio.read_header) in a plain loop
Each timing is the best of --repeats runs, because these machines are noisy.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
from timing import best_of

from homecat import audio
from homecat.catalog import Catalog
from homecat.scan import scan
from homecat.settings import load_settings


def make_tree(root: Path, files: int, per_folder: int = 100) -> None:
    """``files`` small real WAV files (0.05 s, 16 kHz mono) in participant folders."""
    buffer = io.BytesIO()
    sf.write(buffer, np.zeros(800, dtype=np.float32), 16000, format="WAV", subtype="PCM_16")
    payload = buffer.getvalue()
    for i in range(files):
        folder = root / f"P{i // per_folder:04d}"
        if i % per_folder == 0:
            folder.mkdir(parents=True)
        (folder / f"rec_{i:06d}.wav").write_bytes(payload)


def bare_walk(root: Path) -> int:
    """The floor: os.scandir recursion plus one stat per file, nothing else."""
    count = 0
    stack = [str(root)]
    while stack:
        for entry in os.scandir(stack.pop()):
            if entry.is_dir():
                stack.append(entry.path)
            else:
                entry.stat()
                count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=20000)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        root = tmp_path / "raw"
        make_tree(root, args.files)
        settings = load_settings(overrides={"paths.catalog": tmp_path / "c.duckdb", "data.raw_audio_root": root})
        data = settings.settings.data

        walk_sec = best_of(args.repeats, lambda: bare_walk(root))
        paths = sorted(str(p) for p in root.rglob("*.wav"))
        info_loop_sec = best_of(1, lambda: [audio.read_header(p) for p in paths])

        def first_scan():
            catalog_path = tmp_path / f"first-{time.monotonic_ns()}.duckdb"
            with Catalog.open(catalog_path) as catalog:
                summary = scan(catalog, data, workers=args.workers)
            assert summary.new == args.files, summary

        first_sec = best_of(1, first_scan)

        with Catalog.open(tmp_path / "c.duckdb") as catalog:
            scan(catalog, data, workers=args.workers)
            rescan_sec = best_of(args.repeats, lambda: scan(catalog, data, workers=args.workers))
            assert scan(catalog, data).unchanged == args.files

    results = {
        "files": args.files,
        "bare_walk_sec": round(walk_sec, 4),
        "unchanged_rescan_sec": round(rescan_sec, 4),
        "rescan_over_walk": round(rescan_sec / walk_sec, 2),
        "first_scan_sec": round(first_sec, 3),
        "first_scan_files_per_sec": round(args.files / first_sec),
        "info_loop_sec": round(info_loop_sec, 3),
        "first_scan_over_info_loop": round(first_sec / info_loop_sec, 2),
        "workers": args.workers,
    }
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
