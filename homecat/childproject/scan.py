"""`homecat scan` of a ChildProject dataset: its listed recordings through the normal scan.

The rows of recordings.csv (not discarded) are the recordings and their child_id the participant.
The audio is ``homecat.recordings.sync_recordings``: headers only, incremental by (size, mtime), batched.
What the folder holds against the metadata (missing, not fetched, unreferenced, discarded) becomes
findings of stage 'scan', rewritten by every such scan in its bookkeeping transaction.
"""

from __future__ import annotations

import csv
import hashlib
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from stat import S_ISDIR, S_ISLNK

import pyarrow as pa

from homecat.catalog import Catalog
from homecat.childproject.metadata import (
    CONVERTED,
    RAW,
    Listed,
    Metadata,
    MetadataError,
    check_dataset,
    csv_error,
    csv_text,
    known_value,
    read_metadata,
)
from homecat.errors import ConfigError
from homecat.recordings import NOT_A_REGEX, ProgressFn, ScanSummary, sync_recordings, unique_id, walk_audio
from homecat.settings import DataSettings

# Finding codes a ChildProject scan owns (stage 'scan'): all replaced by each scan, dropped by a plain one.
FINDING_CODES = ("missing", "not_fetched", "unreferenced", "discarded")
UNREFERENCED_PREFIX = "unreferenced:"  # recording_id of an unreferenced file's finding: it is no recording


@dataclass(frozen=True)
class _Absent:
    listed: Listed
    rel_path: str
    path: str
    code: str  # 'missing' or 'not_fetched'


def scan_dataset(
    catalog: Catalog,
    data: DataSettings,
    dataset: Path | None = None,
    profile: str | None = None,
    hash_audio: bool | None = None,
    workers: int | None = None,
    progress: ProgressFn | None = None,
) -> ScanSummary:
    """``homecat scan`` of a ChildProject dataset (default ``data.childproject_root``)."""
    dataset = check_dataset(dataset or data.childproject_root)
    profile = profile if profile is not None else data.childproject_profile
    meta = read_metadata(dataset)  # every check before the first write
    audio_root, rel_of, mapping = _audio_names(
        dataset, profile, [r.recording_filename for r in meta.recordings] + meta.discarded
    )
    key = _metadata_key(dataset, profile, meta, mapping)  # of the bytes read, not of the files at the end

    denied: list[str] = []  # folders and files this user may not list or stat: kept as they were, never 'missing'
    found = (
        {item[0]: item for item in walk_audio(audio_root, set(data.allowed_ext), denied)} if audio_root.is_dir() else {}
    )
    seen = []
    absent: list[_Absent] = []
    child_of: dict[str, str] = {}
    for listed in meta.recordings:
        rel_path = rel_of[listed.recording_filename]
        child_of[rel_path] = listed.child_id
        item = found.get(rel_path) or _stat(audio_root, rel_path)
        if item == "permission_denied":
            denied.append(rel_path)
        elif isinstance(item, str):
            absent.append(_Absent(listed, rel_path, str(audio_root / rel_path), item))
        else:
            seen.append(item)
    referenced = set(rel_of.values())
    unreferenced = sorted(p for p in found if p not in referenced)
    discarded = sorted({rel_of[name] for name in meta.discarded} - set(child_of))  # a name may also be kept
    shown_root = audio_root.relative_to(dataset).as_posix()

    def finish(catalog: Catalog, now: datetime, summary: ScanSummary) -> None:
        _store(catalog, now, summary, meta, key, rel_of, absent, unreferenced, discarded, shown_root, dataset, profile)

    summary = sync_recordings(
        catalog,
        audio_root,
        seen,
        participant=child_of.__getitem__,
        # children come from the metadata: `finish` relabels every listed recording whose child_id changed
        labels=NOT_A_REGEX,
        hash_audio=data.hash_audio if hash_audio is None else hash_audio,
        workers=workers or data.scan_workers,
        progress=progress,
        finish=finish,
        denied=denied,
    )
    summary.root = str(dataset)
    not_fetched = sum(a.code == "not_fetched" for a in absent)
    summary.extra = [
        {"what": "listed recordings (metadata/recordings.csv)", "count": len(meta.recordings)},
        {"what": "discarded rows (discard = 1, skipped)", "count": len(meta.discarded)},
        *(
            [{"what": "rows without a recording_filename (NA, skipped)", "count": meta.without_file}]
            if meta.without_file
            else []
        ),
        {"what": "listed but absent (missing)", "count": len(absent) - not_fetched},
        {"what": "listed but not fetched (git-annex; see report findings)", "count": not_fetched},
        {"what": "unreferenced audio files (not catalogued)", "count": len(unreferenced)},
    ]
    return summary


def _audio_names(dataset: Path, profile: str | None, names: list[str]) -> tuple[Path, dict[str, str], str | None]:
    """The audio folder scanned, for each recording_filename its path relative to that folder, and the
    digest of the profile's recordings.csv as read (None: no such file).

    A converted profile keeps the name but may change the extension: its recordings.csv
    (original_filename, converted_filename) says so; without one, the same name is expected.
    """
    if not profile:
        return dataset / RAW, {name: name for name in names}, None
    root = dataset / CONVERTED / profile
    if not root.is_dir():
        available = sorted(p.name for p in (dataset / CONVERTED).glob("*") if p.is_dir())
        raise ConfigError(
            f"The ChildProject dataset {dataset} has no profile '{profile}' under recordings/converted/ "
            f"(profiles: {', '.join(available) or 'none'})."
        )
    mapping_path = root / "recordings.csv"
    converted: dict[str, str] = {}
    digest = None
    if mapping_path.is_file():
        digest = hashlib.sha1()
        reader = csv.DictReader(csv_text(mapping_path, digest))
        try:
            for column in ("original_filename", "converted_filename"):
                if column not in (reader.fieldnames or []):
                    raise MetadataError(
                        f"{mapping_path}: line 1 (the header) has no column '{column}'; nothing was written."
                    )
            for row in reader:
                target = known_value((row["converted_filename"] or "").strip())
                if target:
                    converted[(row["original_filename"] or "").strip()] = target
        except csv.Error as error:
            raise MetadataError(
                f"{csv_error(mapping_path, reader.reader.line_num, error)}; nothing was written."
            ) from None
    return root, {name: converted.get(name, name) for name in names}, digest.hexdigest() if digest else None


def _stat(root: Path, rel_path: str) -> tuple[str, str, int, int] | str:
    """A listed file the walk did not return (hidden folder, other extension, or not there):
    the scan's (rel_path, path, size, mtime), else 'not_fetched' (a dangling link), 'permission_denied'
    (a folder on its way this user may not enter) or 'missing'."""
    path = os.path.join(root, rel_path)
    try:
        info = os.stat(path)
    except PermissionError:
        return "permission_denied"
    except OSError:
        try:
            return "not_fetched" if S_ISLNK(os.lstat(path).st_mode) else "missing"
        except OSError:
            return "missing"
    if S_ISDIR(info.st_mode):
        return "missing"
    return (rel_path, path, info.st_size, info.st_mtime_ns)  # a FIFO or device too: its row says what it is


_SQL = "queries/childproject.sql"
# The columns of recording_meta, as the metadata batch (meta_batch) holds them: store_metadata stores them.
_META_TYPES = {
    "recording_id": pa.string(),
    "recording_filename": pa.string(),
    "experiment": pa.string(),
    "child_id": pa.string(),
    "date_iso": pa.date32(),
    "start_time": pa.string(),
    "recording_device_type": pa.string(),
    "session_id": pa.string(),
    "child_dob": pa.date32(),
    "age_months": pa.float64(),
    "family_id": pa.string(),
}


def _store(
    catalog, now, summary, meta, key, rel_of, absent, unreferenced, discarded, shown_root, dataset, profile
) -> None:
    """Inside the scan's bookkeeping transaction: rows for listed files never seen, the metadata
    table and the children as participants (only when the metadata changed, by ``key``), this scan's findings."""
    con = catalog.con
    stored = con.execute("SELECT value FROM catalog_state WHERE key = 'childproject_metadata'").fetchone()
    rewrite = stored is None or stored[0] != key
    wanted = [a.rel_path for a in absent] + discarded  # the ids the findings need
    query = "SELECT rel_path, recording_id FROM recordings"
    ids = dict(con.execute(query + " WHERE list_contains(?, rel_path)", [wanted]).fetchall())
    fresh = [a for a in absent if a.rel_path not in ids]  # listed, never seen: a row, so reports show it
    if fresh or rewrite:  # a new id is placed among all of them; the metadata table needs every id
        rewrite = True
        ids = dict(con.execute(query).fetchall())
    if fresh:
        taken = set(ids.values())
        rows = []
        for a in fresh:
            ids[a.rel_path] = unique_id(a.rel_path, taken, summary.collisions)
            rows.append([a.rel_path, a.path, ids[a.rel_path], a.listed.child_id, now, now, now])
        catalog.run_many(_SQL, "add_listed_recordings", rows)
    if rewrite:
        columns = {c: [getattr(r, c, None) for r in meta.recordings] for c in _META_TYPES if c != "recording_id"}
        columns["recording_id"] = [ids[rel_of[r.recording_filename]] for r in meta.recordings]
        table = pa.table({c: pa.array(columns[c], type=t) for c, t in _META_TYPES.items()})
        catalog.run(_SQL, "forget_metadata")
        con.register("meta_batch", table)
        catalog.run(_SQL, "store_metadata")
        con.unregister("meta_batch")
        catalog.run(_SQL, "relabel_children")
        catalog.run(_SQL, "store_metadata_key", {"key": key})

    findings = []
    for a in absent:
        where = f"{shown_root}/{a.rel_path}"
        if a.code == "not_fetched":
            message = (
                f"{where} (metadata/recordings.csv line {a.listed.line}) is a git-annex link whose content is not "
                f"here: in {dataset} run 'datalad get {where}' (or 'git annex get {where}'), then scan again."
            )
        else:
            message = f"{where} is listed in metadata/recordings.csv (line {a.listed.line}) but the file is absent."
        findings.append([ids[a.rel_path], a.code, "error", message])
    for rel_path in unreferenced:
        message = f"{shown_root}/{rel_path} is listed by no row of metadata/recordings.csv: it is not catalogued."
        findings.append([UNREFERENCED_PREFIX + rel_path, "unreferenced", "warning", message])
    for rel_path in discarded:
        if rel_path in ids:  # catalogued by an earlier scan, now discarded: kept as 'missing'
            message = f"{shown_root}/{rel_path} has discard = 1 in metadata/recordings.csv: it is kept as 'missing'."
            findings.append([ids[rel_path], "discarded", "info", message])
    catalog.run(_SQL, "forget_findings", {"codes": list(FINDING_CODES)})
    if findings:
        catalog.run_many(_SQL, "add_finding", [[*f, now] for f in sorted(findings)])
    catalog.run(_SQL, "store_dataset", {"root": str(dataset), "profile": profile or ""})


def forget_dataset(catalog: Catalog) -> None:
    """A plain folder scan: the ChildProject metadata and findings no longer describe the catalog."""
    catalog.run(_SQL, "forget_metadata")
    catalog.run(_SQL, "forget_findings", {"codes": list(FINDING_CODES)})
    catalog.run(_SQL, "forget_dataset")


def _metadata_key(dataset: Path, profile: str | None, meta: Metadata, mapping: str | None) -> str:
    """Digest of what recording_meta is made of (the metadata files as they were read and parsed):
    unchanged, a rescan need not rewrite the table."""
    # 'families': recording_meta has had a family_id since schema v14, so an older catalog's rows are rewritten once
    text = f"{dataset}\0{profile or ''}\0{meta.digest}\0{mapping or 'absent'}\0families"
    return hashlib.sha1(text.encode()).hexdigest()
