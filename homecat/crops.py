"""Random training crops read straight from the raw files: the crop index, the dataset, the dev crops, the preview.

Owns how a crop is drawn (a recording by duration, a start by ``crops.crop_policy``, one window read,
silent crops redrawn by ``crops.on_silent``) and keeps it a pure function of (crop_seed, epoch, rank, k), so
runs resume exactly. ``CropIndex`` holds numpy arrays only (no DuckDB) and pickles into DataLoader workers.
Users read README.md "Splits and training crops" and "Vocal activity and crop policies". Writes no files.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from homecat import audio
from homecat.catalog import Catalog, named_queries
from homecat.errors import HomecatError, first_line
from homecat.scan import fs_path, shown
from homecat.settings import CropSettings, DataSettings

log = logging.getLogger(__name__)

SNAPSHOT_VERSION = 3  # 2: speech turns; 3: whether the speech source processed each recording
POLICY_PARTS = ("speech", "energy", "uniform")  # the order a mixture's weights are laid out in
_SILENCE_FLOOR_DBFS = -120.0
_DEV_STREAM = 0xDE7  # keeps the dev crops' generators apart from every training stream
_STR_COLUMNS = ("recording_id", "participant_id", "split", "rel_path", "path")


class NoCrops(HomecatError):
    """There is nothing to draw crops from."""


@dataclass
class CropIndex:
    """Every recording crops can come from, as parallel numpy arrays (one element per recording)."""

    recording_id: np.ndarray
    participant_id: np.ndarray
    split: np.ndarray
    rel_path: np.ndarray
    path: np.ndarray
    sample_rate: np.ndarray  # int32
    channels: np.ndarray  # int16
    frames: np.ndarray  # int64, frames readable (validation's count, not the header's claim)
    window_sec: np.ndarray  # float64, window length of the levels
    activity_threshold_dbfs: np.ndarray  # float32, NaN when unknown
    active_offsets: np.ndarray  # int64, n+1: active_windows[active_offsets[i]:active_offsets[i+1]]
    active_windows: np.ndarray  # int32 window indices, concatenated
    crop_sec: float  # recordings shorter than this were left out
    excluded_short: int = 0
    excluded_short_sec: float = 0.0
    # speech turns, merged (no overlaps), sorted: speech_start_sec[speech_offsets[i]:speech_offsets[i+1]]
    speech_offsets: np.ndarray | None = None  # int64, n+1
    speech_start_sec: np.ndarray | None = None  # float64
    speech_end_sec: np.ndarray | None = None  # float64
    speech_source: str | None = None  # which rows they are (None: none were loaded)
    speech_labels: tuple[str, ...] = ()
    speech_processed: np.ndarray | None = None  # bool: the source looked at the recording (older snapshots: none)

    def __post_init__(self) -> None:
        self.duration_sec = self.frames / np.maximum(self.sample_rate, 1)
        self.cum_duration_sec = np.cumsum(self.duration_sec)
        if self.speech_offsets is None:
            self.speech_offsets = np.zeros(len(self.recording_id) + 1, np.int64)
            self.speech_start_sec = np.zeros(0, np.float64)
            self.speech_end_sec = np.zeros(0, np.float64)
        self.speech_labels = tuple(self.speech_labels)
        if self.speech_processed is None:
            self.speech_processed = np.zeros(len(self.recording_id), bool)

    def __len__(self) -> int:
        return len(self.recording_id)

    @property
    def total_sec(self) -> float:
        return float(self.cum_duration_sec[-1]) if len(self) else 0.0

    def active(self, i: int) -> np.ndarray:
        return self.active_windows[self.active_offsets[i] : self.active_offsets[i + 1]]

    def speech(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Recording i's merged speech turns: (start_sec, end_sec) arrays."""
        lo, hi = self.speech_offsets[i], self.speech_offsets[i + 1]
        return self.speech_start_sec[lo:hi], self.speech_end_sec[lo:hi]

    def speech_share(self, i: int, start_sec: float, duration_sec: float) -> float:
        """Share of [start_sec, start_sec + duration_sec] of recording i covered by its speech turns."""
        starts, ends = self.speech(i)
        if duration_sec <= 0 or len(starts) == 0:
            return 0.0
        return (
            float(_covered(starts, ends, start_sec + duration_sec) - _covered(starts, ends, start_sec)) / duration_sec
        )

    @property
    def without_speech(self) -> int:
        """Recordings with no speech turns at all."""
        return int(np.sum(np.diff(self.speech_offsets) == 0))

    def speechless_processed(self) -> np.ndarray:
        """Indexes of recordings the speech source processed and found no speech in: no speech crops from them."""
        return np.flatnonzero((np.diff(self.speech_offsets) == 0) & self.speech_processed)

    def summary(self) -> dict[str, Any]:
        return {
            "recordings": len(self),
            "participants": len(set(self.participant_id.tolist())),
            "hours": round(self.total_sec / 3600, 3),
            "recordings_shorter_than_a_crop": self.excluded_short,
            "hours_shorter_than_a_crop": round(self.excluded_short_sec / 3600, 3),
            "crop_sec": self.crop_sec,
            "speech_source": self.speech_source,
            "recordings_without_speech": self.without_speech,
            "recordings_processed_without_speech": len(self.speechless_processed()),
        }

    # ------------------------------------------------------------------ snapshot

    def save(self, path: str | Path) -> Path:
        """Write a Parquet snapshot (one row per recording; the index's facts in the schema metadata)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        paths = self.path.tolist()
        columns: dict[str, Any] = {
            name: pa.array([shown(p) for p in paths] if name == "path" else getattr(self, name).tolist(), pa.string())
            for name in _STR_COLUMNS
        }
        # a name that is not valid UTF-8 is text only as shown: its exact bytes come back from path_bytes
        columns["path_bytes"] = pa.array([os.fsencode(p) for p in paths], pa.binary())
        columns.update(
            sample_rate=pa.array(self.sample_rate, pa.int32()),
            channels=pa.array(self.channels, pa.int16()),
            frames=pa.array(self.frames, pa.int64()),
            window_sec=pa.array(self.window_sec, pa.float64()),
            activity_threshold_dbfs=pa.array(self.activity_threshold_dbfs, pa.float32()),
            active_windows=pa.ListArray.from_arrays(
                pa.array(self.active_offsets, pa.int32()), pa.array(self.active_windows, pa.int32())
            ),
            speech_start_sec=pa.ListArray.from_arrays(
                pa.array(self.speech_offsets, pa.int32()), pa.array(self.speech_start_sec, pa.float64())
            ),
            speech_end_sec=pa.ListArray.from_arrays(
                pa.array(self.speech_offsets, pa.int32()), pa.array(self.speech_end_sec, pa.float64())
            ),
            speech_processed=pa.array(self.speech_processed, pa.bool_()),
        )
        meta = {
            "version": SNAPSHOT_VERSION,
            "crop_sec": self.crop_sec,
            "excluded_short": self.excluded_short,
            "excluded_short_sec": self.excluded_short_sec,
            "speech_source": self.speech_source,
            "speech_labels": list(self.speech_labels),
        }
        table = pa.table(columns).replace_schema_metadata({"homecat_crop_index": json.dumps(meta)})
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> CropIndex:
        """Read a snapshot written by ``save``."""
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
            meta = json.loads(table.schema.metadata[b"homecat_crop_index"])
        except (OSError, KeyError, TypeError, ValueError) as exc:
            raise HomecatError(f"{path} is not a crop index snapshot ({exc}).") from None
        if meta.get("version") not in (1, 2, SNAPSHOT_VERSION):
            raise HomecatError(
                f"{path} is a crop index snapshot of version {meta.get('version')}, not {SNAPSHOT_VERSION}."
            )
        windows = table.column("active_windows").combine_chunks()
        speech: dict[str, Any] = {}
        if meta["version"] >= 2:
            starts = table.column("speech_start_sec").combine_chunks()
            speech = dict(
                speech_offsets=starts.offsets.to_numpy().astype(np.int64) if len(starts) else np.zeros(1, np.int64),
                speech_start_sec=starts.values.to_numpy().astype(np.float64),
                speech_end_sec=table.column("speech_end_sec").combine_chunks().values.to_numpy().astype(np.float64),
                speech_source=meta.get("speech_source"),
                speech_labels=tuple(meta.get("speech_labels") or ()),
            )
        if "path_bytes" in table.column_names:  # older snapshots have the text only
            paths = [os.fsdecode(p) for p in table.column("path_bytes").to_pylist()]
        else:
            paths = table.column("path").to_pylist()
        if meta["version"] >= 3:
            speech["speech_processed"] = table.column("speech_processed").to_numpy(zero_copy_only=False).astype(bool)
        return cls(
            **{name: _str_array(table.column(name).to_pylist()) for name in _STR_COLUMNS if name != "path"},
            path=_str_array(paths),
            sample_rate=table.column("sample_rate").to_numpy().astype(np.int32),
            channels=table.column("channels").to_numpy().astype(np.int16),
            frames=table.column("frames").to_numpy().astype(np.int64),
            window_sec=table.column("window_sec").to_numpy().astype(np.float64),
            activity_threshold_dbfs=table.column("activity_threshold_dbfs").to_numpy().astype(np.float32),
            active_offsets=windows.offsets.to_numpy().astype(np.int64) if len(windows) else np.zeros(1, np.int64),
            active_windows=windows.values.to_numpy().astype(np.int32),
            crop_sec=float(meta["crop_sec"]),
            excluded_short=int(meta["excluded_short"]),
            excluded_short_sec=float(meta["excluded_short_sec"]),
            **speech,
        )


def _str_array(values: Sequence[str]) -> np.ndarray:
    return np.array(values, dtype=str) if len(values) else np.array([], dtype="U1")


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
        **{name: _str_array([r[name] for r in keep]) for name in _STR_COLUMNS},
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


def _covered(starts: np.ndarray, ends: np.ndarray, x: np.ndarray | float) -> np.ndarray:
    """Seconds of the merged turns before time ``x`` (vectorised over x)."""
    if len(starts) == 0:
        return np.zeros_like(np.asarray(x, np.float64))
    lengths = ends - starts
    before = np.concatenate([[0.0], np.cumsum(lengths)])
    j = np.searchsorted(starts, x, side="right") - 1
    inside = np.clip(np.asarray(x) - starts[np.maximum(j, 0)], 0.0, lengths[np.maximum(j, 0)])
    return np.where(j >= 0, before[np.maximum(j, 0)] + inside, 0.0)


def speech_start_ranges(
    starts: np.ndarray, ends: np.ndarray, crop_sec: float, max_start_sec: float, share: float
) -> tuple[np.ndarray, np.ndarray] | None:
    """Where a crop of ``crop_sec`` may start (``lo[j] <= s <= hi[j]``) so that at least ``share`` of it is
    speech, or the most speech any start reaches when none gets that far; None without any speech in reach.

    Exact, not on a grid: a crop's speech seconds are piecewise linear in its start, with corners
    where either edge meets a turn's start or end, so each piece between corners is solved in closed form.
    """
    if len(starts) == 0 or max_start_sec < 0:
        return None
    corners = np.concatenate([[0.0, max_start_sec], starts, ends, starts - crop_sec, ends - crop_sec])
    corners = np.unique(np.clip(corners, 0.0, max_start_sec))
    speech = _covered(starts, ends, corners + crop_sec) - _covered(starts, ends, corners)
    best = float(speech.max())
    if best <= 1e-9:
        return None
    need = min(share * crop_sec, best) - 1e-9
    if len(corners) == 1:
        return corners, corners
    x0, x1, v0, v1 = corners[:-1], corners[1:], speech[:-1], speech[1:]
    slope = np.where(v1 != v0, (x1 - x0) / np.where(v1 != v0, v1 - v0, 1.0), 0.0)
    crossing = x0 + (need - v0) * slope  # where the piece reaches `need`
    lo = np.where(v0 >= need, x0, crossing)
    hi = np.where(v1 >= need, x1, crossing)
    keep = (v0 >= need) | (v1 >= need)
    lo, hi = lo[keep], hi[keep]
    if np.sum(hi - lo) <= 0:  # only single points reach it: keep those
        points = corners[speech >= need]
        return points, points
    return lo, hi


# --------------------------------------------------------------------------- drawing crops


@dataclass
class Crop:
    """One crop: where it came from, how loud it is, how many reads it took, and its samples."""

    recording_index: int
    start_frame: int  # in the file's own frames
    start_sec: float
    rms_dbfs: float
    attempts: int  # reads of this crop's recording(s), the returned one included
    outcome: str  # ok, silent_accepted, silent_marked, skip_exhausted
    silent: bool  # True for outcomes the trainer should not learn from (mark, skip_exhausted)
    samples: np.ndarray | None = None  # float32 at the target rate
    policy: str = "energy"  # the part that drew the start: speech, energy, uniform, energy_fallback (no speech)
    speech_share: float = 0.0  # share of the crop covered by the index's speech turns


@dataclass(frozen=True)
class CropSpec:
    """A crop fixed in advance (the dev set): which recording and where it starts."""

    recording_index: int
    recording_id: str
    rel_path: str
    start_frame: int
    start_sec: float


def rms_dbfs(samples: np.ndarray) -> float:
    """RMS level in dBFS, floored at -120 (digital silence)."""
    if samples.size == 0:
        return _SILENCE_FLOOR_DBFS
    power = float(np.mean(np.square(samples, dtype=np.float64)))
    return max(_SILENCE_FLOOR_DBFS, 10 * math.log10(power)) if power > 0 else _SILENCE_FLOOR_DBFS


def choose_start(index: CropIndex, i: int, read_frames: int, activity_aware: bool, rng: np.random.Generator) -> int:
    """A start frame for a crop of ``read_frames`` frames of recording ``i``.

    Activity-aware: a window that is active and where a crop can still start (not in the last
    crop's length) is chosen uniformly, then a start inside it; no such window: uniform.
    """
    sr = int(index.sample_rate[i])
    max_start = max(0, int(index.frames[i]) - read_frames)
    if activity_aware:
        active = index.active(i)
        window_sec = float(index.window_sec[i])
        # windows are sorted: those starting at or before max_start come first
        usable = int(np.searchsorted(active, max_start / sr / window_sec, side="right")) if window_sec > 0 else 0
        if usable:
            window = int(active[rng.integers(usable)])
            start_sec = (window + rng.random()) * window_sec
            return min(audio.seconds_to_frames(start_sec, sr), max_start)
    return int(rng.integers(max_start + 1))


class CropDataset(Dataset):
    """Map-style dataset: item k is crop k of the current epoch on this rank (see the module docstring)."""

    def __init__(self, index: CropIndex, crops: CropSettings, data: DataSettings, rank: int = 0, epoch: int = 0):
        if len(index) == 0:
            raise NoCrops("No recording can give a crop: run 'homecat validate' and 'homecat split' first.")
        if crops.crop_sec > index.crop_sec:
            raise HomecatError(
                f"The crop index was built for {index.crop_sec} s crops, shorter than crops.crop_sec "
                f"({crops.crop_sec} s): build it again."
            )
        self.index = index
        self.crops = crops
        self.sample_rate = data.sample_rate
        self.channel_policy = data.channel_policy
        self.rank = rank
        self.epoch = epoch
        self.position = 0
        self.crop_frames = audio.seconds_to_frames(crops.crop_sec, data.sample_rate)
        self._unreadable: set[int] = set()  # per process: logged once, then never drawn again
        self._warned_exhausted = False
        weights = crops.policy_weights if crops.crop_policy == "mixture" else {crops.crop_policy: 1.0}
        self.parts = [part for part in POLICY_PARTS if weights.get(part, 0.0) > 0]
        cumulative = np.cumsum([weights[part] for part in self.parts])
        self.part_cumulative = cumulative / cumulative[-1]
        self._speech_ranges: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray] | None] = {}  # lazily, per process
        # processed and found without speech: never drawn for the speech part (its share goes to the others)
        self._speechless = {int(i) for i in index.speechless_processed()} if "speech" in self.parts else set()
        if "speech" in self.parts:
            wanted = (crops.speech_source, tuple(crops.speech_labels))
            if (index.speech_source, index.speech_labels) != wanted:
                raise HomecatError(
                    f"The crop index holds speech of source {index.speech_source!r} with labels "
                    f"{list(index.speech_labels)}, not crops.speech_source {wanted[0]!r} with labels "
                    f"{list(wanted[1])}: build it again."
                )

    def check_speech_rows(self) -> None:
        """Before drawing training crops: recordings without speech rows fall back to energy with a warning;
        when none has any, the speech part would silently be energy (a wrong source or label list, or no
        `homecat vad` yet), so that is an error."""
        if "speech" not in self.parts or not self.index.without_speech:
            return
        c = self.crops
        which = f"source '{c.speech_source}'" + (
            f" with labels {', '.join(c.speech_labels)}" if c.speech_labels else ""
        )
        if self.index.without_speech == len(self.index):
            raise HomecatError(
                f"crops.crop_policy '{c.crop_policy}' draws crops from speech, but none of the {len(self.index)} "
                f"recordings has speech rows of {which}: run 'homecat vad' (or 'homecat vad import'), check "
                "crops.speech_source and crops.speech_labels ('homecat report activity'), or use crop_policy energy."
            )
        speechless = len(self._speechless)
        never = self.index.without_speech - speechless
        if never:
            log.warning(
                "%d of %d recordings have no speech rows of %s and were never processed by it: their speech crops "
                "are drawn by energy instead (run 'homecat vad' or 'homecat vad import').",
                never,
                len(self.index),
                which,
            )
        if speechless:
            log.info("%d recordings hold no speech of %s: they give no speech crops.", speechless, which)

    def __len__(self) -> int:
        return self.crops.crops_per_epoch

    def __getitem__(self, k: int) -> dict[str, Any]:
        crop = self.draw(k)
        return {
            "input_values": torch.from_numpy(crop.samples),
            "silent": crop.silent,
            "recording_index": crop.recording_index,
            "start_sec": crop.start_sec,
            "rms_dbfs": crop.rms_dbfs,
            "attempts": crop.attempts,
        }

    # ------------------------------------------------------------------ resumable position

    def set_epoch(self, epoch: int) -> None:
        """Start ``epoch`` from its first crop.

        Call it before creating the epoch's DataLoader iterator: workers get a copy of the dataset when
        the iterator starts (so do not use ``persistent_workers=True``, which would keep the old epoch).
        """
        if epoch != self.epoch:
            self.epoch, self.position = epoch, 0

    def advance(self, n_crops: int) -> None:
        """Record that the trainer consumed ``n_crops`` more crops of this epoch."""
        self.position += n_crops

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "position": self.position, "crop_seed": self.crops.crop_seed, "rank": self.rank}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self.position = int(state["epoch"]), int(state["position"])

    def sampler(self) -> Sampler[int]:
        """Positions from the current one to the end of the epoch (pass as the DataLoader's sampler)."""
        return _FromPosition(self)

    # ------------------------------------------------------------------ drawing

    def generator(self, k: int) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence([self.crops.crop_seed, self.epoch, self.rank, k]))

    def draw(self, k: int) -> Crop:
        """Crop k of the current epoch on this rank, with its samples."""
        rng = self.generator(k)
        # a mixture's part is the crop's first draw; a single policy draws nothing for it (so `energy`
        # gives the very crops it gave before policies existed)
        part = (
            self.parts[int(np.searchsorted(self.part_cumulative, rng.random(), side="right"))]
            if len(self.parts) > 1
            else self.parts[0]
        )
        tries = self.crops.max_silence_retries + 1
        rounds = min(tries, len(self.index)) if self.crops.on_silent == "skip" else 1
        tried: set[int] = set()
        attempts = 0
        crop: Crop | None = None
        while rounds > 0:
            i = self._choose_recording(rng, tried, part)
            if i is None:  # every recording tried or unreadable
                break
            tried.add(i)
            for _ in range(tries):
                start_frame, policy = self._choose_start(rng, i, part)
                samples = self._read(i, start_frame)
                if samples is None:  # unreadable now: logged once, never drawn again; not a round
                    break
                attempts += 1
                level = rms_dbfs(samples)
                threshold = float(self.index.activity_threshold_dbfs[i])
                sr = int(self.index.sample_rate[i])
                share = self.index.speech_share(i, start_frame / sr, self.crops.crop_sec)
                crop = Crop(i, start_frame, start_frame / sr, level, attempts, "ok", False, samples, policy, share)
                if math.isnan(threshold) or level >= threshold:
                    return crop
            if i not in self._unreadable:
                rounds -= 1
        if crop is None:
            raise NoCrops(f"None of the {len(self.index)} recordings in the crop index can be read.")
        if self.crops.on_silent == "accept":
            crop.outcome = "silent_accepted"
        elif self.crops.on_silent == "mark":
            crop.outcome, crop.silent = "silent_marked", True
        else:
            crop.outcome, crop.silent = "skip_exhausted", True
            if not self._warned_exhausted:
                self._warned_exhausted = True
                log.warning(
                    "Crop %d of epoch %d: %d recordings tried, every crop was silent; returned marked silent "
                    "(the corpus looks mostly silent).",
                    k,
                    self.epoch,
                    len(tried),
                )
        return crop

    def _choose_recording(self, rng: np.random.Generator, tried: set[int], part: str) -> int | None:
        """A recording in proportion to its duration, among those readable and not yet tried (for the speech part:
        and not found without speech)."""
        index = self.index
        excluded = tried | self._unreadable | (self._speechless if part == "speech" else set())
        if not excluded:
            return int(np.searchsorted(index.cum_duration_sec, rng.random() * index.total_sec, side="right"))
        weights = index.duration_sec.copy()
        weights[list(excluded)] = 0.0
        cumulative = np.cumsum(weights)
        if cumulative[-1] <= 0:
            return None
        return int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"))

    def _choose_start(self, rng: np.random.Generator, i: int, part: str) -> tuple[int, str]:
        """A start frame in recording i drawn by policy ``part``, and the policy that really drew it."""
        sr = int(self.index.sample_rate[i])
        read_frames = self._source_frames(sr)
        if part == "speech":
            ranges = self._speech_start_ranges(i, read_frames)
            if ranges is None:
                return choose_start(self.index, i, read_frames, True, rng), "energy_fallback"
            lo, hi, cumulative = ranges
            u = rng.random() * cumulative[-1]
            j = min(int(np.searchsorted(cumulative, u, side="right")), len(lo) - 1)
            start_sec = lo[j] + (u - (cumulative[j - 1] if j else 0.0)) if cumulative[-1] > 0 else lo[j]
            start_sec = min(max(start_sec, lo[j]), hi[j])
            max_start = max(0, int(self.index.frames[i]) - read_frames)
            return min(audio.seconds_to_frames(start_sec, sr), max_start), "speech"
        return choose_start(self.index, i, read_frames, part == "energy", rng), part

    def _speech_start_ranges(self, i: int, read_frames: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        if i not in self._speech_ranges:
            sr = int(self.index.sample_rate[i])
            max_start_sec = max(0, int(self.index.frames[i]) - read_frames) / sr
            starts, ends = self.index.speech(i)
            found = speech_start_ranges(starts, ends, self.crops.crop_sec, max_start_sec, self.crops.min_speech_share)
            if found is None:
                self._speech_ranges[i] = None
            else:
                lo, hi = found
                lengths = hi - lo
                # only single points qualify: each point alike
                weights = lengths if lengths.sum() > 0 else np.ones_like(lengths)
                self._speech_ranges[i] = (lo, hi, np.cumsum(weights))
        return self._speech_ranges[i]

    def _source_frames(self, sr: int) -> int:
        """Frames to read at rate ``sr`` so that resampling gives at least ``crop_frames`` samples."""
        return -(-self.crop_frames * sr // self.sample_rate)

    def _read(self, i: int, start_frame: int) -> np.ndarray | None:
        """Exactly ``crop_frames`` float32 samples at the target rate, or None (logged once) if unreadable."""
        sr = int(self.index.sample_rate[i])
        wanted = self._source_frames(sr)
        try:
            block = audio.read_window(str(self.index.path[i]), start_frame, wanted)
            if len(block) < min(wanted, int(self.index.frames[i]) - start_frame):
                return self._give_up(i, f"only {len(block)} of {wanted} frames could be read at frame {start_frame}")
            samples = audio.resample(audio.to_mono(block, self.channel_policy), sr, self.sample_rate)
        except Exception as exc:  # whatever one recording's reader raises skips that recording, never the run
            if os.environ.get("HOMECAT_DEBUG"):
                log.exception("Reading a crop of %s failed", self.index.rel_path[i])
            why = str(exc) if isinstance(exc, audio.AudioReadError) else f"{type(exc).__name__}: {first_line(exc)}"
            return self._give_up(i, why)
        samples = np.ascontiguousarray(samples[: self.crop_frames], dtype=np.float32)
        if len(samples) < self.crop_frames:  # a recording barely longer than a crop: its last frames
            samples = np.pad(samples, (0, self.crop_frames - len(samples)))
        return samples

    def _give_up(self, i: int, why: str) -> None:
        self._unreadable.add(i)
        log.warning("Skipping %s for crops from now on: %s", self.index.rel_path[i], why)
        return None


class _FromPosition(Sampler[int]):
    def __init__(self, dataset: CropDataset):
        self.dataset = dataset

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.dataset.position, len(self.dataset)))

    def __len__(self) -> int:
        return max(0, len(self.dataset) - self.dataset.position)


# --------------------------------------------------------------------------- dev crops and preview


def dev_crops(index: CropIndex, n: int, crop_sec: float = 8.0, seed: int = 0) -> list[CropSpec]:
    """``n`` fixed, activity-aware crop positions: the same list for the same index and seed, every time.

    Positions only (no audio is read here); ``read_crop`` reads one. Draw them from a dev-split index.
    """
    if len(index) == 0 or n <= 0:
        return []
    specs = []
    for k in range(n):
        rng = np.random.default_rng(np.random.SeedSequence([seed, _DEV_STREAM, k]))
        i = int(np.searchsorted(index.cum_duration_sec, rng.random() * index.total_sec, side="right"))
        sr = int(index.sample_rate[i])
        start = choose_start(index, i, audio.seconds_to_frames(crop_sec, sr), True, rng)
        specs.append(CropSpec(i, str(index.recording_id[i]), str(index.rel_path[i]), start, start / sr))
    return specs


def read_crop(dataset: CropDataset, spec: CropSpec) -> np.ndarray:
    """The samples of a fixed crop, read exactly as training crops are (raises if the file is unreadable)."""
    samples = dataset._read(spec.recording_index, spec.start_frame)
    if samples is None:
        raise HomecatError(f"The dev crop from {spec.rel_path} at {spec.start_sec:.2f} s cannot be read.")
    return samples


@dataclass
class Preview:
    crops: list[Crop]
    elapsed_sec: float

    def rows(self, index: CropIndex) -> list[dict[str, Any]]:
        return [
            {
                "k": k,
                "rel_path": str(index.rel_path[c.recording_index]),
                "start_sec": round(c.start_sec, 3),
                "samples": len(c.samples) if c.samples is not None else 0,
                "rms_dbfs": round(c.rms_dbfs, 1),
                "attempts": c.attempts,
                "outcome": c.outcome,
                "policy": c.policy,
                "speech_share": round(c.speech_share, 3),
            }
            for k, c in enumerate(self.crops)
        ]

    def totals(self) -> dict[str, Any]:
        n = len(self.crops)
        return {
            "crops": n,
            "silent_rate": round(sum(c.outcome != "ok" for c in self.crops) / n, 4) if n else 0.0,
            "mean_attempts": round(sum(c.attempts for c in self.crops) / n, 3) if n else 0.0,
            "mean_speech_share": round(sum(c.speech_share for c in self.crops) / n, 4) if n else 0.0,
            "with_speech_rate": round(sum(c.speech_share > 0 for c in self.crops) / n, 4) if n else 0.0,
            **{
                f"drawn_by_{policy}": sum(c.policy == policy for c in self.crops)
                for policy in sorted({c.policy for c in self.crops})
            },
            "crops_per_sec": round(n / self.elapsed_sec, 2) if self.elapsed_sec > 0 else None,
        }


def preview_crops(dataset: CropDataset, n: int) -> Preview:
    """Draw crops 0..n-1 of the dataset's epoch exactly as training would, timing them."""
    start = time.perf_counter()
    crops = [dataset.draw(k) for k in range(n)]
    return Preview(crops, time.perf_counter() - start)
