"""`homecat validate`: stream each new or changed recording once; store findings, stats and levels.

Which recordings: every ``ok`` recording never validated, or whose (size_bytes, mtime_ns) in
``recordings`` differs from the version ``audio_stats`` describes (all of them with ``redo_all``).
Each file is read once, block by block (``audio.iter_blocks``; memory does not grow with its
length), by a pool of worker processes that only compute; the main process alone writes DuckDB, a
file's findings, stats and levels replaced together in one transaction (on a shared catalog, with up to
``_RESULTS_PER_TRANSACTION`` other files'), so a kill loses at most the files in flight (on a shared
catalog, also those of the last ``catalog_commit_every_sec``, stored in visits that end after a quarter
of ``catalog_read_wait_sec``) and a rerun continues where it stopped.

This module is the orchestration: which files, running them (``homecat.pool``), storing results, scan's findings
and duplicates. The statistics of one stream are ``homecat.levels``; judging them into findings with
messages is ``homecat.findings``.

Activity: a window is active when its RMS reaches the recording's activity threshold,
``max(noise floor + margin, absolute floor)``; ``threshold_source`` says which of the two decided.
A recording is ``silent`` (an error) only when every window is below the *absolute* floor, so a
quiet but real recording is never thrown away because of its own low noise floor.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pyarrow as pa

from homecat import audio
from homecat.catalog import Catalog
from homecat.findings import Finding, Limits, changed, failed, header_changed, judge, permission_denied
from homecat.levels import Levels
from homecat.pool import run_in_pool
from homecat.recordings import fs_path, update_header
from homecat.settings import DataSettings, ValidateSettings
from homecat.shards import Shard

STAGE = "validate"
_SQL = "queries/validate.sql"

# Recordings stored per transaction: their statements cost about as much as one recording's, and a visit to a
# shared catalog is checked against its time limit between transactions (so keep each one short).
_RESULTS_PER_TRANSACTION = 64
# (done, total) hours of audio; the CLI turns it into a bar with a rate.
ProgressFn = Callable[[float, float], None]


@dataclass(frozen=True)
class _Params:
    """Everything a worker needs, small and picklable."""

    window_sec: float
    block_sec: float
    margin_db: float
    noise_percentile: float
    limits: Limits  # what the findings compare against

    @classmethod
    def of(cls, validate: ValidateSettings, data: DataSettings, window_sec: float | None) -> _Params:
        return cls(
            window_sec=window_sec or validate.window_sec,
            block_sec=validate.read_block_sec,
            margin_db=validate.activity_margin_db,
            noise_percentile=validate.noise_floor_percentile,
            limits=Limits.of(validate, data),
        )


@dataclass(frozen=True)
class _Task:
    recording_id: str
    rel_path: str
    path: str
    size_bytes: int
    mtime_ns: int
    header_frames: int | None  # what scan's header read said (FLAC: STREAMINFO total samples)
    duration_sec: float  # header duration, for progress only
    header_rate: int | None = None  # what scan's header read said: a differing header now means a replaced file
    header_channels: int | None = None


@dataclass
class _Result:
    task: _Task
    findings: list[Finding]
    stats: dict[str, Any] | None = None  # None: nothing to store (file vanished/changed/unreadable)
    rms_dbfs: np.ndarray | None = None
    peak_dbfs: np.ndarray | None = None
    header: audio.AudioHeader | None = None  # set when it differs from scan's: the recordings row is updated


@dataclass
class ValidateSummary:
    """What one validation run did."""

    validated: int = 0
    skipped_current: int = 0
    audio_hours: float = 0.0
    by_severity: dict[str, int] = field(default_factory=dict)  # findings of the files validated now

    def rows(self) -> list[dict[str, object]]:
        return [
            {"what": "recordings validated now", "count": self.validated},
            {"what": "recordings already current (not opened)", "count": self.skipped_current},
            {"what": "hours of audio read", "count": round(self.audio_hours, 3)},
            *({"what": f"{sev} findings (these files)", "count": n} for sev, n in sorted(self.by_severity.items())),
        ]


def validate(
    catalog: Catalog,
    settings: ValidateSettings,
    data: DataSettings,
    redo_all: bool = False,
    workers: int | None = None,
    window_sec: float | None = None,
    progress: ProgressFn | None = None,
    shard: Shard | None = None,
) -> ValidateSummary:
    """Validate every recording that needs it (of ``shard`` only, when given: one task of a job array); one
    transaction per file (on a shared catalog, up to ``_RESULTS_PER_TRANSACTION`` files per transaction)."""
    params = _Params.of(settings, data, window_sec)
    now = _now()
    _sync_scan_findings(catalog, now)
    tasks, current = _pending(catalog, redo_all)
    if shard is not None:
        tasks = list(shard.take(tasks))
    summary = ValidateSummary(skipped_current=current)
    total_hours = sum(t.duration_sec for t in tasks) / 3600.0
    done_hours = 0.0
    workers = workers or settings.validate_workers or os.cpu_count() or 1
    catalog.release()  # a shared catalog is free while files are read; each batch of results takes it back
    batches = catalog.batched(lambda results: _store(catalog, results, _now()), _RESULTS_PER_TRANSACTION)
    try:
        for result in run_in_pool(validate_file, tasks, params, workers):
            batches.add(result)
            summary.validated += 1
            done_hours += result.task.duration_sec / 3600.0
            if result.stats:
                summary.audio_hours += result.stats["duration_sec"] / 3600.0
            for finding in result.findings:
                summary.by_severity[finding.severity] = summary.by_severity.get(finding.severity, 0) + 1
            if progress:
                progress(done_hours, total_hours)
    finally:  # results already computed are stored, also when a worker died or Ctrl-C stopped the run
        batches.flush()
    _mark_duplicates(catalog, _now(), settings.duplicate_rule)
    return summary


def validate_file(task: _Task, params: _Params) -> _Result:
    """Stream one recording once and judge it (runs in a worker process); whatever it raises is a finding."""
    try:
        return _validate_file(task, params)
    except Exception as exc:  # one recording never ends the run: it is judged 'failed' and the next one is read
        return _Result(task, [failed(STAGE, task.rel_path, exc)])


def _validate_file(task: _Task, params: _Params) -> _Result:
    name = task.rel_path
    try:
        before = os.stat(task.path)
    except FileNotFoundError:
        return _Result(task, [Finding("missing", "error", f"{name} vanished after the last scan; run 'homecat scan'.")])
    except PermissionError as exc:
        return _Result(task, [permission_denied(name, exc.strerror)])
    except OSError as exc:
        return _Result(task, [Finding("unreadable", "error", f"{name} cannot be opened: {exc.strerror or exc}.")])
    if (before.st_size, before.st_mtime_ns) != (task.size_bytes, task.mtime_ns):
        return _Result(task, [changed(name)])
    try:
        header = audio.read_header(task.path)
        layout = audio.wav_layout(task.path) if header.format == "WAV" else None
        digest = audio.content_digest(task.path)
    except audio.AudioPermissionError as exc:
        return _Result(task, [permission_denied(name, str(exc))])
    except (audio.AudioReadError, OSError) as exc:
        return _Result(task, [Finding("unreadable", "error", f"{name} cannot be read: {str(exc).rstrip('.')}.")])

    levels = Levels(
        header.sample_rate,
        params.window_sec,
        params.block_sec,
        params.limits.channel_policy,
        audio.clip_level(header.subtype),
        header.channels,
    )
    read_error = None
    try:
        for block in audio.iter_blocks(task.path, levels.block_frames):
            levels.add(block)
    except audio.AudioReadError as exc:
        read_error = str(exc)
    levels.finish()

    try:
        after = os.stat(task.path)
    except OSError:
        after = None
    if after is None or (after.st_size, after.st_mtime_ns) != (task.size_bytes, task.mtime_ns):
        return _Result(task, [changed(name)])

    sr = header.sample_rate
    frames_read = levels.frames
    stats = levels.stats(params.noise_percentile, params.margin_db, params.limits.silence_floor_dbfs)
    stats.update(
        recording_id=task.recording_id,
        size_bytes=task.size_bytes,
        mtime_ns=task.mtime_ns,
        frames_read=frames_read,
        duration_sec=frames_read / sr,
        window_sec=params.window_sec,
        content_digest=digest,
    )
    scanned = (task.header_rate, task.header_channels, task.header_frames)
    stale = task.header_rate is not None and (header.sample_rate, header.channels, header.frames) != scanned
    findings = judge(name, header, layout, None if stale else task.header_frames, read_error, stats, params.limits)
    if stale:  # same size and mtime, other audio: the file was replaced; the catalog takes what is there now
        findings.insert(0, header_changed(name, scanned, header))
    return _Result(task, findings, stats, levels.rms_dbfs, levels.peak_dbfs, header if stale else None)


# --------------------------------------------------------------------------- running and storing


def _pending(catalog: Catalog, redo_all: bool) -> tuple[list[_Task], int]:
    rows = catalog.con.execute(
        """SELECT r.recording_id, r.rel_path, r.path, r.size_bytes, r.mtime_ns, r.frames,
                  coalesce(r.duration_sec, 0),
                  s.recording_id IS NOT NULL AND s.size_bytes = r.size_bytes AND s.mtime_ns = r.mtime_ns,
                  r.path_bytes, r.sample_rate, r.channels
           FROM recordings r LEFT JOIN audio_stats s USING (recording_id)
           WHERE r.status = 'ok'
           ORDER BY r.rel_path"""
    ).fetchall()
    tasks = [
        _Task(row[0], row[1], fs_path(row[2], row[8]), *row[3:7], header_rate=row[9], header_channels=row[10])
        for row in rows
        if redo_all or not row[7]
    ]
    return tasks, len(rows) - len(tasks)


# The columns of audio_stats, as add_stats in queries/validate.sql names them.
_STATS_COLUMNS = [
    "recording_id",
    "size_bytes",
    "mtime_ns",
    "frames_read",
    "duration_sec",
    "rms_dbfs",
    "peak_dbfs",
    "dc_offset",
    "clip_fraction",
    "window_sec",
    "noise_floor_dbfs",
    "activity_threshold_dbfs",
    "threshold_source",
    "silent_fraction",
    "active_sec",
    "content_digest",
    "validated_at",
]


def _store(catalog: Catalog, results: list[_Result], now: datetime) -> None:
    """Replace the findings, stats and levels of the recordings of ``results``, in one transaction.

    A few set-based statements for the lot: a statement per recording costs ~10 ms each (most of a short
    file's validation) and a scan of ``levels`` per recording, so the catalog would be held longer."""
    ids = pa.table({"recording_id": pa.array([r.task.recording_id for r in results], pa.string())})
    findings = [
        {"recording_id": r.task.recording_id, "code": f.code, "severity": f.severity, "message": f.message}
        for r in results
        for f in r.findings
    ]
    stored = [r for r in results if r.stats is not None]
    stats = [dict(r.stats, validated_at=now) for r in stored]
    levels = [_levels_table(r) for r in stored if len(r.rms_dbfs)]
    with catalog.transaction() as con:  # the tables above are built before it takes the file
        con.register("validated_ids", ids)
        catalog.run(_SQL, "forget_validated", {"stage": STAGE})
        catalog.run(_SQL, "forget_validated_stats")
        catalog.run(_SQL, "forget_validated_levels")
        con.unregister("validated_ids")
        if findings:
            batch = pa.Table.from_pylist(findings).append_column("stage", pa.array([STAGE] * len(findings)))
            con.register("findings_batch", batch.append_column("found_at", pa.array([now] * len(findings))))
            catalog.run(_SQL, "add_findings")
            con.unregister("findings_batch")
        for result in stored:
            if result.header is not None:
                update_header(catalog, result.task.recording_id, result.header)
        if stats:
            con.register("stats_batch", pa.Table.from_pylist([{c: row[c] for c in _STATS_COLUMNS} for row in stats]))
            catalog.run(_SQL, "add_stats")
            con.unregister("stats_batch")
        if levels:
            con.register("levels_batch", pa.concat_tables(levels))
            catalog.run(_SQL, "add_levels")
            con.unregister("levels_batch")


def _levels_table(result: _Result) -> pa.Table:
    n = len(result.rms_dbfs)
    return pa.table(
        {
            "recording_id": pa.array([result.task.recording_id] * n, pa.string()),
            "window_index": pa.array(np.arange(n, dtype=np.int32)),
            # 0.01 dB is far below any decision made on these, and compresses much better
            "rms_dbfs": pa.array(np.round(result.rms_dbfs, 2).astype(np.float32)),
            "peak_dbfs": pa.array(np.round(result.peak_dbfs, 2).astype(np.float32)),
        }
    )


def _sync_scan_findings(catalog: Catalog, now: datetime) -> None:
    """Scan's unreadable recordings become error findings (stage 'scan'); stale ones go away.
    Other findings of the scan (a ChildProject dataset's missing files, ...) are the scan's to keep."""
    with catalog.transaction():
        catalog.run(_SQL, "forget_stale_unreadable")
        catalog.run(_SQL, "add_unreadable", {"now": now})
        # What validate learnt about an earlier, readable version of such a file no longer holds.
        catalog.run(_SQL, "forget_unreadable_stats")
        catalog.run(_SQL, "forget_unreadable_levels")
        catalog.run(_SQL, "forget_unreadable_findings", {"stage": STAGE})


def _mark_duplicates(catalog: Catalog, now: datetime, rule: str) -> None:
    """Findings on every recording whose bytes equal an earlier one's (by path): with ``rule`` 'first-by-path'
    an exact copy (same SHA-1) is an error naming the kept copy, the first by path; a digest-only match, or
    any match under 'keep-all', a warning. Recomputed over the whole catalog, so it never goes stale."""
    with catalog.transaction():
        catalog.run(_SQL, "forget_duplicates", {"stage": STAGE})
        catalog.run(_SQL, "add_duplicates", {"stage": STAGE, "now": now, "rule": rule})


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)
