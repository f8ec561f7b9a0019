"""lhotse export benchmark (issue 19): `homecat export --format lhotse` of a large catalog, with lhotse's own
writer of the same manifests as the baseline, measured in the same run.

  python bench/bench_export.py [--recordings 10000] [--segments-per-recording 20] [--repeats 3]

The catalog's rows are inserted directly (the export reads only the catalog, never the audio): day-long
16 kHz recordings, each with --segments-per-recording segments of two source files (half of them the
same events again, which the export leaves out) and as many speech rows.
- homecat: two queries, then recordings.jsonl.gz and supervisions.jsonl.gz written with json + gzip.
- also `report segments` over the same segments (finding the repeats of another file is part of it).
- baseline: lhotse building Recording / SupervisionSegment objects from the same rows and writing them
  with RecordingSet.to_file / SupervisionSet.to_file (what a user would do with lhotse alone).
Each timing is the best of --repeats runs.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from timing import best_of

from homecat.catalog import Catalog, named_queries
from homecat.export import export_lhotse


def fill(catalog: Catalog, recordings: int, per_recording: int) -> None:
    con = catalog.con
    con.execute(
        """
        INSERT INTO recordings
        SELECT printf('P%03d/rec_%05d.wav', i % 500, i), printf('/data/P%03d/rec_%05d.wav', i % 500, i),
               printf('rec_%05d', i), printf('P%03d', i % 500), 1000, 1, 'WAV', 'PCM_16', 16000, 1,
               16000 * 57600, 57600.0, NULL, 'ok', NULL, now(), now(), now()
        FROM range(?) AS t(i)
        """,
        [recordings],
    )
    half = per_recording // 2
    con.execute(
        """
        INSERT INTO segments (segment_id, recording_id, start_sec, end_sec, label, tier, source, imported_at)
        SELECT printf('%016x', hash(i, j, src)), printf('rec_%05d', i), j * 60.0 + src * 0.004, j * 60.0 + 1.5,
               ['CHI', 'FEM', 'MAL'][1 + j % 3], 'vtc', ['a.csv', 'b.TextGrid'][1 + src], now()
        FROM range(?) AS r(i), range(?) AS s(j), range(2) AS u(src)
        """,
        [recordings, half],
    )
    con.execute(
        """
        INSERT INTO speech
        SELECT printf('rec_%05d', i), j * 30.0, j * 30.0 + 2.0, 'vtc', ['KCHI', 'FEM'][1 + j % 2]
        FROM range(?) AS r(i), range(?) AS s(j)
        """,
        [recordings, per_recording],
    )


def lhotse_baseline(catalog: Catalog, out: Path) -> None:
    from lhotse import AudioSource, Recording, RecordingSet, SupervisionSegment, SupervisionSet

    out.mkdir(exist_ok=True)
    recs = catalog.con.execute("SELECT recording_id, path, sample_rate, channels, frames FROM recordings").fetchall()
    sups = catalog.con.execute(
        "SELECT segment_id, recording_id, start_sec, end_sec, label FROM segments UNION ALL "
        "SELECT 'sp' || row_number() OVER (), recording_id, start_sec, end_sec, label FROM speech"
    ).fetchall()
    RecordingSet.from_recordings(
        Recording(rid, [AudioSource("file", list(range(c)), path)], rate, frames, frames / rate, list(range(c)))
        for rid, path, rate, c, frames in recs
    ).to_file(out / "recordings.jsonl.gz")
    SupervisionSet.from_segments(
        SupervisionSegment(sid, rid, start, round(end - start, 6), channel=0, speaker=label)
        for sid, rid, start, end, label in sups
    ).to_file(out / "supervisions.jsonl.gz")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recordings", type=int, default=10_000)
    parser.add_argument("--segments-per-recording", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        with Catalog.open(tmp / "c.duckdb") as catalog:
            fill(catalog, args.recordings, args.segments_per_recording)
            written = export_lhotse(catalog, tmp / "out", "mean", 0.01)
            rows = {w.path.name: w.rows for w in written}
            homecat_sec = best_of(args.repeats, lambda: export_lhotse(catalog, tmp / "out", "mean", 0.01))
            report = named_queries("reports/segments.sql")["segments"].sql
            report_sec = best_of(args.repeats, lambda: catalog.rows(report, {"tolerance_sec": 0.01}))
            try:
                baseline_sec = best_of(args.repeats, lambda: lhotse_baseline(catalog, tmp / "base"))
            except ImportError:
                baseline_sec = None
    print(
        json.dumps(
            {
                "recordings": rows["recordings.jsonl.gz"],
                "supervisions": rows["supervisions.jsonl.gz"],
                "homecat_export_sec": round(homecat_sec, 3),
                "lhotse_objects_and_to_file_sec": round(baseline_sec, 3) if baseline_sec else None,
                "ratio_vs_lhotse": round(homecat_sec / baseline_sec, 2) if baseline_sec else None,
                "report_segments_sec": round(report_sec, 3),
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
