"""Reading and checking a ChildProject dataset's metadata: children and recordings.

Read as ChildProject's ``ChildProject.read`` reads them (ChildProject/projects.py, ``accumulate_metadata``):
metadata/children.csv and metadata/recordings.csv, then every CSV under metadata/children/ and
metadata/recordings/ (recursively; often the confidential columns such as dates of birth), in
descending order of file name, each merged into the rows with the same child_id (recording_filename):
a value it gives replaces the earlier one unless it is empty (ChildProject's missing values, ``_EMPTY``;
``NA`` is a value there and replaces). Rows of an extra file that match no row are ignored; two extra
files with one name are ambiguous, as in ChildProject. Each merged value remembers its file and line,
so a problem names where the value came from.

Checked whole before anything is written: a missing required column, an empty required value, a
duplicate child_id or recording_filename, an unknown child_id, a bad date or time, a recording dated
before the child's birth. The first problem becomes one sentence naming the file, line and column.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path, PurePosixPath

from homecat.errors import ConfigError, HomecatError
from homecat.missing import is_missing

METADATA = PurePosixPath("metadata")
RAW = PurePosixPath("recordings/raw")
CONVERTED = PurePosixPath("recordings/converted")
CHILDREN_REQUIRED = ("experiment", "child_id", "child_dob")
RECORDINGS_REQUIRED = (
    "experiment",
    "child_id",
    "date_iso",
    "start_time",
    "recording_device_type",
    "recording_filename",
)
NA = "NA"  # ChildProject's "not known"; an empty cell is "not given" (an error in a required column)
_EMPTY = {"", "#N/A", "N/A", "n/a", "NULL", "null", "NaN", "nan", "-NaN", "-nan"}  # what ChildProject reads as empty
_DAYS_PER_MONTH = 365.25 / 12  # ChildProject's age in months


class MetadataError(HomecatError):
    """The dataset's metadata is malformed; nothing was written."""


@dataclass(frozen=True)
class Listed:
    """One row of recordings.csv kept for the catalog (not discarded)."""

    line: int
    recording_filename: str
    experiment: str
    child_id: str
    date_iso: date | None
    start_time: str | None
    recording_device_type: str
    session_id: str | None
    child_dob: date | None
    age_months: float | None
    family_id: str | None = None  # children.csv's family_id (or family) column, where the dataset has one


@dataclass
class Metadata:
    """What metadata/recordings.csv and children.csv say, checked."""

    recordings: list[Listed] = field(default_factory=list)
    discarded: list[str] = field(default_factory=list)  # recording_filename: discard = 1, or a discarded child
    without_file: int = 0  # rows whose recording_filename is NA
    digest: str = ""  # of the bytes of children.csv and recordings.csv that were read


# --------------------------------------------------------------------------- metadata


@dataclass
class Row:
    """One row of children.csv or recordings.csv with the extra files' values merged in."""

    path: Path  # the top-level file and line the row is on
    line: int
    values: dict[str, str]
    origin: dict[str, tuple[Path, int]] = field(default_factory=dict)  # column -> the extra file and line it came from

    def at(self, column: str) -> tuple[Path, int]:
        """The file and line ``column``'s value was read from."""
        return self.origin.get(column, (self.path, self.line))

    def __getitem__(self, column: str) -> str:
        return self.values[column]

    def get(self, column: str, default: str = "") -> str:
        return self.values.get(column, default)


def extra_files(dataset: Path, table: str) -> list[Path]:
    """The CSVs under metadata/<table>/ in the order ChildProject merges them (descending file name)."""
    folder = dataset / METADATA / table
    if not folder.is_dir():
        return []
    files = sorted((p for p in folder.rglob("*.csv") if p.is_file()), key=lambda p: (p.name, str(p)), reverse=True)
    names = [p.name for p in files]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        same = [str(p) for p in files if p.name == twice[0]]
        raise MetadataError(
            f"{folder}: two extra metadata files are both named {twice[0]} ({' and '.join(sorted(same))}), so "
            "which one overrides the other is ambiguous (ChildProject refuses them too); rename one; nothing was written."
        )
    return files


def merged_rows(
    dataset: Path, table: str, required: tuple[str, ...], key: str, digest: hashlib._Hash, problems: list[str]
) -> list[Row]:
    """The rows of metadata/<table>.csv with every extra file of metadata/<table>/ merged in by ``key``."""
    rows = [
        Row(path, line, values)
        for path in [dataset / METADATA / f"{table}.csv"]
        for line, values in csv_rows(path, required, digest)
    ]
    by_key: dict[str, list[Row]] = {}
    for row in rows:
        by_key.setdefault(row.get(key), []).append(row)
    for path in extra_files(dataset, table):
        seen: dict[str, int] = {}
        for line, values in csv_rows(path, (key,), digest):
            name = values[key]
            if name in seen:
                problems.append(problem_at(path, line, key, f"'{name}' is also on line {seen[name]}"))
                continue
            seen[name] = line
            for row in by_key.get(name, []) if name not in _EMPTY else []:
                for column, value in values.items():
                    if column != key and value not in _EMPTY:  # ChildProject keeps the earlier value for an empty one
                        row.values[column] = value
                        row.origin[column] = (path, line)
    return rows


def read_metadata(dataset: Path) -> Metadata:
    """Read and check the children and recordings (top-level files and extra files merged, as ChildProject
    reads them); raise ``MetadataError`` naming the first problem."""
    problems: list[str] = []
    digest = hashlib.sha1()
    children_path = dataset / METADATA / "children.csv"
    children: dict[str, tuple[Row, date | None]] = {}  # child_id -> (row, dob)
    discarded_children: set[str] = set()
    child_rows = merged_rows(dataset, "children", CHILDREN_REQUIRED, "child_id", digest, problems)
    for row in child_rows:
        if _discarded(row):  # not checked further: ChildProject drops discarded children first
            if row["child_id"] not in _EMPTY:
                discarded_children.add(row["child_id"])
            continue
        if not _filled(row, CHILDREN_REQUIRED, problems):
            continue
        child_id = row["child_id"]
        if child_id in children:
            problems.append(
                problem_at(row.path, row.line, "child_id", f"'{child_id}' is also on line {children[child_id][0].line}")
            )
            continue
        dob = _date(row["child_dob"], *row.at("child_dob"), "child_dob", problems)
        children[child_id] = (row, dob)
    discarded_children -= children.keys()  # a child_id also kept is the kept child's

    recordings_path = dataset / METADATA / "recordings.csv"
    out = Metadata()
    lines_of: dict[str, int] = {}
    for row in merged_rows(dataset, "recordings", RECORDINGS_REQUIRED, "recording_filename", digest, problems):
        line = row.line
        name = row["recording_filename"]
        if name == NA:
            out.without_file += 1
            continue
        # discarded rows, and rows of a discarded child, are not checked further (ChildProject drops them first)
        if _discarded(row) or row["child_id"] in discarded_children:
            if name:
                out.discarded.append(name)
            continue
        if not _filled(row, RECORDINGS_REQUIRED, problems):
            continue
        if name in lines_of:
            problems.append(
                problem_at(recordings_path, line, "recording_filename", f"'{name}' is also on line {lines_of[name]}")
            )
            continue
        lines_of[name] = line
        if name.startswith("/") or ".." in name.split("/") or not inside_dataset(dataset, dataset / RAW / name):
            problems.append(
                problem_at(
                    recordings_path, line, "recording_filename", f"'{name}' is not a path inside recordings/raw/"
                )
            )
        child = children.get(row["child_id"])
        if child is None:
            problems.append(
                problem_at(*row.at("child_id"), "child_id", f"'{row['child_id']}' is not a child_id of {children_path}")
            )
            continue
        when = _date(row["date_iso"], *row.at("date_iso"), "date_iso", problems)
        start_time = _time(row["start_time"], *row.at("start_time"), problems)
        age = None
        if when is not None and child[1] is not None:
            age = (when - child[1]).days / _DAYS_PER_MONTH
            if age < 0:
                dob_path, dob_line = child[0].at("child_dob")
                problems.append(
                    problem_at(
                        *row.at("date_iso"),
                        "date_iso",
                        f"{when} is before the child's date of birth {child[1]} (child {row['child_id']}, "
                        f"{dob_path} line {dob_line}; recording {name}): an age cannot be negative",
                    )
                )
        out.recordings.append(
            Listed(
                line=line,
                recording_filename=name,
                experiment=row["experiment"],
                child_id=row["child_id"],
                date_iso=when,
                start_time=start_time,
                recording_device_type=row["recording_device_type"],
                session_id=known_value(row.get("session_id")),
                child_dob=child[1],
                age_months=age,
                family_id=known_value(child[0].get("family_id") or child[0].get("family")),
            )
        )
    if problems:
        more = f" ({len(problems) - 1} more problems after this one)" if len(problems) > 1 else ""
        raise MetadataError(f"{problems[0]}{more}; nothing was written.")
    out.digest = digest.hexdigest()
    return out


def csv_rows(
    path: Path, required: tuple[str, ...], digest: hashlib._Hash | None = None
) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number in the file, row with stripped values) of a metadata CSV with the required columns;
    ``digest`` is updated with the digest of the bytes read."""
    if not path.is_file():
        raise ConfigError(f"{path} does not exist: the dataset is not a ChildProject dataset.")
    reader = csv.DictReader(csv_text(path, digest))
    try:
        columns = [c.strip() for c in reader.fieldnames or []]
        missing = [c for c in required if c not in columns]
        if missing:
            raise MetadataError(
                f"{path}: line 1 (the header) has no column '{missing[0]}', which ChildProject requires; "
                "nothing was written."
            )
        reader.fieldnames = columns
        for row in reader:
            values = {k: (v or "").strip() for k, v in row.items() if k is not None}
            if any(values.values()):  # not a blank line
                yield reader.line_num, values
    except csv.Error as error:  # the csv reader's line_num: DictReader's is still the last good row's
        raise MetadataError(f"{csv_error(path, reader.reader.line_num, error)}; nothing was written.") from None


def csv_text(path: Path, digest: hashlib._Hash | None = None) -> io.StringIO:
    """A CSV's text, read once (UTF-8, a BOM allowed); raise ``MetadataError`` naming the line that is not."""
    data = path.read_bytes()
    if digest is not None:  # of these bytes, not of a later read: the file may change meanwhile
        digest.update(hashlib.sha1(data).digest())
    try:
        return io.StringIO(data.decode("utf-8-sig"), newline="")
    except UnicodeDecodeError as error:
        raise MetadataError(f"{not_utf8(path, data, error)}; nothing was written.") from None


def not_utf8(path: Path, data: bytes, error: UnicodeDecodeError) -> str:
    line = data.count(b"\n", 0, error.start) + 1
    return (
        f"{path} line {line}: byte 0x{data[error.start]:02x} is not UTF-8 "
        "(the file was saved in another encoding: save it as CSV UTF-8)"
    )


def csv_error(path: Path, line: int, error: csv.Error) -> str:
    return f"{path} line {line}: not a readable CSV row ({error})"


def _filled(row: Row, required: tuple[str, ...], problems: list[str]) -> bool:
    empty = [c for c in required if row.get(c, "") in _EMPTY]
    for column in empty:
        problems.append(problem_at(*row.at(column), column, "the value is empty (write NA if it is not known)"))
    return not empty


def problem_at(path: Path, line: int, column: str, what: str) -> str:
    return f"{path} line {line}, column {column}: {what}"


def known_value(value: str | None) -> str | None:
    return None if is_missing(value) else value  # the one rule (homecat.missing)


def _discarded(row: Row) -> bool:
    value = row.get("discard", "")
    try:
        return float(value) == 1.0
    except ValueError:
        return False


# What ChildProject's strptime formats accept (%Y-%m-%d; %H:%M or %H:%M:%S), without strptime's
# cost (~20 us a call: most of reading a 20,000-row recordings.csv).
_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_TIME = re.compile(r"(\d{1,2}):(\d{1,2})(?::(\d{1,2}))?")


def _date(value: str, path: Path, line: int, column: str, problems: list[str]) -> date | None:
    if known_value(value) is None:
        return None
    match = _DATE.fullmatch(value)
    try:
        if match:
            return date(*map(int, match.groups()))
    except ValueError:  # a month or day out of range
        pass
    problems.append(problem_at(path, line, column, f"'{value}' is not a date YYYY-MM-DD (or NA)"))
    return None


def _time(value: str, path: Path, line: int, problems: list[str]) -> str | None:
    if known_value(value) is None:
        return None
    match = _TIME.fullmatch(value)
    if match and int(match[1]) < 24 and int(match[2]) < 60 and int(match[3] or 0) <= 61:  # 61: strptime's leap
        return value
    problems.append(problem_at(path, line, "start_time", f"'{value}' is not a time HH:MM or HH:MM:SS (or NA)"))
    return None


def inside_dataset(dataset: Path, path: Path) -> bool:
    """Whether ``path``, a name read from the metadata, resolves (symlinks followed) inside ``dataset``.

    A git-annex link points into the dataset's .git/annex, or, in a subdataset whose .git is a file
    ('gitdir: ...'), into that git folder's annex: both are inside. A name that climbs out with '..',
    an absolute one, or a link to anywhere else is not.
    """
    target = Path(os.path.abspath(path)).resolve()
    return any(target.is_relative_to(folder) for folder in _inside_folders(dataset))


def _inside_folders(dataset: Path) -> tuple[Path, ...]:
    allowed = [dataset.resolve()]
    git = dataset / ".git"
    if git.is_file():
        text = git.read_text(encoding="utf-8", errors="replace").strip()
        if text.startswith("gitdir:"):
            allowed.append((dataset / text[len("gitdir:") :].strip()).resolve() / "annex")
    return tuple(allowed)


def check_dataset(dataset: Path | None) -> Path:
    if dataset is None:
        raise ConfigError("No ChildProject dataset is set: pass --childproject DIR or set data.childproject_root.")
    dataset = Path(dataset).expanduser()
    if not dataset.is_dir():
        raise ConfigError(f"The ChildProject dataset {dataset} does not exist or is not a folder.")
    if not (dataset / METADATA / "recordings.csv").is_file():
        raise ConfigError(f"{dataset} is not a ChildProject dataset: it has no metadata/recordings.csv.")
    return dataset.resolve()
