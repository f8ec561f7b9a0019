"""`homecat vad`: voice activity with Silero VAD (ONNX, CPU), stored as 'silero' rows of ``speech``.

Owns which recordings need VAD (usable, and changed or never run with these settings: ``vad_state``),
streaming each once in blocks through silero's sequence model (one call per block, the same probabilities
as chunk by chunk) and silero's segment rules, streamed. Workers compute; the main process writes one
transaction per recording through ``speech.store_speech`` (speech.py owns the table). Users read
README.md "Vocal activity and crop policies".
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from homecat import audio
from homecat.catalog import Catalog, named_queries
from homecat.errors import HomecatError
from homecat.findings import failed
from homecat.pool import run_in_pool
from homecat.recordings import fs_path
from homecat.settings import DataSettings, VadSettings
from homecat.shards import Shard
from homecat.speech import VAD_SOURCE, SpeechRow, replace_speech

LABEL = "speech"
_SQL = "queries/vad.sql"
MODEL_FILE = "silero_vad_16k_sequence.onnx"  # silero's batched export; same weights as silero_vad.onnx
SAMPLE_RATE = 16000
CHUNK_SAMPLES = 512  # 32 ms: what the 16 kHz model scores at a time
CONTEXT_SAMPLES = 64  # the end of the previous chunk, fed in front of each chunk
_MISSING_EXTRA = "Voice activity needs silero-vad and onnxruntime: pip install 'homecat[vad]'."

# (done, total) hours of audio; the CLI turns it into a bar with a rate.
ProgressFn = Callable[[float, float], None]


# --------------------------------------------------------------------------- segments from probabilities


class Segmenter:
    """Silero's ``get_speech_timestamps_from_probs`` (without max_speech_duration_s), fed chunk by chunk.

    Positions are samples at 16 kHz, as in silero; ``add`` returns the segments that can no longer
    change (padded), ``finish`` the rest. Holds only the current and the previous segment.
    """

    def __init__(self, settings: VadSettings):
        self.threshold = settings.vad_threshold
        neg = settings.vad_neg_threshold
        self.neg_threshold = max(self.threshold - 0.15, 0.01) if neg is None else neg
        self.min_speech = SAMPLE_RATE * settings.min_speech_sec
        self.min_silence = SAMPLE_RATE * settings.min_silence_sec
        self.pad = SAMPLE_RATE * settings.speech_pad_sec
        self.chunks = 0
        self.triggered = False
        self.start = 0
        self.temp_end = 0  # 0: no silence under way (chunk 0 can never end speech)
        self.pending: list[int] | None = None  # the last finished segment, waiting for its right pad

    def add(self, probs: Sequence[float] | np.ndarray) -> list[tuple[int, int]]:
        done: list[tuple[int, int]] = []
        threshold, neg = self.threshold, self.neg_threshold
        cur = self.chunks * CHUNK_SAMPLES
        for p in np.asarray(probs, np.float32).tolist():
            if p >= threshold and self.temp_end:
                self.temp_end = 0
            if p >= threshold and not self.triggered:
                self.triggered, self.start = True, cur
            elif p < neg and self.triggered:
                if not self.temp_end:
                    self.temp_end = cur
                if cur - self.temp_end >= self.min_silence:
                    if self.temp_end - self.start > self.min_speech:
                        done += self._finished(self.start, self.temp_end)
                    self.triggered, self.temp_end = False, 0
            cur += CHUNK_SAMPLES
        self.chunks += len(probs)
        return done

    def finish(self, total_samples: int) -> list[tuple[int, int]]:
        """The remaining segments; ``total_samples``: the stream's length at 16 kHz."""
        done: list[tuple[int, int]] = []
        if self.triggered and total_samples - self.start > self.min_speech:
            done += self._finished(self.start, total_samples)
        self.triggered = False
        if self.pending is not None:
            start, end = self.pending
            done.append((start, int(min(total_samples, end + self.pad))))
            self.pending = None
        return done

    def _finished(self, start: int, end: int) -> list[tuple[int, int]]:
        if self.pending is None:  # the first segment of the stream
            self.pending = [int(max(0, start - self.pad)), end]
            return []
        previous = self.pending
        gap = start - previous[1]
        if gap < 2 * self.pad:
            previous[1] += int(gap // 2)
            start = int(max(0, start - gap // 2))
        else:
            previous[1] = int(previous[1] + self.pad)
            start = int(max(0, start - self.pad))
        self.pending = [start, end]
        return [(previous[0], previous[1])]


# --------------------------------------------------------------------------- the model


def model_path() -> Path:
    """Silero's packaged sequence model (found without importing silero_vad, which imports torch)."""
    import importlib.util

    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise HomecatError(_MISSING_EXTRA)
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / MODEL_FILE
    if not path.is_file():
        raise HomecatError(f"The installed silero-vad has no {MODEL_FILE}: pip install -U 'homecat[vad]'.")
    return path


def new_session(path: str | Path | None = None) -> Any:
    """An onnxruntime CPU session with one thread (parallelism comes from worker processes)."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise HomecatError(_MISSING_EXTRA) from None
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path or model_path()), options, providers=["CPUExecutionProvider"])


class ChunkScorer:
    """Speech probability of each 512-sample chunk of one 16 kHz stream, a block of chunks per call."""

    def __init__(self, session: Any):
        self.session = session
        self.context = np.zeros(CONTEXT_SAMPLES, np.float32)
        self.h = np.zeros((1, 1, 128), np.float32)
        self.c = np.zeros((1, 1, 128), np.float32)

    def __call__(self, chunks: np.ndarray) -> np.ndarray:
        """``chunks``: (n, 512) float32, consecutive; returns n probabilities."""
        n = len(chunks)
        if n == 0:
            return np.zeros(0, np.float32)
        batch = np.empty((n, CONTEXT_SAMPLES + CHUNK_SAMPLES), np.float32)
        batch[:, CONTEXT_SAMPLES:] = chunks
        batch[0, :CONTEXT_SAMPLES] = self.context
        batch[1:, :CONTEXT_SAMPLES] = chunks[:-1, -CONTEXT_SAMPLES:]
        self.context = chunks[-1, -CONTEXT_SAMPLES:].copy()
        probs, self.h, self.c = self.session.run(
            ["speech_probs", "hn", "cn"], {"input": batch, "h": self.h, "c": self.c}
        )
        return np.asarray(probs, np.float32).reshape(-1)


def detect_speech(
    blocks: Iterable[np.ndarray], session: Any, settings: VadSettings
) -> tuple[list[tuple[float, float]], int]:
    """(start_sec, end_sec) of the speech in a stream of 1-D float32 16 kHz blocks, and its length in samples."""
    scorer = ChunkScorer(session)
    segmenter = Segmenter(settings)
    segments: list[tuple[int, int]] = []
    rest = np.zeros(0, np.float32)
    total = 0
    for block in blocks:
        total += len(block)
        samples = np.concatenate([rest, block]) if len(rest) else block
        n = len(samples) // CHUNK_SAMPLES
        rest = samples[n * CHUNK_SAMPLES :].copy()
        if n:
            segments += segmenter.add(scorer(samples[: n * CHUNK_SAMPLES].reshape(n, CHUNK_SAMPLES)))
    if len(rest):  # the last, partial chunk is zero-padded (as silero does)
        last = np.zeros((1, CHUNK_SAMPLES), np.float32)
        last[0, : len(rest)] = rest
        segments += segmenter.add(scorer(last))
    segments += segmenter.finish(total)
    return [(start / SAMPLE_RATE, end / SAMPLE_RATE) for start, end in segments], total


def settings_hash(settings: VadSettings, data: DataSettings) -> str:
    """What the 'silero' rows depend on: the rules, the down-mix, the model file and silero's version."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        silero_version = version("silero-vad")
    except PackageNotFoundError:
        silero_version = None
    facts = settings.model_dump(mode="json", exclude={"vad_workers", "vad_block_sec"})
    facts.update(channel_policy=data.channel_policy, model=MODEL_FILE, silero_vad=silero_version)
    return hashlib.sha1(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- `homecat vad`


@dataclass(frozen=True)
class _Params:
    settings: VadSettings
    channel_policy: str | int


@dataclass(frozen=True)
class _Task:
    recording_id: str
    rel_path: str
    path: str
    size_bytes: int
    mtime_ns: int
    duration_sec: float  # for progress only


@dataclass
class _Result:
    task: _Task
    segments: list[tuple[float, float]] | None  # None: nothing to store
    problem: str | None = None
    duration_sec: float = 0.0


@dataclass
class VadSummary:
    """What one `homecat vad` run did."""

    processed: int = 0
    skipped_current: int = 0
    audio_hours: float = 0.0
    speech_hours: float = 0.0
    problems: list[str] = field(default_factory=list)  # one sentence per recording left for the next run

    def rows(self) -> list[dict[str, object]]:
        return [
            {"what": "recordings run now", "count": self.processed},
            {"what": "recordings already current (not opened)", "count": self.skipped_current},
            {"what": "recordings left for the next run", "count": len(self.problems)},
            {"what": "hours of audio read", "count": round(self.audio_hours, 3)},
            {"what": "hours of speech found", "count": round(self.speech_hours, 3)},
        ]


_session_cache: dict[str, Any] = {}


def vad_file(task: _Task, params: _Params) -> _Result:
    """Run the model over one recording (in a worker process; one session per process); whatever it
    raises leaves that recording for the next run, with the reason, and the run goes on."""
    try:
        return _vad_file(task, params)
    except Exception as exc:
        return _Result(task, None, failed("vad", task.rel_path, exc).message)


def _vad_file(task: _Task, params: _Params) -> _Result:
    name = task.rel_path
    try:
        before = os.stat(task.path)
    except OSError as exc:
        return _Result(task, None, f"{name} cannot be opened ({exc.strerror or exc}); run 'homecat scan'.")
    if (before.st_size, before.st_mtime_ns) != (task.size_bytes, task.mtime_ns):
        return _Result(task, None, f"{name} changed since it was validated; run 'homecat scan' and 'homecat validate'.")
    key = str(model_path())
    if key not in _session_cache:
        _session_cache[key] = new_session(key)
    try:
        sr = audio.read_header(task.path).sample_rate
        block_frames = audio.seconds_to_frames(params.settings.vad_block_sec, sr)
        blocks = audio.iter_mono_blocks(task.path, block_frames, params.channel_policy, SAMPLE_RATE)
        segments, total = detect_speech(blocks, _session_cache[key], params.settings)
    except audio.AudioReadError as exc:
        return _Result(task, None, f"{name} cannot be read to the end: {str(exc).rstrip('.')}.")
    try:
        after = os.stat(task.path)
    except OSError:
        after = None
    if after is None or (after.st_size, after.st_mtime_ns) != (task.size_bytes, task.mtime_ns):
        return _Result(task, None, f"{name} changed while it was read; run 'homecat scan' and 'homecat validate'.")
    return _Result(task, segments, duration_sec=total / SAMPLE_RATE)


def run_vad(
    catalog: Catalog,
    settings: VadSettings,
    data: DataSettings,
    redo_all: bool = False,
    workers: int | None = None,
    progress: ProgressFn | None = None,
    shard: Shard | None = None,
) -> VadSummary:
    """Voice activity for every usable recording that needs it (of ``shard`` only, when given: one task of a
    job array); one transaction per recording (batched on a shared catalog)."""
    key = str(model_path())  # fail early, in one sentence, when the extra is missing
    if key not in _session_cache:
        _session_cache[key] = new_session(key)
    digest = settings_hash(settings, data)
    query = named_queries(_SQL)["vad_candidates"].sql
    columns, rows = catalog.rows(query, {"settings_hash": digest})
    if shard is not None:
        rows = [row for row in rows if shard.holds(row[0])]
    tasks = [_Task(row[0], row[1], fs_path(row[2], row[7]), *row[3:6]) for row in rows if redo_all or not row[6]]
    summary = VadSummary(skipped_current=len(rows) - len(tasks))
    params = _Params(settings, data.channel_policy)
    total_hours = sum(t.duration_sec for t in tasks) / 3600.0
    done_hours = 0.0
    workers = workers or settings.vad_workers or os.cpu_count() or 1
    catalog.release()  # a shared catalog is free while the model runs; each batch of results takes it back
    batches = catalog.batched(lambda results: [_store(catalog, result, digest) for result in results])
    try:
        for result in run_in_pool(vad_file, tasks, params, workers):
            done_hours += result.task.duration_sec / 3600.0
            if result.segments is None:
                summary.problems.append(result.problem or f"{result.task.rel_path} could not be run.")
            else:
                batches.add(result)
                summary.processed += 1
                summary.audio_hours += result.duration_sec / 3600.0
                summary.speech_hours += _speech_rows(result)[1] / 3600.0
            if progress:
                progress(done_hours, total_hours)
    finally:  # results already computed are stored, also when a worker died or Ctrl-C stopped the run
        batches.flush()
    return summary


def _speech_rows(result: _Result) -> tuple[list[SpeechRow], float]:
    """One recording's 'silero' rows and their seconds of speech."""
    rows = [SpeechRow(result.task.recording_id, s, e, LABEL) for s, e in result.segments or []]
    return rows, float(sum(round(e, 3) - round(s, 3) for _, s, e, _ in rows))


def _store(catalog: Catalog, result: _Result, digest: str) -> None:
    """One recording's 'silero' rows and its vad_state, in one transaction."""
    task = result.task
    rows, speech_sec = _speech_rows(result)
    with catalog.transaction():
        replace_speech(catalog, VAD_SOURCE, rows, [task.recording_id])
        catalog.run(_SQL, "forget_vad_state", {"recording_id": task.recording_id})
        catalog.run(
            _SQL,
            "store_vad_state",
            {
                "recording_id": task.recording_id,
                "size_bytes": task.size_bytes,
                "mtime_ns": task.mtime_ns,
                "settings_hash": digest,
                "speech_sec": speech_sec,
                "processed_at": _now(),
            },
        )


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)
