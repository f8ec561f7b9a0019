"""The `recordings` table and its writers: the files found now, in line with the catalog.

``sync_recordings`` is the engine of every scan (a folder by ``homecat.scan``, a ChildProject dataset
by ``homecat.childproject.scan``); ``update_header`` is validate's correction of one row. Also how a
file's name is kept (``shown``) and opened again (``fs_path``). See README.md, "homecat scan".
"""

from __future__ import annotations

import hashlib
import os
import traceback
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa

from homecat import audio
from homecat.catalog import Catalog
from homecat.errors import first_line

_SQL = "queries/scan.sql"
# Rows per transaction: small enough that a kill loses little, large enough that commits are cheap.
BATCH_FILES = 1000
_CHUNK_FILES = 50
# Stored as the last scan's participant regex when the labels came from metadata: it has no
# (?P<participant>) group, so no valid setting equals it.
NOT_A_REGEX = "(labels from metadata)"
DENIED_PREFIX = "permission_denied:"  # recording_id of a denied folder's or file's finding: it may be no recording

ProgressFn = Callable[[int, int], None]


# A file found by the walk: (rel_path, absolute path, size_bytes, mtime_ns). A plain tuple, not a
# NamedTuple: building 20,000 of them is a measurable share of an unchanged rescan.
_Seen = tuple[str, str, int, int]


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
    denied: int = 0  # folders and files this user could not list or open
    collisions: dict[str, list[str]] = field(default_factory=dict)
    extra: list[dict[str, object]] = field(default_factory=list)  # rows a ChildProject scan adds
    skipped: dict[str, int] = field(default_factory=dict)  # files not in data.allowed_ext, by extension

    def notes(self) -> list[str]:
        """One line per kind of skipped file: audio to add to data.allowed_ext, audio to convert, the rest."""
        kinds: dict[str, list[str]] = {"readable": [], "convert": [], "other": []}
        for ext, count in sorted(self.skipped.items(), key=lambda item: (-item[1], item[0])):
            kinds[audio.audio_kind(ext)].append(f"{count} {ext or '(no extension)'}")
        notes = []
        if kinds["readable"]:
            notes.append(
                f"skipped audio this machine can read: {', '.join(kinds['readable'])}; "
                "add the extension to data.allowed_ext to catalog it"
            )
        if kinds["convert"]:
            notes.append(
                f"skipped audio libsndfile cannot decode: {', '.join(kinds['convert'])}; convert a copy "
                "(e.g. 'ffmpeg -i IN.m4a OUT.flac', the raw file untouched) into the root to catalog it"
            )
        if kinds["other"]:
            notes.append(f"skipped other files: {', '.join(kinds['other'])}")
        return notes

    def rows(self) -> list[dict[str, object]]:
        return self.extra + [
            {"what": "new files", "count": self.new},
            {"what": "changed files (re-read)", "count": self.changed},
            {"what": "unchanged files (not opened)", "count": self.unchanged},
            {"what": "missing files (kept as 'missing')", "count": self.missing},
            {"what": "unreadable files", "count": self.unreadable},
            {"what": "usable recordings", "count": self.ok_recordings},
            {"what": "participants", "count": self.participants},
            {"what": "hours of usable audio", "count": round(self.ok_hours, 3)},
            *(
                [{"what": "other files skipped (not in data.allowed_ext)", "count": sum(self.skipped.values())}]
                if self.skipped
                else []
            ),
            *(
                [{"what": "folders and files this user cannot read (kept; see report findings)", "count": self.denied}]
                if self.denied
                else []
            ),
        ]


# Finishes the bookkeeping transaction of a scan: (catalog, time of the scan, its summary).
FinishFn = Callable[[Catalog, datetime, ScanSummary], None]


def sync_recordings(
    catalog: Catalog,
    root: Path,
    seen: list[_Seen],
    participant: Callable[[str], str],
    labels: str | None,
    hash_audio: bool,
    workers: int,
    progress: ProgressFn | None = None,
    finish: FinishFn | None = None,
    denied: list[str] | None = None,
) -> ScanSummary:
    """Bring ``recordings`` in line with ``seen``, the files found now (any order).

    ``participant`` labels a rel_path. ``labels`` names how (the participant regex): existing labels
    are recomputed only when it differs from the last scan's, or always when it is None. ``finish``
    runs inside the bookkeeping transaction, so what it writes commits with the statuses.
    ``denied``: folders (ending in '/') and files this user could not list or stat; their known
    recordings are kept as they are (not 'missing'), and each gets a 'permission_denied' finding.
    """
    denied = list(denied or [])
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    seen.sort()  # by rel_path, the first element
    columns = catalog.con.execute("SELECT rel_path, size_bytes, mtime_ns, status FROM recordings").fetchnumpy()
    known = dict(
        zip(
            columns["rel_path"].tolist(),
            zip(columns["size_bytes"].tolist(), columns["mtime_ns"].tolist(), columns["status"].tolist()),
        )
    )
    summary = ScanSummary(root=str(root))

    new: list[_Seen] = []
    changed: list[_Seen] = []
    for item in seen:
        previous = known.get(item[0])
        if previous is None:
            new.append(item)
        elif previous[:2] != item[2:] or previous[2] == "missing":
            changed.append(item)  # new size or mtime, or a missing file that came back
    summary.new, summary.changed = len(new), len(changed)
    summary.unchanged = len(seen) - len(new) - len(changed)

    to_read: list[tuple[_Seen, str]] = []  # (file, recording_id)
    if new or changed:
        ids = dict(catalog.con.execute("SELECT rel_path, recording_id FROM recordings").fetchall())
        taken = set(ids.values())
        to_read = [(item, ids[item[0]]) for item in changed]  # a changed file keeps its id
        to_read += [(item, unique_id(item[0], taken, summary.collisions)) for item in new]

    def read_chunk(chunk: list[tuple[_Seen, str]]) -> list[dict[str, object]]:
        rows = []
        for item, recording_id in chunk:
            row = _header_row(item, hash_audio)
            row.update(
                recording_id=recording_id,
                participant_id=participant(item[0]),
                first_seen=now,
                last_seen=now,
                scanned_at=now,
            )
            rows.append(row)
        return rows

    if to_read:
        catalog.release()  # a shared catalog is free while headers are read; batches of rows take it back
        batches = catalog.batched(lambda batch: _commit(catalog, [row for rows in batch for row in rows]))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for start in range(0, len(to_read), BATCH_FILES):
                batch = to_read[start : start + BATCH_FILES]
                # one task per chunk of files: a future per file costs more than a local header read
                chunks = [batch[i : i + _CHUNK_FILES] for i in range(0, len(batch), _CHUNK_FILES)]
                rows = [row for chunk_rows in pool.map(read_chunk, chunks) for row in chunk_rows]
                # a known file this user may no longer open keeps its row as it was; a new one is 'unreadable'
                denied += [row["rel_path"] for row in rows if row["denied"]]
                batches.add([row for row in rows if not (row["denied"] and row["rel_path"] in known)])
                if progress:
                    progress(start + len(batch), len(to_read))
        batches.flush()

    # Bookkeeping for files that were not re-read: one transaction, no audio opened.
    seen_paths = {item[0] for item in seen}
    denied_files = set(denied)
    denied_folders = tuple(d for d in denied_files if d.endswith("/"))
    summary.denied = len(denied_files)
    vanished = [
        p
        for p, values in known.items()
        if values[2] != "missing" and p not in seen_paths and not (p in denied_files or p.startswith(denied_folders))
    ]
    relabelled: list[tuple[str, str]] = []
    if labels is None or _state(catalog, "participant_regex") != labels:  # only then can an old label be stale
        current = dict(catalog.con.execute("SELECT rel_path, participant_id FROM recordings").fetchall())
        relabelled = [(rel_path, pid) for rel_path, *_ in seen if (pid := participant(rel_path)) != current[rel_path]]
    with catalog.transaction() as con:
        if vanished:
            catalog.run(_SQL, "mark_missing", {"rel_paths": vanished})
        # Every row not missing now was seen by this scan (vanished ones were just marked).
        catalog.run(_SQL, "mark_seen", {"now": now})
        if relabelled:
            relabel = pa.table({"rel_path": [r[0] for r in relabelled], "pid": [r[1] for r in relabelled]})
            con.register("relabelled", relabel)
            catalog.run(_SQL, "relabel")
            con.unregister("relabelled")
        # None (labels from elsewhere) is stored as a value no regex can be, so a later plain scan relabels
        catalog.run(_SQL, "set_state", {"key": "participant_regex", "value": labels or NOT_A_REGEX})
        _store_denied(catalog, now, denied)
        if finish:
            finish(catalog, now, summary)

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


def _store_denied(catalog: Catalog, now: datetime, denied: list[str]) -> None:
    """Replace the scan's 'permission_denied' findings (warnings: the recordings stay as they were): one
    per denied folder (recording_id DENIED_PREFIX + its rel_path, as it is no recording), one per
    recording inside it, and one per denied file (on its recording, or DENIED_PREFIX + rel_path)."""
    catalog.run(_SQL, "forget_denied")
    if not denied:
        return
    folders = sorted({d for d in denied if d.endswith("/") or not d})
    files = sorted({d for d in denied if d not in folders})
    ids = dict(
        catalog.con.execute(
            "SELECT rel_path, recording_id FROM recordings WHERE list_contains(?, rel_path)", [files]
        ).fetchall()
    )
    tail = " (permission denied): its recordings keep their status and splits; fix the permissions and scan again."
    rows = [[DENIED_PREFIX + d, f"The folder {d or './'} cannot be listed by this user{tail}"] for d in folders]
    rows += [[ids.get(f, DENIED_PREFIX + f), f"{f} cannot be read by this user{tail}"] for f in files]
    catalog.run_many(_SQL, "add_denied", [[*r, now] for r in rows])
    if folders:
        catalog.run(_SQL, "add_denied_in_folders", {"now": now, "folders": folders})


def walk_audio(
    root: Path, extensions: set[str], denied: list[str] | None = None, skipped: Counter[str] | None = None
) -> list[_Seen]:
    """Every audio file below ``root``: hidden entries skipped, symlinks followed without loops.

    Other (not hidden) files are counted in ``skipped`` by lower-case extension ("" for none), so a lab's
    phone recordings in .m4a are said aloud, not silently left out.

    rel_paths are shown text (see ``shown``); the absolute paths open the file. Folders and files this
    user may not list or stat are appended to ``denied`` (rel_path; folders end with '/'), so their
    recordings are not taken for deleted. Plain strings and tuples, not pathlib: this loop is most of an
    unchanged rescan's cost.
    """
    found: list[_Seen] = []
    visited: set[tuple[int, int]] = set()
    stack = [(str(root), "")]  # (absolute folder, its path relative to root with a trailing "/")
    while stack:
        folder, rel_prefix = stack.pop()
        try:
            info = os.stat(folder)
            if (info.st_dev, info.st_ino) in visited:  # a symlink loop, or a second link to one folder
                continue
            visited.add((info.st_dev, info.st_ino))
            entries = list(os.scandir(folder))
        except PermissionError:
            if denied is not None:
                denied.append(shown(rel_prefix))
            continue
        except OSError:
            continue
        for entry in entries:
            name = entry.name
            if name[0] == ".":
                continue
            try:
                if entry.is_dir():
                    stack.append((entry.path, f"{rel_prefix}{name}/"))
                elif name[name.rfind(".") :].lower() in extensions:
                    rel_path = f"{rel_prefix}{name}"
                    if not rel_path.isascii():
                        rel_path = shown(rel_path)
                    try:
                        # FIFOs and devices named .wav are kept too: their row says what they are (never opened)
                        stat = entry.stat()
                    except PermissionError:
                        if denied is not None:
                            denied.append(rel_path)
                        continue
                    found.append((rel_path, entry.path, stat.st_size, stat.st_mtime_ns))
                elif skipped is not None:
                    dot = name.rfind(".")
                    skipped[name[dot:].lower() if dot > 0 else ""] += 1
            except OSError:  # vanished, or a dangling link: not a file we can catalog
                continue
    return found


def shown(path: str) -> str:
    """``path`` as text a catalog can hold: a name that is not valid UTF-8 (Python keeps its bytes as
    surrogate escapes) gets each undecodable byte written \\xNN, e.g. 'P1/bad\\xff.wav'."""
    if path.isascii():
        return path
    try:
        path.encode("utf-8")
        return path
    except UnicodeEncodeError:
        return os.fsencode(path).decode("utf-8", "backslashreplace")


def fs_path(path: str, path_bytes: bytes | None) -> str:
    """The name to open a recording by (``recordings.path`` and ``path_bytes``): the exact bytes when the
    name is not valid UTF-8, where ``path`` is only how it is shown."""
    return os.fsdecode(path_bytes) if path_bytes is not None else path


def unique_id(rel_path: str, taken: set[str], collisions: dict[str, list[str]]) -> str:
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
    """The row of one file; whatever reading it raises makes it 'unreadable' (the scan goes on)."""
    try:
        return _read_row(item, hash_audio)
    except Exception as exc:
        if os.environ.get("HOMECAT_DEBUG"):
            traceback.print_exception(exc)
        return dict(_empty_row(item), status="unreadable", error=f"{type(exc).__name__}: {first_line(exc)}")


def _empty_row(item: _Seen) -> dict[str, object]:
    rel_path, path, size_bytes, mtime_ns = item
    text = shown(path)
    return {
        "rel_path": rel_path,
        "path": text,
        "path_bytes": os.fsencode(path) if text != path else None,
        "size_bytes": size_bytes,
        "mtime_ns": mtime_ns,
        "format": None,
        "subtype": None,
        "sample_rate": None,
        "channels": None,
        "frames": None,
        "duration_sec": None,
        "sha1": None,
        "status": "ok",
        "error": None,
        "denied": False,  # this user may not open it (not stored: it decides what is stored)
    }


def _read_row(item: _Seen, hash_audio: bool) -> dict[str, object]:
    path = item[1]
    row = _empty_row(item)
    try:
        header = audio.read_header(path)
    except audio.AudioPermissionError as exc:
        row.update(status="unreadable", error=str(exc), denied=True)
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
    if hash_audio and row["status"] == "ok":  # only a regular file that opened is read to the end
        try:
            row["sha1"] = audio.file_sha1(path)
        except OSError as exc:
            row.update(status="unreadable", error=f"cannot read bytes: {exc.strerror or exc}")
    return row


# The columns of a batch of header rows: upsert_recordings in queries/scan.sql stores them.
_COLUMNS = [
    "rel_path",
    "path",
    "path_bytes",
    "recording_id",
    "participant_id",
    "size_bytes",
    "mtime_ns",
    "format",
    "subtype",
    "sample_rate",
    "channels",
    "frames",
    "duration_sec",
    "sha1",
    "status",
    "error",
    "first_seen",
    "last_seen",
    "scanned_at",
]


def _commit(catalog: Catalog, rows: list[dict[str, object]]) -> None:
    if not rows:
        return
    columns = {name: [r[name] for r in rows] for name in _COLUMNS}  # built before the transaction takes the file
    with catalog.transaction():
        catalog.run(_SQL, "upsert_recordings", columns)


def update_header(catalog: Catalog, recording_id: str, header: audio.AudioHeader) -> None:
    """Replace a recording's header values with ``header`` (validate found the file's header changed
    although its size and mtime did not); inside the caller's transaction."""
    catalog.run(
        _SQL,
        "update_header",
        {
            "format": header.format,
            "subtype": header.subtype,
            "sample_rate": header.sample_rate,
            "channels": header.channels,
            "frames": header.frames,
            "duration_sec": header.duration_sec,
            "recording_id": recording_id,
        },
    )


def _state(catalog: Catalog, key: str) -> str | None:
    row = catalog.con.execute("SELECT value FROM catalog_state WHERE key = ?", [key]).fetchone()
    return row[0] if row else None
