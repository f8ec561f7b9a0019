"""Segments import benchmark (issue 9): ratios against baselines measured in the same run.

  python bench/bench_segments.py [--rows 200000] [--recordings 50] [--repeats 3]

- `homecat segments import` of a CSV (parse, check every row against the catalog, replace the source's
  rows in one transaction) vs DuckDB loading the same file unchecked with read_csv into a bare table:
  the floor of getting these rows into DuckDB at all.
- the same import again (a re-import replaces: the DELETE of the old rows is included).
Each timing is the best of --repeats runs, because these machines are noisy.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

import numpy as np
from timing import best_of

from homecat import audio
from homecat.catalog import Catalog
from homecat.scan import scan
from homecat.segments import import_file
from homecat.settings import load_settings

_RATE = 100  # Hz: an hour-long recording in 720 KB (only the header matters here)
_HOUR_SEC = 3600.0


def make_corpus(root: Path, recordings: int) -> list[str]:
    """Hour-long (low-rate) WAV files in participant folders; returns their rel_paths."""
    block = np.zeros((int(_HOUR_SEC * _RATE), 1), dtype=np.float32)
    rel_paths = []
    for i in range(recordings):
        rel_path = f"P{i % 20:02d}/rec_{i:04d}.wav"
        audio.write_audio(root / rel_path, iter([block]), _RATE, 1)
        rel_paths.append(rel_path)
    return rel_paths


def make_csv(path: Path, rel_paths: list[str], rows: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    labels = ["CHI", "FEM", "MAL", "OCH", "canonical", "non-canonical", "crying", "laughing"]
    with open(path, "w") as f:
        f.write("recording,start_sec,end_sec,label,tier\n")
        for _ in range(rows):
            start = rng.uniform(0, _HOUR_SEC - 5)
            f.write(
                f"{rng.choice(rel_paths)},{start:.3f},{start + rng.uniform(0.2, 4.0):.3f},{rng.choice(labels)},vtc\n"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--recordings", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rel_paths = make_corpus(tmp / "raw", args.recordings)
        settings = load_settings(
            overrides={"paths.catalog": tmp / "c.duckdb", "data.raw_audio_root": tmp / "raw"}, environ={}, cwd=tmp
        ).settings
        csv_path = tmp / "vtc_annotations.csv"
        make_csv(csv_path, rel_paths, args.rows)
        with Catalog.open(settings.paths.catalog) as catalog:
            scan(catalog, settings.data)
            first = time.perf_counter()
            result = import_file(catalog, csv_path)
            first_sec = time.perf_counter() - first
            assert result.imported + result.merged == args.rows and result.skipped == 0, result
            reimport_sec = best_of(args.repeats, lambda: import_file(catalog, csv_path))
            count = catalog.con.execute("SELECT count(*) FROM segments").fetchone()[0]
            assert count == result.imported  # replaced, not added

            def bare_load() -> None:
                catalog.con.execute(
                    "CREATE OR REPLACE TEMP TABLE bare AS SELECT * FROM read_csv(?, header = true)", [str(csv_path)]
                )

            bare_sec = best_of(args.repeats, bare_load)
    print(
        json.dumps(
            {
                "rows": args.rows,
                "recordings": args.recordings,
                "first_import_sec": round(first_sec, 3),
                "reimport_sec": round(reimport_sec, 3),
                "rows_per_sec": round(args.rows / reimport_sec),
                "duckdb_read_csv_unchecked_sec": round(bare_sec, 3),
                "ratio_vs_read_csv": round(reimport_sec / bare_sec, 1),
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
