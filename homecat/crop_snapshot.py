"""The catalog side of crops: the one query that builds a ``CropIndex``, and the snapshot it is saved as.

The trainer builds the index here once, writes it into the run folder with ``write_snapshot`` and works
from that file (``CropIndex.load``), so ``homecat.crops`` and its DataLoader workers never open the catalog.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from homecat import audio
from homecat.catalog import Catalog, named_queries
from homecat.crops.index import SNAPSHOT_KEY, SNAPSHOT_VERSION, STR_COLUMNS, CropIndex, str_array
from homecat.recordings import fs_path, shown


def build_crop_index(
    catalog: Catalog,
    splits: Sequence[str] = ("train",),
    crop_sec: float = 8.0,
    speech_source: str | None = None,
    speech_labels: Sequence[str] = (),
) -> CropIndex:
    """The index of ``splits`` from ONE catalog query; recordings shorter than ``crop_sec`` are counted, not kept.

    With ``speech_source``, each recording's turns of that source (and ``speech_labels``; all when
    empty) come along, merged where they overlap (voice types such as FEM and KCHI often do).
    """
    query = named_queries("queries/crops.sql")["crop_index"].sql
    params = {"splits": list(splits), "speech_source": speech_source, "speech_labels": list(speech_labels)}
    columns, rows = catalog.rows(query, params)
    records = [dict(zip(columns, row)) for row in rows]
    for r in records:
        r["path"] = fs_path(r["path"], r.pop("path_bytes"))
    keep = [r for r in records if (r["frames_read"] or 0) >= audio.seconds_to_frames(crop_sec, r["sample_rate"])]
    short = [r for r in records if r not in keep]
    lengths = [len(r["active_windows"]) for r in keep]
    merged = [_merge_turns(r["speech"]) for r in keep]
    return CropIndex(
        **{name: str_array([r[name] for r in keep]) for name in STR_COLUMNS},
        sample_rate=np.array([r["sample_rate"] for r in keep], np.int32),
        channels=np.array([r["channels"] for r in keep], np.int16),
        frames=np.array([r["frames_read"] for r in keep], np.int64),
        window_sec=np.array([r["window_sec"] for r in keep], np.float64),
        activity_threshold_dbfs=np.array(
            [np.nan if r["activity_threshold_dbfs"] is None else r["activity_threshold_dbfs"] for r in keep], np.float32
        ),
        active_offsets=np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)]).astype(np.int64),
        active_windows=np.array([w for r in keep for w in r["active_windows"]], np.int32),
        crop_sec=float(crop_sec),
        excluded_short=len(short),
        excluded_short_sec=float(sum(r["duration_sec"] or 0.0 for r in short)),
        speech_offsets=np.concatenate([[0], np.cumsum([len(m[0]) for m in merged], dtype=np.int64)]).astype(np.int64),
        speech_start_sec=np.concatenate([m[0] for m in merged] or [np.zeros(0)]).astype(np.float64),
        speech_end_sec=np.concatenate([m[1] for m in merged] or [np.zeros(0)]).astype(np.float64),
        speech_source=speech_source,
        speech_labels=tuple(speech_labels),
        speech_processed=np.array([bool(r["speech_processed"]) for r in keep], bool),
    )


def _merge_turns(turns: Sequence[Sequence[float]]) -> tuple[np.ndarray, np.ndarray]:
    """Sorted, non-overlapping (start_sec, end_sec) arrays covering the same time as ``turns``."""
    pairs = np.asarray(turns, np.float64).reshape(-1, 2)
    pairs = pairs[pairs[:, 1] > pairs[:, 0]]
    pairs = pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]  # by start (the query sorts already: cheap)
    if len(pairs) == 0:
        return np.zeros(0), np.zeros(0)
    reach = np.maximum.accumulate(pairs[:, 1])
    new_run = np.r_[True, pairs[1:, 0] > reach[:-1]]  # touching turns join
    run = np.cumsum(new_run) - 1
    starts = pairs[new_run, 0]
    ends = np.zeros(len(starts))
    np.maximum.at(ends, run, pairs[:, 1])
    return starts, ends


def write_snapshot(index: CropIndex, path: str | Path) -> Path:
    """Write ``index`` as a Parquet snapshot (one row per recording; the index's facts in the schema metadata)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    paths = index.path.tolist()
    columns: dict[str, Any] = {
        name: pa.array([shown(p) for p in paths] if name == "path" else getattr(index, name).tolist(), pa.string())
        for name in STR_COLUMNS
    }
    # a name that is not valid UTF-8 is text only as shown: its exact bytes come back from path_bytes
    columns["path_bytes"] = pa.array([os.fsencode(p) for p in paths], pa.binary())
    columns.update(
        sample_rate=pa.array(index.sample_rate, pa.int32()),
        channels=pa.array(index.channels, pa.int16()),
        frames=pa.array(index.frames, pa.int64()),
        window_sec=pa.array(index.window_sec, pa.float64()),
        activity_threshold_dbfs=pa.array(index.activity_threshold_dbfs, pa.float32()),
        active_windows=pa.ListArray.from_arrays(
            pa.array(index.active_offsets, pa.int32()), pa.array(index.active_windows, pa.int32())
        ),
        speech_start_sec=pa.ListArray.from_arrays(
            pa.array(index.speech_offsets, pa.int32()), pa.array(index.speech_start_sec, pa.float64())
        ),
        speech_end_sec=pa.ListArray.from_arrays(
            pa.array(index.speech_offsets, pa.int32()), pa.array(index.speech_end_sec, pa.float64())
        ),
        speech_processed=pa.array(index.speech_processed, pa.bool_()),
    )
    meta = {
        "version": SNAPSHOT_VERSION,
        "crop_sec": index.crop_sec,
        "excluded_short": index.excluded_short,
        "excluded_short_sec": index.excluded_short_sec,
        "speech_source": index.speech_source,
        "speech_labels": list(index.speech_labels),
    }
    table = pa.table(columns).replace_schema_metadata({SNAPSHOT_KEY: json.dumps(meta)})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return path
