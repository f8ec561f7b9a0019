"""ChildProject benchmark (issue 11): ratios against baselines measured in the same run.

  python bench/bench_childproject.py [--files 20000] [--annotated 1000] [--turns 200]

- unchanged rescan of a dataset (metadata read and checked, recording_meta and findings rewritten)
  vs an unchanged plain scan of the same recordings/raw/ folder (target: at most ~1.5x)
- `vad import --childproject` of a set of --annotated converted CSVs with --turns rows each: rows/s,
  and its time vs reading the same CSVs with csv.DictReader alone
Each timing is the best of --repeats runs, because these machines are noisy.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
from timing import best_of

from homecat.catalog import Catalog
from homecat.childproject import import_speech, read_metadata, scan_dataset
from homecat.scan import scan
from homecat.settings import load_settings


def make_dataset(root: Path, files: int, annotated: int, turns: int, per_child: int = 100) -> list[Path]:
    """``files`` small real WAV files (2 s, 16 kHz mono) listed in recordings.csv, one child per
    ``per_child`` files, and a 'vtc' set over the first ``annotated`` recordings; returns its CSVs."""
    buffer = io.BytesIO()
    sf.write(buffer, np.zeros(32000, dtype=np.float32), 16000, format="WAV", subtype="PCM_16")
    payload = buffer.getvalue()
    (root / "metadata").mkdir(parents=True)
    children = sorted({i // per_child for i in range(files)})
    with open(root / "metadata" / "children.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["experiment", "child_id", "child_dob"])
        w.writerows([["bench", f"C{c:04d}", "2020-01-01"] for c in children])
    rows, index, converted = [], [], []
    for i in range(files):
        child = f"C{i // per_child:04d}"
        name = f"{child}/rec_{i:06d}.wav"
        path = root / "recordings" / "raw" / name
        if i % per_child == 0:
            path.parent.mkdir(parents=True)
        path.write_bytes(payload)
        rows.append(["bench", child, "2020-06-01", "09:00", "usb", name])
        if i < annotated:
            target = root / "annotations" / "vtc" / "converted" / f"rec_{i:06d}.csv"
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "w", newline="") as f:
                w = csv.writer(f)
                w.writerow(["raw_filename", "segment_onset", "segment_offset", "speaker_type"])
                step = 2000 // turns
                w.writerows([["x.rttm", k * step, k * step + step // 2, "FEM"] for k in range(turns)])
            converted.append(target)
            index.append(["vtc", name, 0, 0, 2000, "x.rttm", "vtc_rttm", target.name])
    with open(root / "metadata" / "recordings.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["experiment", "child_id", "date_iso", "start_time", "recording_device_type", "recording_filename"])
        w.writerows(rows)
    with open(root / "metadata" / "annotations.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            ["set", "recording_filename", "time_seek", "range_onset", "range_offset", "raw_filename", "format"]
            + ["annotation_filename"]
        )
        w.writerows(index)
    return converted


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=20000)
    parser.add_argument("--annotated", type=int, default=1000)
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        dataset = tmp_path / "dataset"
        converted = make_dataset(dataset, args.files, args.annotated, args.turns)
        data = load_settings(overrides={"paths.catalog": tmp_path / "c.duckdb"}, environ={}).settings.data

        with Catalog.open(tmp_path / "plain.duckdb") as catalog:
            scan(catalog, data, root=dataset / "recordings" / "raw", workers=args.workers)
            plain_sec = best_of(
                args.repeats, lambda: scan(catalog, data, root=dataset / "recordings" / "raw", workers=args.workers)
            )
        metadata_sec = best_of(args.repeats, lambda: read_metadata(dataset))
        with Catalog.open(tmp_path / "cp.duckdb") as catalog:
            first = time.perf_counter()
            scan_dataset(catalog, data, dataset, workers=args.workers)
            first_sec = time.perf_counter() - first
            rescan_sec = best_of(args.repeats, lambda: scan_dataset(catalog, data, dataset, workers=args.workers))
            assert scan_dataset(catalog, data, dataset).unchanged == args.files

            def read_only():
                for path in converted:
                    with open(path, newline="") as f:
                        for _ in csv.DictReader(f):
                            pass

            read_sec = best_of(args.repeats, read_only)
            import_sec = best_of(args.repeats, lambda: import_speech(catalog, dataset, "vtc"))
            stored = catalog.con.execute("SELECT count(*) FROM speech").fetchone()[0]
            assert stored == args.annotated * args.turns, stored

    results = {
        "files": args.files,
        "plain_unchanged_rescan_sec": round(plain_sec, 4),
        "childproject_unchanged_rescan_sec": round(rescan_sec, 4),
        "childproject_over_plain_rescan": round(rescan_sec / plain_sec, 2),
        "metadata_read_sec": round(metadata_sec, 4),
        "childproject_first_scan_sec": round(first_sec, 3),
        "speech_rows": stored,
        "speech_import_sec": round(import_sec, 3),
        "speech_import_rows_per_sec": round(stored / import_sec),
        "csv_read_only_sec": round(read_sec, 3),
        "import_over_csv_read": round(import_sec / read_sec, 2),
        "workers": args.workers,
    }
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
