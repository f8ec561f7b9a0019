"""`homecat embed`: one vector per annotated segment and layer (mean over frames), stored as an embedding set.

Owns reading segments as training crops are read, batching that never changes a vector (group-norm models
batch only equal lengths), the eGeMAPS baseline, and the set's files under
``<paths.artifacts_dir>/embeddings/<set>/`` with its ``embedding_sets`` row. Users read README.md
"Did pretraining help?"; the catalog is not held open while a model runs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from homecat import audio
from homecat.catalog import Catalog, named_queries
from homecat.errors import HomecatError, first_line
from homecat.recordings import fs_path
from homecat.settings import Settings
from homecat.weights import Weights, weights_of

log = logging.getLogger(__name__)

STAGE = "embed"
EGEMAPS = "egemaps"
MANIFEST_NAME = "set.json"
_QUERIES = "queries/embed.sql"
_EGEMAPS_MIN_SAMPLES = 960  # opensmile fills eGeMAPS with NaN below 60 ms at 16 kHz (its longest LLD frame)
_SET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
# Weights every current transformers re-creates when loading wav2vec2 checkpoints (renamed weight norm), and
# the mask embedding that inference never uses: not a reason to refuse a model.
_HARMLESS_MISSING = (
    "pos_conv_embed.conv.parametrizations.weight.original",
    "pos_conv_embed.conv.weight_",
    "masked_spec_embed",
)

Progress = Callable[[float, float, str], None]  # done, total, the set being computed


def layer_column(layer: int) -> str:
    return f"layer_{layer:02d}"


@dataclass(frozen=True)
class Segment:
    """One segment and what reading it needs."""

    segment_id: str
    recording_id: str
    rel_path: str
    path: str
    sample_rate: int
    channels: int
    frames: int | None
    start_sec: float
    end_sec: float
    label: str
    audio_version: str  # "<size_bytes>:<mtime_ns>" of the file: a vector is of one version of the audio

    @property
    def duration_sec(self) -> float:
        return self.end_sec - self.start_sec

    def where(self) -> str:
        return (
            f"Segment {self.segment_id} of {self.rel_path} ({self.start_sec:.3f}-{self.end_sec:.3f} s, '{self.label}')"
        )


def windows(num_frames: int, max_frames: int) -> list[tuple[int, int]]:
    """(offset, length) of n = ceil(num_frames / max_frames) windows covering ``num_frames``, lengths at most one apart."""
    n = max(1, -(-num_frames // max(1, max_frames)))
    base, extra = divmod(num_frames, n)
    out, offset = [], 0
    for i in range(n):
        length = base + (1 if i < extra else 0)
        out.append((offset, length))
        offset += length
    return out


def receptive_field(conv_kernel: Sequence[int], conv_stride: Sequence[int]) -> int:
    """Fewest input samples for which the conv stack gives one frame (400 for wav2vec2-base)."""
    samples = 1
    for kernel, stride in reversed(list(zip(conv_kernel, conv_stride))):
        samples = (samples - 1) * stride + kernel
    return samples


def default_set_name(model: str) -> str:
    """A set name from the model, never a path: a run folder's ``final`` → the run name, ``checkpoints/step_N`` →
    ``<run>-step_N``, ``initial`` → ``<run>-initial``, a Hub id → its repository name."""
    path = Path(model)
    if path.exists():
        path = path.resolve()
        name = path.name
        if name == "final":
            name = path.parent.name
        elif name == "initial":
            name = f"{path.parent.name}-initial"
        elif re.fullmatch(r"step_\d+", name):
            name = f"{path.parent.parent.name}-{name}"
    else:
        name = model.rstrip("/").split("/")[-1]
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "model"


def run_sets(run_dir: str | Path) -> list[tuple[int, str, str]]:
    """(step, model folder or Hub id, set name) of every model of a training run, each once: its starting point
    (``initial/`` or the base model), every checkpoint, and ``final/`` when no checkpoint has its step."""
    from homecat.train.checkpoints import run_models

    return [(step, model, default_set_name(model)) for step, _, model in run_models(run_dir)]


# --------------------------------------------------------------------------- the store


def set_folder(settings: Settings, set_name: str) -> Path:
    return Path(settings.paths.artifacts_dir) / "embeddings" / set_name


def part_files(folder: Path) -> list[Path]:
    """The complete parts of a set, oldest first (temporary files of an unfinished write are not parts)."""
    return sorted(folder.glob("part-*.parquet"))


def stored_versions(folder: Path) -> dict[str, str | None]:
    """Segment id -> the audio version its stored vector was computed from (reads only those columns). A
    segment recomputed after its file changed is in a later part: the newest part wins."""
    import pyarrow.parquet as pq

    seen: dict[str, str | None] = {}
    for part in part_files(folder):
        table = pq.read_table(part, columns=["segment_id", "audio_version"])
        for sid, version in zip(table.column(0).to_pylist(), table.column(1).to_pylist()):
            seen[sid] = version
    return seen


def stored_ids(folder: Path) -> list[str]:
    """Segment ids stored in a set's parts."""
    return list(stored_versions(folder))


def read_layer(folder: Path, layer: int, rows: dict[str, int]) -> np.ndarray:
    """float32 [len(rows), dim]: the vectors of ``layer`` for the segment ids in ``rows`` (id → row), read one
    column at a time; the newest part wins (see ``stored_versions``). Every id must be stored."""
    import pyarrow.parquet as pq

    out: np.ndarray | None = None
    filled = np.zeros(len(rows), dtype=bool)
    for part in part_files(folder):
        table = pq.read_table(part, columns=["segment_id", layer_column(layer)])
        ids = table.column(0).to_pylist()
        column = table.column(1).combine_chunks()
        dim = column.type.list_size
        values = column.flatten().to_numpy().reshape(len(ids), dim)
        if out is None:
            out = np.empty((len(rows), dim), dtype=np.float32)
        for j, sid in enumerate(ids):
            i = rows.get(sid)
            if i is not None:
                out[i] = values[j]
                filled[i] = True
    if out is None or not filled.all():
        raise HomecatError(f"The embedding set in {folder} lacks vectors of layer {layer} for some segments.")
    return out


def read_manifest(folder: Path) -> dict[str, Any] | None:
    path = folder / MANIFEST_NAME
    return json.loads(path.read_text()) if path.is_file() else None


class _PartWriter:
    """One Parquet part, written in row groups; renamed from its temporary name by ``close``."""

    def __init__(self, folder: Path, n_layers: int, dim: int, rows_per_group: int):
        import pyarrow as pa

        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        self.final = folder / f"part-{stamp}.parquet"
        self.tmp = folder / f".part-{stamp}.parquet.tmp"
        self.dim, self.n_layers, self.rows_per_group = dim, n_layers, rows_per_group
        self.schema = pa.schema(
            [("segment_id", pa.string()), ("frames", pa.int64()), ("audio_version", pa.string())]
            + [(layer_column(k), pa.list_(pa.float32(), dim)) for k in range(n_layers)]
        )
        self.writer: Any = None
        self.ids: list[str] = []
        self.weights: list[int] = []
        self.versions: list[str] = []
        self.vectors: list[np.ndarray] = []
        self.rows = 0

    def add(self, segment_id: str, weight: int, vector: np.ndarray, audio_version: str) -> None:
        self.ids.append(segment_id)
        self.weights.append(int(weight))
        self.versions.append(audio_version)
        self.vectors.append(vector.astype(np.float32))
        if len(self.ids) >= self.rows_per_group:
            self.flush()

    def flush(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not self.ids:
            return
        stacked = np.stack(self.vectors)  # [rows, layers, dim]
        columns = [
            pa.array(self.ids, pa.string()),
            pa.array(self.weights, pa.int64()),
            pa.array(self.versions, pa.string()),
        ]
        for k in range(self.n_layers):
            flat = pa.array(np.ascontiguousarray(stacked[:, k, :]).reshape(-1), pa.float32())
            columns.append(pa.FixedSizeListArray.from_arrays(flat, self.dim))
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.tmp, self.schema)
        self.writer.write_table(pa.Table.from_arrays(columns, schema=self.schema))
        self.rows += len(self.ids)
        self.ids, self.weights, self.versions, self.vectors = [], [], [], []

    def close(self) -> None:
        """Write what is buffered and publish the part (nothing is left when no row was written)."""
        self.flush()
        if self.writer is not None:
            self.writer.close()
            self.tmp.replace(self.final)


# --------------------------------------------------------------------------- feature extractors


class _Wav2Vec2:
    """Mean-pooled hidden states of a wav2vec2 encoder."""

    kind = "wav2vec2"

    def __init__(self, model_id: str, sample_rate: int, device: str, batch_size: int):
        import torch
        from transformers import Wav2Vec2FeatureExtractor, Wav2Vec2Model

        from homecat.wav2vec2 import load_quietly

        # the pretraining heads a checkpoint also holds are not a problem here
        loaded = load_quietly(Wav2Vec2Model, model_id)
        model = loaded.model
        missing = [k for k in loaded.missing_keys if not any(h in k for h in _HARMLESS_MISSING)]
        if missing:
            raise HomecatError(
                f"The model {model_id!r} lacks {len(missing)} weights of a wav2vec2 encoder (e.g. {sorted(missing)[0]}): "
                "they would be random; is it a wav2vec2 checkpoint?"
            )
        extractor = loaded.extractor()
        if extractor is None:
            extractor = Wav2Vec2FeatureExtractor(
                sampling_rate=sample_rate,
                do_normalize=True,
                return_attention_mask=model.config.feat_extract_norm == "layer",
            )
            log.warning(
                "%s has no preprocessor_config.json: normalising each window to zero mean, unit variance.", model_id
            )
        if extractor.sampling_rate != sample_rate:
            raise HomecatError(
                f"The model {model_id!r} expects {extractor.sampling_rate} Hz audio but data.sample_rate is {sample_rate}."
            )
        config = model.config
        self.model = model.eval().to(device)
        self.device = device
        self.batch_size = batch_size
        self.do_normalize = bool(extractor.do_normalize)
        # Padding with an attention mask is exact only for layer-norm encoders (see the module docstring).
        self.padded = config.feat_extract_norm == "layer" and bool(extractor.return_attention_mask)
        self.n_layers = config.num_hidden_layers + 1
        self.dim = config.hidden_size
        self.min_samples = receptive_field(config.conv_kernel, config.conv_stride)
        self.model_sha = weights_sha256(model)
        # the weight files' hash (after loading: a Hub id's files are in the cache now), run and step
        self.weights = weights_of(model_id)
        self.torch = torch

    def fits(self, batch: list[np.ndarray], x: np.ndarray) -> bool:
        return not batch or (len(batch) < self.batch_size and (self.padded or len(x) == len(batch[0])))

    def pool(self, xs: list[np.ndarray]) -> list[tuple[np.ndarray, int] | None]:
        """Per window: (sum over its frames of every hidden state, float64 [layers, dim], frame count)."""
        from homecat.wav2vec2 import normalise_crops

        torch = self.torch
        lengths = torch.tensor([len(x) for x in xs])
        batch = torch.zeros(len(xs), int(lengths.max()))
        for i, x in enumerate(xs):
            batch[i, : len(x)] = normalise_crops(torch.from_numpy(x)[None], self.do_normalize)[0]
        kwargs = {}
        if self.padded:
            kwargs["attention_mask"] = (torch.arange(batch.shape[1])[None] < lengths[:, None]).long().to(self.device)
        with torch.inference_mode():
            out = self.model(batch.to(self.device), output_hidden_states=True, **kwargs)
            hidden = torch.stack(out.hidden_states)  # [layers, batch, frames, dim]
            frames = self.model._get_feat_extract_output_lengths(lengths).to(self.device)
            valid = (torch.arange(hidden.shape[2], device=self.device)[None] < frames[:, None]).to(hidden.dtype)
            sums = torch.einsum("lbtd,bt->lbd", hidden, valid).double().cpu().numpy()
        return [(sums[:, i], int(frames[i])) for i in range(len(xs))]


class _Egemaps:
    """opensmile's eGeMAPSv02 functionals: 88 handcrafted values, one 'layer'."""

    kind = EGEMAPS
    n_layers = 1
    padded = True

    def __init__(self, sample_rate: int):
        try:
            import opensmile
        except ImportError:
            raise HomecatError(
                "--features egemaps needs the opensmile package: pip install 'homecat[probe]'."
            ) from None
        self.smile = opensmile.Smile(
            feature_set=opensmile.FeatureSet.eGeMAPSv02, feature_level=opensmile.FeatureLevel.Functionals
        )
        self.sample_rate = sample_rate
        self.dim = len(self.smile.feature_names)
        self.min_samples = _EGEMAPS_MIN_SAMPLES * sample_rate // 16000
        self.model_sha = hashlib.sha256(
            f"opensmile {opensmile.__version__} eGeMAPSv02 Functionals".encode()
        ).hexdigest()
        self.batch_size = 1
        self.weights = Weights(None)  # handcrafted: no weights

    def fits(self, batch: list[np.ndarray], x: np.ndarray) -> bool:
        return not batch

    def pool(self, xs: list[np.ndarray]) -> list[tuple[np.ndarray, int] | None]:
        out: list[tuple[np.ndarray, int] | None] = []
        for x in xs:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "Segment too short, filling with NaN": handled below
                values = self.smile.process_signal(x, self.sample_rate).to_numpy()[0].astype(np.float64)
            out.append((values[None] * len(x), len(x)) if np.isfinite(values).all() else None)
        return out


def weights_sha256(model: Any) -> str:
    """SHA-256 over the state dict: every tensor's name, shape, dtype and bytes, in key order (a set's identity:
    the encoder as loaded; homecat.weights hashes the files, which push compares with what it sends)."""
    import torch

    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


# --------------------------------------------------------------------------- running a set


@dataclass
class SetSummary:
    """What one embedding set run did."""

    set_name: str
    kind: str
    segments: int = 0  # stored in the set after the run
    computed: int = 0  # embedded by this run
    already: int = 0  # stored before, not recomputed
    too_short: int = 0
    unreadable: int = 0
    recording_unavailable: int = 0  # the segment's recording is missing or unreadable
    elapsed_sec: float = 0.0
    findings: list[tuple[str, str, str]] = field(default_factory=list)  # (recording_id, code, message)
    step: int | None = None  # the training step of the weights (None: not a run's model, or eGeMAPS)
    weights_sha256: str | None = None  # of the weight files (homecat.weights); None for eGeMAPS

    def row(self) -> dict[str, Any]:
        return {
            "set": self.set_name,
            "kind": self.kind,
            "step": self.step,
            "weights": self.weights_sha256[:12] if self.weights_sha256 else None,
            "segments": self.segments,
            "computed": self.computed,
            "already_stored": self.already,
            "too_short": self.too_short,
            "unreadable": self.unreadable,
            "recording_unavailable": self.recording_unavailable,
            "seconds": round(self.elapsed_sec, 2),
            "segments_per_sec": round(self.computed / self.elapsed_sec, 2) if self.elapsed_sec > 0 else None,
        }


def embed(
    settings: Settings,
    models: Sequence[str] = (),
    features: Sequence[str] = (),
    name: str | None = None,
    labels: Sequence[str] = (),
    overwrite: bool = False,
    progress: Progress | None = None,
) -> list[SetSummary]:
    """Embed every segment (or those with ``labels``) with each model and feature set; one summary per set."""
    features = [f.lower() for f in features]
    unknown = [f for f in features if f != EGEMAPS]
    if unknown:
        raise HomecatError(f"Unknown --features {unknown[0]!r}: the one feature set is 'egemaps'.")
    jobs = [(m, default_set_name(m)) for m in models] + [(EGEMAPS, EGEMAPS) for _ in dict.fromkeys(features)]
    if not jobs:
        raise HomecatError("Nothing to embed: pass --model PATH_OR_HUB_ID and/or --features egemaps.")
    if name is not None:
        if len(jobs) > 1:
            raise HomecatError("--name names one set: pass one --model (or only --features egemaps) with it.")
        jobs = [(jobs[0][0], name)]
    names = [set_name for _, set_name in jobs]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise HomecatError(
            f"Two --model values would both make the set '{twice[0]}': embed them one at a time, each with --name."
        )
    for _, set_name in jobs:
        if not _SET_NAME.fullmatch(set_name):
            raise HomecatError(f"The set name {set_name!r} may hold only letters, digits, '.', '_' and '-'.")
    with Catalog.open(settings.paths) as catalog:
        segments, unavailable = _segments(catalog, labels, settings.segments.duplicate_tolerance_sec)
        existing = {set_name: _set_row(catalog, set_name) for _, set_name in jobs}
    return [
        _embed_set(settings, model, set_name, segments, unavailable, existing[set_name], overwrite, progress)
        for model, set_name in jobs
    ]


def _segments(catalog: Catalog, labels: Sequence[str], tolerance_sec: float) -> tuple[list[Segment], list[str]]:
    query = named_queries(_QUERIES)["embed_segments"].sql
    columns, rows = catalog.rows(query, {"labels": list(labels), "tolerance_sec": tolerance_sec})
    records = [dict(zip(columns, r)) for r in rows]
    if not records:
        total = catalog.con.execute("SELECT count(*) FROM segments").fetchone()[0]
        if not total:
            raise HomecatError(
                "There are no segments to embed: import annotations with 'homecat segments import FILE'."
            )
        raise HomecatError(f"No segment has the label(s) {', '.join(map(repr, labels))}.")
    segments = [
        Segment(
            r["segment_id"],
            r["recording_id"],
            r["rel_path"],
            fs_path(r["path"], r["path_bytes"]),
            int(r["sample_rate"]),
            int(r["channels"]),
            r["frames"],
            float(r["start_sec"]),
            float(r["end_sec"]),
            r["label"],
            f"{r['size_bytes']}:{r['mtime_ns']}",
        )  # fmt: skip
        for r in records
        if r["readable"]
    ]
    return segments, [r["segment_id"] for r in records if not r["readable"]]


def _set_row(catalog: Catalog, set_name: str) -> dict[str, Any] | None:
    columns, rows = catalog.rows(named_queries(_QUERIES)["embedding_set"].sql, {"set_name": set_name})
    return dict(zip(columns, rows[0])) if rows else None


def _vector_settings(settings: Settings, kind: str) -> dict[str, Any]:
    """The settings that shape the vectors (batch size and device do not)."""
    pooling = (
        "mean over frames, windows weighted by frames"
        if kind != EGEMAPS
        else "functionals, windows weighted by samples"
    )
    return {
        "max_segment_sec": settings.embed.max_segment_sec,
        "sample_rate": settings.data.sample_rate,
        "channel_policy": settings.data.channel_policy,
        "pooling": pooling,
    }


def _check_set(
    set_name: str, model: str, sha: str, vector_settings: dict, row: dict | None, manifest: dict | None
) -> None:
    for before in (row, manifest):
        if before is None:
            continue
        if before["model_sha"] != sha:
            raise HomecatError(
                f"The embedding set '{set_name}' holds vectors of other weights ({before['model']}, sha256 "
                f"{before['model_sha'][:12]}, now {sha[:12]}); pass --overwrite to replace them or --name for a new set."
            )
        old = json.loads(before["settings"]) if isinstance(before["settings"], str) else before["settings"]
        changed = [f"{k} {old.get(k)!r} -> {v!r}" for k, v in vector_settings.items() if old.get(k) != v]
        if changed:
            raise HomecatError(
                f"The embedding set '{set_name}' was computed with other settings ({'; '.join(changed)}); "
                "pass --overwrite to recompute it or --name for a new set."
            )


def _embed_set(
    settings: Settings,
    model: str,
    set_name: str,
    segments: list[Segment],
    unavailable: list[str],
    row: dict[str, Any] | None,
    overwrite: bool,
    progress: Progress | None,
) -> SetSummary:
    sample_rate = settings.data.sample_rate
    device = _device(settings.embed.embed_device)
    extractor: Any = (
        _Egemaps(sample_rate)
        if model == EGEMAPS
        else _Wav2Vec2(model, sample_rate, device, settings.embed.embed_batch_size)
    )
    model_name = "opensmile eGeMAPSv02" if model == EGEMAPS else model
    folder = set_folder(settings, set_name)
    vector_settings = _vector_settings(settings, extractor.kind)
    try:
        _check_set(set_name, model_name, extractor.model_sha, vector_settings, row, read_manifest(folder))
    except HomecatError:
        if not overwrite:
            raise
        # other weights or settings: the old vectors go; with the same ones, --overwrite changes nothing
        for stale in [*part_files(folder), folder / MANIFEST_NAME]:
            stale.unlink(missing_ok=True)
    folder.mkdir(parents=True, exist_ok=True)
    weights = extractor.weights
    manifest = {
        "set_name": set_name, "kind": extractor.kind, "model": model_name, "model_sha": extractor.model_sha,
        "n_layers": extractor.n_layers, "dim": extractor.dim, "settings": vector_settings,
        "weights_sha256": weights.sha256, "run_name": weights.run_name, "step": weights.step,
    }  # fmt: skip
    (folder / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1) + "\n")

    # A segment is done when its vector is of the audio as it is now: a replaced file's segments are recomputed.
    done = stored_versions(folder)
    summary = SetSummary(
        set_name, extractor.kind, recording_unavailable=len(unavailable), step=weights.step,
        weights_sha256=weights.sha256,
    )  # fmt: skip
    todo = [s for s in segments if done.get(s.segment_id) != s.audio_version]
    summary.already = len(segments) - len(todo)
    # Sorted by length: similar lengths share a batch (little padding; equal lengths for group-norm models).
    todo.sort(key=lambda s: (audio.seconds_to_frames(s.duration_sec, sample_rate), s.segment_id))
    start = time.perf_counter()
    writer = _PartWriter(folder, extractor.n_layers, extractor.dim, settings.embed.embed_rows_per_group)
    try:
        _run(settings, extractor, set_name, todo, writer, summary, progress)
    finally:
        writer.close()  # an interrupted run keeps the row groups written so far
    summary.elapsed_sec = time.perf_counter() - start
    summary.segments = len(stored_ids(folder))
    with Catalog.open(settings.paths) as catalog, catalog.transaction():
        # Every segment of this run was retried: its earlier findings for this set go (as do those of segments
        # a re-import removed); what failed again is recorded anew.
        catalog.run(
            _QUERIES,
            "forget_embed_findings",
            {"stage": STAGE, "suffix": _finding_suffix(set_name), "segment_ids": [t.segment_id for t in todo]},
        )
        for recording_id, code, message in summary.findings:
            catalog.run(_QUERIES, "add_embed_finding", [recording_id, code, message, STAGE])
        catalog.run(
            _QUERIES,
            "upsert_embedding_set",
            {
                **{k: v for k, v in manifest.items() if k != "settings"},
                "settings": json.dumps(vector_settings, sort_keys=True),
                "segment_count": summary.segments,
                "path": f"embeddings/{set_name}",
            },
        )
    return summary


def _run(
    settings: Settings,
    extractor: Any,
    set_name: str,
    todo: list[Segment],
    writer: _PartWriter,
    summary: SetSummary,
    progress: Progress | None,
) -> None:
    """Read, batch, pool and write every segment of ``todo``; failures become ``summary.findings``."""
    sample_rate = settings.data.sample_rate
    what = f"the receptive field of {set_name}" if extractor.kind != EGEMAPS else "what eGeMAPS needs"
    # per segment in flight: [sum over windows, weight, windows still to come]
    open_segments: dict[int, list[Any]] = {}
    batch: list[np.ndarray] = []
    owners: list[int] = []
    finished = 0

    def fail(i: int, code: str, reason: str) -> None:
        nonlocal finished
        segment = todo[i]
        open_segments.pop(i, None)
        summary.findings.append((segment.recording_id, code, f"{segment.where()} {reason}{_finding_suffix(set_name)}"))
        if code == "segment_too_short":
            summary.too_short += 1
        else:
            summary.unreadable += 1
        finished += 1
        if progress is not None:
            progress(finished, len(todo), set_name)

    def run_batch() -> None:
        nonlocal finished
        if not batch:
            return
        for i, result in zip(owners, extractor.pool(batch)):
            state = open_segments.get(i)
            if state is None:  # the segment failed in a later window
                continue
            if result is None:
                fail(i, "segment_too_short", f"gives no eGeMAPS values (shorter than {what})")
                continue
            sums, weight = result
            state[0] = sums if state[0] is None else state[0] + sums
            state[1] += weight
            state[2] -= 1
            if state[2] == 0:
                del open_segments[i]
                writer.add(todo[i].segment_id, state[1], state[0] / state[1], todo[i].audio_version)
                summary.computed += 1
                finished += 1
                if progress is not None:
                    progress(finished, len(todo), set_name)
        batch.clear()
        owners.clear()

    for i, segment in enumerate(todo):
        samples = audio.seconds_to_frames(segment.duration_sec, sample_rate)
        if samples < extractor.min_samples:
            fail(
                i,
                "segment_too_short",
                f"is {samples} samples at {sample_rate} Hz, fewer than the {extractor.min_samples} of {what}",
            )
            continue
        start_frame = audio.seconds_to_frames(segment.start_sec, segment.sample_rate)
        num_frames = audio.seconds_to_frames(segment.end_sec, segment.sample_rate) - start_frame
        if segment.frames is not None:
            num_frames = min(num_frames, int(segment.frames) - start_frame)
            if num_frames <= 0:  # the file was replaced by a shorter one, or validate found it truncated
                fail(
                    i, "segment_unreadable", f"starts past the readable end of its recording ({segment.frames} frames)"
                )
                continue
        max_frames = audio.seconds_to_frames(settings.embed.max_segment_sec, segment.sample_rate)
        spans = windows(num_frames, max_frames)
        open_segments[i] = [None, 0, len(spans)]
        for offset, length in spans:
            try:
                block = audio.read_window(segment.path, start_frame + offset, length)
                x = np.ascontiguousarray(
                    audio.resample(
                        audio.to_mono(block, settings.data.channel_policy), segment.sample_rate, sample_rate
                    ),
                    dtype=np.float32,
                )
            except Exception as exc:  # whatever one recording's reader raises is a finding on its segment
                why = str(exc) if isinstance(exc, audio.AudioReadError) else f"{type(exc).__name__}: {first_line(exc)}"
                if os.environ.get("HOMECAT_DEBUG"):
                    traceback.print_exception(exc)
                fail(i, "segment_unreadable", f"cannot be read ({why})")
                break
            if len(x) < extractor.min_samples:
                fail(
                    i,
                    "segment_too_short",
                    f"gives only {len(x)} readable samples, fewer than the {extractor.min_samples} of {what}",
                )
                break
            if not extractor.fits(batch, x):
                run_batch()
            batch.append(x)
            owners.append(i)
    run_batch()


def _finding_suffix(set_name: str) -> str:
    """How an embed finding ends; it names the set, so a rerun can replace exactly that set's findings."""
    return f"; not in the set '{set_name}'."


def _device(setting: str) -> str:
    import torch

    if setting == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if setting.startswith("cuda") and not torch.cuda.is_available():
        raise HomecatError(f"embed.embed_device is {setting!r} but this machine has no CUDA GPU: use auto or cpu.")
    return setting
