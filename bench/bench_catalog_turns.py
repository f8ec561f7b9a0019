"""What sharing the catalog costs a long stage (issue 15): ratios against holding it, in the same run.

  python bench/bench_catalog_turns.py [--scan-files 20000] [--validate-files 1000] [--workers 2]

A shared catalog (what `homecat scan`, `validate` and `vad` open) closes the file between commits so
that reports from another shell get in; each visit to the file costs an open and a close. Measured:
- a first scan of --scan-files tiny WAVs: holding the catalog throughout vs shared (one visit per
  paths.catalog_commit_every_sec, 5 s), and one visit alone (open, commit, close) on the scanned catalog
- validate of --validate-files short WAVs (one worker): holding vs shared with the default
  paths.catalog_commit_every_sec (5 s) vs shared with a visit per file (commit_every_sec 0), which
  shows what batching saves
Each timing is the best of --repeats runs, on a fresh catalog each time; the files are in the page cache.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_scan import make_tree
from timing import best_of

from homecat import audio
from homecat.catalog import Catalog
from homecat.scan import scan
from homecat.settings import PathSettings, load_settings
from homecat.validate import validate


def write_short_wavs(root: Path, files: int, seconds: float) -> None:
    """``files`` quiet-noise WAVs (16 kHz mono, ``seconds`` long) in participant folders of 50."""
    block = (np.random.default_rng(0).standard_normal(int(seconds * 16000)) * 0.01).astype(np.float32)[:, None]
    for i in range(files):
        audio.write_audio(root / f"P{i // 50:03d}" / f"rec_{i:05d}.wav", iter([block]), 16000, 1, "PCM_16")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scan-files", type=int, default=20000)
    parser.add_argument("--validate-files", type=int, default=1000)
    parser.add_argument("--validate-sec", type=float, default=10.0, help="length of each validated file")
    parser.add_argument("--workers", type=int, default=2, help="scan's header-reading threads")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    results: dict[str, object] = {"scan_files": args.scan_files, "validate_files": args.validate_files}

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        scan_root, validate_root = tmp_path / "scan", tmp_path / "validate"
        make_tree(scan_root, args.scan_files)
        write_short_wavs(validate_root, args.validate_files, args.validate_sec)

        def fresh(name: str) -> Path:
            return tmp_path / f"{name}-{time.monotonic_ns()}.duckdb"

        def open_catalog(path: Path, shared: bool, commit_every_sec: float = 5.0) -> Catalog:
            if not shared:
                return Catalog.open(path)
            return Catalog.open(PathSettings(catalog=path, catalog_commit_every_sec=commit_every_sec), shared=True)

        def first_scan(shared: bool) -> None:
            data = load_settings(overrides={"data.raw_audio_root": scan_root}, environ={}).settings.data
            with open_catalog(fresh("scan"), shared) as catalog:
                assert scan(catalog, data, workers=args.workers).new == args.scan_files

        held = best_of(args.repeats, lambda: first_scan(False))
        shared = best_of(args.repeats, lambda: first_scan(True))
        results |= {"scan_held_sec": round(held, 3), "scan_shared_sec": round(shared, 3)}
        results["scan_shared_over_held"] = round(shared / held, 3)

        # One visit on its own (open, a one-row commit, close) on the scanned catalog: on a busy
        # machine the stage ratios above are noisy, this is what each visit adds.
        visited = fresh("visit")
        with open_catalog(visited, shared=False) as catalog:
            scan(catalog, load_settings(overrides={"data.raw_audio_root": scan_root}, environ={}).settings.data)
        catalog = open_catalog(visited, shared=True)

        def visit() -> None:
            with catalog.transaction() as con:  # commits, then closes the file
                con.execute("INSERT OR REPLACE INTO catalog_state VALUES ('bench', 'x')")

        results["visit_sec"] = round(best_of(5 * args.repeats, visit), 4)
        catalog.close()

        settings = load_settings(overrides={"data.raw_audio_root": validate_root}, environ={}).settings
        scanned = tmp_path / "validate-base.duckdb"
        with Catalog.open(scanned) as catalog:
            scan(catalog, settings.data)

        def run_validate(shared: bool, commit_every_sec: float = 5.0) -> None:
            path = fresh("validate")
            path.write_bytes(scanned.read_bytes())  # the same scanned catalog each time
            with open_catalog(path, shared, commit_every_sec) as catalog:
                summary = validate(catalog, settings.validate, settings.data, workers=1)
            assert summary.validated == args.validate_files

        held = best_of(args.repeats, lambda: run_validate(False))
        shared = best_of(args.repeats, lambda: run_validate(True))
        per_file = best_of(1, lambda: run_validate(True, commit_every_sec=0.0))
        results |= {
            "validate_held_sec": round(held, 3),
            "validate_shared_sec": round(shared, 3),
            "validate_shared_over_held": round(shared / held, 3),
            "validate_visit_per_file_sec": round(per_file, 3),
            "validate_visit_per_file_over_held": round(per_file / held, 3),
        }
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
