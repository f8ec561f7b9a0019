"""What reading dates and families from the paths costs a scan (issue 25): a ratio in the same run.

  python bench/bench_recording_dates.py [--files 5000] [--repeats 3]

Every folder scan rewrites the 'path' rows of recording_dates (homecat/recording_dates.py): one regex per
path for the date, one for the family, and a DELETE + INSERT of one row per recording. Measured on a tree
of FAMILY/CHILD/YYYY-MM-DD_N.wav files: an unchanged rescan with data.recording_date_regex and a family
group (the lab's settings) vs the same rescan with neither (nothing read from the paths). An unchanged
rescan is the cheapest scan there is (one stat per file), so the ratio is the worst case. Also: the time to
read every path (a first scan, or the first after either regex changed).
"""

from __future__ import annotations

import argparse
import io
import json
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
from timing import best_of

from homecat.catalog import Catalog
from homecat.recording_dates import store_path_dates
from homecat.scan import scan
from homecat.settings import DataSettings, load_settings

FAMILY_REGEX = r"^(?P<participant>(?P<family>[^/]+)/[^/]+)/"
CHILD_REGEX = r"^(?P<participant>[^/]+/[^/]+)/"


def make_dated_tree(root: Path, files: int, per_child: int = 50) -> None:
    buffer = io.BytesIO()
    sf.write(buffer, np.zeros(800, dtype=np.float32), 16000, format="WAV", subtype="PCM_16")
    payload = buffer.getvalue()
    for i in range(files):
        child = i // per_child
        folder = root / f"FAM{child // 2:04d}" / f"child{child % 2}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}_{i:06d}.wav").write_bytes(payload)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "raw"
        make_dated_tree(root, args.files)
        timings = {}
        for name, regex, date_regex in (
            ("without", CHILD_REGEX, None),
            ("with", FAMILY_REGEX, load_settings(environ={}).settings.data.recording_date_regex),
        ):
            overrides = {"paths.catalog": Path(tmp) / f"{name}.duckdb", "data.raw_audio_root": root,
                         "data.participant_regex": regex, "data.recording_date_regex": date_regex}  # fmt: skip
            settings = load_settings(overrides=overrides, environ={}, cwd=tmp).settings
            if date_regex is None:
                settings.data.recording_date_regex = None  # an override of None means "not given"
            with Catalog.open(settings.paths.catalog) as catalog:
                scan(catalog, settings.data)  # the first scan; the rescans below find nothing changed
                timings[name] = best_of(args.repeats, lambda c=catalog, d=settings.data: scan(c, d))
                dated = catalog.con.execute("SELECT count(date_iso), count(family_id) FROM recording_dates").fetchone()
                if date_regex is not None:  # what a first scan, or one after a regex change, adds: every path read

                    def read_all(c: Catalog = catalog, d: DataSettings = settings.data) -> None:
                        c.con.execute("DELETE FROM catalog_state WHERE key = 'path_dates'")
                        with c.transaction():
                            store_path_dates(c, d)

                    timings["read_every_path"] = best_of(args.repeats, read_all)
            timings[f"{name}_dated_and_family_rows"] = list(dated)
    timings["ratio_with_vs_without"] = round(timings["with"] / timings["without"], 3)
    timings["files"] = args.files
    print(json.dumps(timings, indent=2))


if __name__ == "__main__":
    main()
