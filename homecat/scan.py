"""`homecat scan`: walk the raw audio root, read headers only, keep `recordings` up to date.

Incremental by (size_bytes, mtime_ns): an unchanged file costs one ``stat`` and is never opened.
Headers of new or changed files are read by a thread pool (header reads are I/O bound) and
written in batches, one transaction each, so a kill loses at most the batch in flight and a
rerun finishes the job. Files that vanish become ``missing``; no row is ever deleted.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa

from homecat import audio
from homecat.catalog import Catalog
from homecat.errors import ConfigError
from homecat.settings import DataSettings

# Rows per transaction: small enough that a kill loses little, large enough that commits are cheap.
BATCH_FILES = 256
UNKNOWN_PARTICIPANT = "unknown"

ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class _Seen:
    rel_path: str
    path: str
    size_bytes: int
    mtime_ns: int


@dataclass
class ScanSummary:
    """What one scan did. ``collisions`` maps a stem to the recording ids it was made into."""

    root: str
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    missing: int = 0
    unreadable: int = 0
    ok_hours: float = 0.0
    ok_recordings: int = 0
    participants: int = 0
    collisions: dict[str, list[str]] = field(default_factory=dict)

    def rows(self) -> list[dict[str, object]]:
        return [
            {"what": "new files", "count": self.new},
            {"what": "changed files (re-read)", "count": self.changed},
            {"what": "unchanged files (not opened)", "count": self.unchanged},
            {"what": "missing files (kept as 'missing')", "count": self.missing},
            {"what": "unreadable files", "count": self.unreadable},
            {"what": "usable recordings", "count": self.ok_recordings},
            {"what": "participants", "count": self.participants},
            {"what": "hours of usable audio", "count": round(self.ok_hours, 3)},
        ]


def scan(
    catalog: Catalog,
    data: DataSettings,
    root: Path | None = None,
    hash_audio: bool | None = None,
    workers: int | None = None,
    progress: ProgressFn | None = None,
) -> ScanSummary:
    """Bring ``recordings`` in line with the files under ``root`` (default ``data.raw_audio_root``)."""
    root = _check_root(root or data.raw_audio_root)
    hash_audio = data.hash_audio if hash_audio is None else hash_audio
    participant_re = re.compile(data.participant_regex)
    now = datetime.now(timezone.utc).replace(tzinfo=None)

    seen = sorted(walk_audio(root, set(data.allowed_ext)), key=lambda s: s.rel_path)
    known = {
        row[0]: row[1:]
        for row in catalog.con.execute(
            "SELECT rel_path, size_bytes, mtime_ns, status, recording_id, participant_id FROM recordings"
        ).fetchall()
    }
    summary = ScanSummary(root=str(root))

    to_read: list[tuple[_Seen, str]] = []  # (file, recording_id)
    taken_ids = {values[3] for values in known.values()}
    for item in seen:
        previous = known.get(item.rel_path)
        if previous is None:
            recording_id = _unique_id(item.rel_path, taken_ids, summary.collisions)
            to_read.append((item, recording_id))
            summary.new += 1
        elif (previous[0], previous[1]) != (item.size_bytes, item.mtime_ns) or previous[2] == "missing":
            to_read.append((item, previous[3]))
            summary.changed += 1
        else:
            summary.unchanged += 1

    def read(entry: tuple[_Seen, str]) -> dict[str, object]:
        item, recording_id = entry
        row = _header_row(item, hash_audio)
        row.update(
            recording_id=recording_id,
            participant_id=participant_of(item.rel_path, participant_re),
            first_seen=now,
            last_seen=now,
            scanned_at=now,
        )
        return row

    done = 0
    with ThreadPoolExecutor(max_workers=workers or data.scan_workers) as pool:
        for start in range(0, len(to_read), BATCH_FILES):
            rows = list(pool.map(read, to_read[start : start + BATCH_FILES]))
            with catalog.transaction() as con:
                _upsert(con, rows)
            done += len(rows)
            if progress:
                progress(done, len(to_read))

    # Bookkeeping for files that were not re-read: one transaction, no audio opened.
    seen_paths = {item.rel_path for item in seen}
    vanished = [p for p, values in known.items() if p not in seen_paths and values[2] != "missing"]
    relabelled = [
        (item.rel_path, pid)
        for item in seen
        if item.rel_path in known and (pid := participant_of(item.rel_path, participant_re)) != known[item.rel_path][4]
    ]
    with catalog.transaction() as con:
        con.register("seen_paths", pa.table({"rel_path": [s.rel_path for s in seen]}))
        con.execute(
            "UPDATE recordings SET last_seen = ? FROM seen_paths WHERE recordings.rel_path = seen_paths.rel_path",
            [now],
        )
        con.unregister("seen_paths")
        if vanished:
            con.execute("UPDATE recordings SET status = 'missing' WHERE list_contains(?, rel_path)", [vanished])
        if relabelled:
            con.register("relabelled", pa.table({"rel_path": [r[0] for r in relabelled], "pid": [r[1] for r in relabelled]}))
            con.execute(
                "UPDATE recordings SET participant_id = relabelled.pid FROM relabelled "
                "WHERE recordings.rel_path = relabelled.rel_path"
            )
            con.unregister("relabelled")

    totals = catalog.con.execute(
        """SELECT count(*) FILTER (WHERE status = 'missing'),
                  count(*) FILTER (WHERE status = 'unreadable'),
                  count(*) FILTER (WHERE status = 'ok'),
                  coalesce(sum(duration_sec) FILTER (WHERE status = 'ok'), 0) / 3600.0,
                  count(DISTINCT participant_id) FILTER (WHERE status = 'ok')
           FROM recordings"""
    ).fetchone()
    summary.missing, summary.unreadable, summary.ok_recordings, summary.ok_hours, summary.participants = totals
    return summary


def walk_audio(root: Path, extensions: set[str]) -> Iterator[_Seen]:
    """Yield every audio file below ``root``: hidden entries skipped, symlinks followed without loops."""
    visited: set[tuple[int, int]] = set()
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            info = folder.stat()
        except OSError:
            continue
        if (info.st_dev, info.st_ino) in visited:  # a symlink loop or a second link to the same folder
            continue
        visited.add((info.st_dev, info.st_ino))
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                if entry.is_dir(follow_symlinks=True):
                    stack.append(Path(entry.path))
                elif os.path.splitext(entry.name)[1].lower() in extensions and entry.is_file(follow_symlinks=True):
                    stat = entry.stat(follow_symlinks=True)
                    rel_path = Path(entry.path).relative_to(root).as_posix()
                    yield _Seen(rel_path, os.path.abspath(entry.path), stat.st_size, stat.st_mtime_ns)
            except OSError:  # vanished or a dangling link: not a file we can catalog
                continue


def participant_of(rel_path: str, pattern: re.Pattern[str]) -> str:
    """The participant named by ``data.participant_regex`` in ``rel_path``, else 'unknown'."""
    match = pattern.search(rel_path)
    value = match.group("participant") if match else None
    return value if value else UNKNOWN_PARTICIPANT


def _unique_id(rel_path: str, taken: set[str], collisions: dict[str, list[str]]) -> str:
    """The file stem, or on a collision the stem plus a short hash of the path (stable, order-free)."""
    stem = Path(rel_path).stem
    candidate = stem
    digits = 8
    while candidate in taken:
        candidate = f"{stem}-{hashlib.sha1(rel_path.encode()).hexdigest()[:digits]}"
        digits += 4
    if candidate != stem:
        collisions.setdefault(stem, [stem]).append(candidate)
    taken.add(candidate)
    return candidate


def _header_row(item: _Seen, hash_audio: bool) -> dict[str, object]:
    row: dict[str, object] = {
        "rel_path": item.rel_path,
        "path": item.path,
        "size_bytes": item.size_bytes,
        "mtime_ns": item.mtime_ns,
        "format": None,
        "subtype": None,
        "sample_rate": None,
        "channels": None,
        "frames": None,
        "duration_sec": None,
        "sha1": None,
        "status": "ok",
        "error": None,
    }
    try:
        header = audio.read_header(item.path)
    except audio.AudioReadError as exc:
        row.update(status="unreadable", error=str(exc))
    else:
        row.update(
            format=header.format,
            subtype=header.subtype,
            sample_rate=header.sample_rate,
            channels=header.channels,
            frames=header.frames,
            duration_sec=header.duration_sec,
        )
    if hash_audio:
        try:
            row["sha1"] = audio.file_sha1(item.path)
        except OSError as exc:
            row.update(status="unreadable", error=f"cannot read bytes: {exc.strerror or exc}")
    return row


_COLUMNS = [
    "rel_path", "path", "recording_id", "participant_id", "size_bytes", "mtime_ns", "format", "subtype",
    "sample_rate", "channels", "frames", "duration_sec", "sha1", "status", "error",
    "first_seen", "last_seen", "scanned_at",
]
_ARROW_TYPES = {
    "size_bytes": pa.int64(), "mtime_ns": pa.int64(), "sample_rate": pa.int32(), "channels": pa.int32(),
    "frames": pa.int64(), "duration_sec": pa.float64(), "first_seen": pa.timestamp("us"),
    "last_seen": pa.timestamp("us"), "scanned_at": pa.timestamp("us"),
}


def _upsert(con, rows: list[dict[str, object]]) -> None:
    batch = pa.table(
        {name: pa.array([r[name] for r in rows], type=_ARROW_TYPES.get(name, pa.string())) for name in _COLUMNS}
    )
    con.register("scan_batch", batch)
    updates = ", ".join(
        f"{c} = excluded.{c}" for c in _COLUMNS if c not in ("rel_path", "recording_id", "first_seen")
    )
    # A changed file keeps its recording_id and first_seen; everything read from it is replaced.
    con.execute(
        f"INSERT INTO recordings ({', '.join(_COLUMNS)}) SELECT {', '.join(_COLUMNS)} FROM scan_batch "
        f"ON CONFLICT (rel_path) DO UPDATE SET {updates}"
    )
    con.unregister("scan_batch")


def _check_root(root: Path | None) -> Path:
    if root is None:
        raise ConfigError(
            "No raw audio root is set: pass --root DIR, set data.raw_audio_root in your config file, "
            "or set HOMECAT_RAW_AUDIO_ROOT."
        )
    root = Path(root).expanduser()
    if not root.is_dir():
        raise ConfigError(f"The raw audio root {root} does not exist or is not a folder.")
    return root.resolve()
