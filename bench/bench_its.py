"""LENA .its import benchmark (issue 19): rows/s, with a baseline measured in the same run.

  python bench/bench_its.py [--segments 20000] [--repeats 3]

- `homecat segments import` of a day-long .its file (~16 h, --segments <Segment> elements in
  Conversation/Pause blocks): stream the XML, check every segment against the catalog, replace the file's
  rows and the recording's clock times.
- `homecat vad import` of the same file (the voice types only, as speech rows).
- the floor: `xml.etree.ElementTree.iterparse` over the same file collecting (spkr, startTime, endTime)
  and nothing else.
Each timing is the best of --repeats runs, because these machines are noisy.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
from timing import best_of

from homecat import audio
from homecat.catalog import Catalog
from homecat.scan import scan
from homecat.segments import import_file
from homecat.settings import load_settings
from homecat.speech import import_its

_RATE = 1000  # Hz: scan's lowest readable rate, so a day-long recording is ~115 MB of 16-bit silence
_DAY_SEC = 16 * 3600.0
_TYPES = ["CHN", "CHF", "FAN", "FAF", "MAN", "MAF", "CXN", "CXF", "OLN", "OLF", "TVN", "TVF", "NON", "NOF", "SIL"]


def make_its(path: Path, segments: int, seed: int = 0) -> None:
    """Segments tiling the day (LENA's segments are contiguous), four per block, two recorder parts."""
    rng = random.Random(seed)
    step = _DAY_SEC / segments
    with open(path, "w", encoding="utf-8") as f:
        f.write('<?xml version="1.0" encoding="UTF-8"?>\n<ITS fileName="day"><ProcessingUnit>\n')
        half = _DAY_SEC / 2
        t = 0.0
        for part, (start, end) in enumerate([(0.0, half), (half, _DAY_SEC)], start=1):
            clock = f"2019-03-04T{7 + 8 * (part - 1):02d}:00:00Z"
            f.write(
                f'<Recording num="{part}" startClockTime="{clock}" startTime="PT{start:.2f}S" endTime="PT{end:.2f}S">\n'
            )
            block = 0
            while t < end - 1e-6:
                block += 1
                f.write(f'<Conversation num="{block}" startTime="PT{t:.2f}S">\n')
                for _ in range(4):
                    if t >= end - 1e-6:
                        break
                    stop = min(end, t + step)
                    f.write(
                        f'<Segment spkr="{rng.choice(_TYPES)}" average_dB="-38.52" peak_dB="-27.10" '
                        f'startTime="PT{t:.2f}S" endTime="PT{stop:.2f}S"/>\n'
                    )
                    t = stop
                f.write("</Conversation>\n")
            f.write("</Recording>\n")
        f.write("</ProcessingUnit></ITS>\n")


def bare_parse(path: Path) -> int:
    rows = []
    for _, elem in ET.iterparse(str(path)):
        if elem.tag == "Segment":
            rows.append((elem.get("spkr"), elem.get("startTime"), elem.get("endTime")))
            elem.clear()
    return len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        hour = np.zeros((3600 * _RATE, 1), dtype=np.float32)
        hours = (hour for _ in range(int(_DAY_SEC // 3600)))  # written an hour at a time: 14 MB in memory
        audio.write_audio(tmp / "raw" / "C01" / "e20190304_070000_012345.wav", hours, _RATE, 1)
        its_path = tmp / "e20190304_070000_012345.its"
        make_its(its_path, args.segments)
        segments = bare_parse(its_path)
        file_mb = its_path.stat().st_size / 1e6
        settings = load_settings(
            overrides={"paths.catalog": tmp / "c.duckdb", "data.raw_audio_root": tmp / "raw"}, environ={}, cwd=tmp
        ).settings
        with Catalog.open(settings.paths.catalog) as catalog:
            scan(catalog, settings.data)
            result = import_file(catalog, its_path)
            assert result.imported == segments and result.skipped == 0, result
            segments_sec = best_of(args.repeats, lambda: import_file(catalog, its_path))
            speech_sec = best_of(args.repeats, lambda: import_its(catalog, [its_path]))
            speech_rows = catalog.con.execute("SELECT count(*) FROM speech").fetchone()[0]
        bare_sec = best_of(args.repeats, lambda: bare_parse(its_path))
    print(
        json.dumps(
            {
                "segments": segments,
                "file_mb": round(file_mb, 1),
                "segments_import_sec": round(segments_sec, 3),
                "segments_rows_per_sec": round(segments / segments_sec),
                "vad_import_sec": round(speech_sec, 3),
                "vad_speech_rows": speech_rows,
                "iterparse_only_sec": round(bare_sec, 3),
                "ratio_segments_vs_iterparse": round(segments_sec / bare_sec, 1),
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
