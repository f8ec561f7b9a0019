"""The catalog's segments written back into a ChildProject dataset as a new annotation set.

What ChildProject's own importer would have left (ChildProject/annotations.py, ``_import_annotation``),
so its validator accepts the set and ``homecat segments import --childproject`` reads it back:

- per recording, ``annotations/<set>/raw/<stem>.csv`` (format ``csv``: ChildProject's converter reads it as
  it is) and the same rows as ``annotations/<set>/converted/<stem>_0_<range_offset>.csv``: ``raw_filename``,
  ``segment_onset``, ``segment_offset`` (integer ms from the recording's start) and the label's column;
- one row per recording appended to ``metadata/annotations.csv``, annotating the whole recording
  (range 0 to its duration in ms, floored: never past the audio), its rows and columns kept.

Only a catalog scanned from that dataset, only recordings its metadata lists, and only a set that does not
exist yet: nothing of the dataset is ever replaced. Every file is written under a temporary name and
renamed (``homecat.outputs``); annotations.csv last, so a failure leaves no index row without its file
(and the set's half-written folder is removed). This module never imports typer.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import groupby
from pathlib import Path, PurePosixPath

from homecat import __version__
from homecat.catalog import Catalog, named_queries
from homecat.childproject.annotations import SPEECH_LABEL_COLUMN
from homecat.childproject.metadata import METADATA, check_dataset, csv_error, csv_text
from homecat.errors import HomecatError
from homecat.outputs import output_folder, replacing

_SQL = "queries/childproject.sql"
ANNOTATIONS = PurePosixPath("annotations")
# ChildProject's INDEX_COLUMNS (AnnotationManager), the header it gives a new metadata/annotations.csv
INDEX_COLUMNS = (
    "set",
    "recording_filename",
    "time_seek",
    "range_onset",
    "range_offset",
    "raw_filename",
    "format",
    "filter",
    "annotation_filename",
    "imported_at",
    "package_version",
    "error",
    "merged_from",
)
SEGMENT_TIMES = ("raw_filename", "segment_onset", "segment_offset")  # the columns the label cannot take
# ChildProject's SEGMENTS_COLUMNS with a fixed set of values (its validator flags any other value)
FIXED_CHOICES: dict[str, tuple[str, ...]] = {
    "speaker_type": ("FEM", "MAL", "CHI", "OCH", "NA"),
    "ling_type": ("1", "0", "NA"),
    "vcm_type": ("C", "N", "Y", "L", "J", "U", "NA"),
    "lex_type": ("W", "0", "NA"),
    "mwu_type": ("M", "1", "NA"),
    "msc_type": ("0", "1", "2", "S", "C", "U"),
    "gra_type": ("G", "J", "U"),
    "addressee": ("T", "C", "A", "O", "P", "U", "NA"),
    "lena_block_type": tuple(
        "pause CM CIC CIOCX CIOCAX AMF AICF AIOCF AIOCCXF AMM AICM AIOCM AIOCCXM XM XIOCC XIOCA XIC XIOCAC".split()
    ),
    "lena_conv_status": ("BC", "RC", "EC"),
    "lena_conv_floor_type": ("FI", "FH"),
    "lena_conv_turn_type": ("TIFI", "TIMI", "TIFR", "TIMR", "TIFE", "TIME", "NT"),
    "lena_speaker": tuple("TVF FAN OLN SIL NOF CXF OLF CHF MAF TVN NON CXN CHN MAN FAF".split()),
}
# ChildProject's SEGMENTS_COLUMNS whose values are numbers (the regex its validator applies): labels are not
_COUNT, _WHOLE, _SIGNED = r"\d+(\.\d+)?", r"[0-9]+", r"-?\d+(\.\d+)?"
NUMERIC_COLUMNS: dict[str, str] = {
    **dict.fromkeys(("phonemes", "syllables", "words", "lena_block_number"), _COUNT),
    **dict.fromkeys(("lena_response_count", "utterances_count"), _COUNT),
    **dict.fromkeys(("utterances_length", "non_speech_length", "child_cry_vfx_len"), _WHOLE),
    **dict.fromkeys(("average_db", "peak_db"), _SIGNED),
}
_SET_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")  # one folder of a set's name ('vtc', 'eaf/an1')


@dataclass
class SetExport:
    """What one export of segments into a ChildProject annotation set wrote."""

    dataset: Path
    set_name: str
    label_column: str
    recordings: int = 0  # annotation files written (one per recording, rows of annotations.csv added)
    segments: int = 0
    not_listed: int = 0  # segments of recordings the dataset's metadata does not list (not exported)
    clipped_to_end: int = 0  # segments past the recording's end, ended there
    too_short: int = 0  # segments shorter than a millisecond (nothing left once in ms)
    tiers: list[str] = field(default_factory=list)  # the tiers the labels came from

    def notes(self) -> list[str]:
        out = []
        if self.not_listed:
            out.append(
                f"{self.not_listed} segments of recordings that {self.dataset}/metadata/recordings.csv does not "
                "list were not exported"
            )
        if self.clipped_to_end:
            out.append(f"{self.clipped_to_end} segments past their recording's end were ended there")
        if self.too_short:
            out.append(f"{self.too_short} segments shorter than a millisecond were not exported")
        if len(self.tiers) > 1:
            out.append(
                f"the labels come from {len(self.tiers)} tiers ({', '.join(self.tiers)}) and share the column "
                f"{self.label_column}: pass --source to export one file's segments"
            )
        return out


@dataclass(frozen=True)
class _Row:
    onset_ms: int
    offset_ms: int
    label: str


def export_set(
    catalog: Catalog,
    dataset: str | os.PathLike,
    set_name: str,
    label_column: str = SPEECH_LABEL_COLUMN,
    sources: Sequence[str] = (),
    tolerance_sec: float = 0.01,
) -> SetExport:
    """Write the catalog's segments (of ``sources``; empty: all) into ``dataset`` as the new annotation set
    ``set_name``, labels in ``label_column``; raise ``HomecatError`` before writing anything on a refusal."""
    dataset = check_dataset(Path(dataset))
    _check_catalog(catalog, dataset)
    _check_set_name(set_name)
    label_column = label_column.strip()
    if not label_column or label_column in SEGMENT_TIMES or any(c in label_column for c in "\r\n"):
        raise HomecatError(
            f"'{label_column}' cannot be the label's column: name a column other than {', '.join(SEGMENT_TIMES)} "
            "(speaker_type, transcription, or a name of your own)."
        )
    index_path = dataset / METADATA / "annotations.csv"
    index_columns, index_rows = _read_index(index_path)
    set_folder = dataset / ANNOTATIONS / set_name
    if os.path.lexists(set_folder) or any(row.get("set") == set_name for row in index_rows):
        raise HomecatError(
            f"The annotation set '{set_name}' already exists in {dataset} (annotations/{set_name}/ or rows of "
            "metadata/annotations.csv): choose another --set NAME; nothing was written."
        )

    query = named_queries(_SQL)["export_set_segments"].sql
    _, rows = catalog.rows(query, {"sources": list(sources), "tolerance_sec": tolerance_sec})
    result = SetExport(dataset, set_name, label_column)
    result.tiers = sorted({row[5] or "segments" for row in rows if row[0] is not None})
    files: list[tuple[str, int, str, list[_Row]]] = []  # (recording_filename, range_offset_ms, stem, rows)
    for recording_filename, group in groupby(rows, key=lambda row: row[0]):
        group = list(group)
        if recording_filename is None:
            result.not_listed += len(group)
            continue
        range_offset = math.floor(group[0][1] * 1000 + 1e-6)  # never past the audio (ChildProject checks it)
        converted = []
        for _, _, start_sec, end_sec, label, _ in group:
            onset, offset = round(start_sec * 1000), round(end_sec * 1000)
            if offset > range_offset:
                result.clipped_to_end += 1
                offset = range_offset
            if offset <= onset:
                result.too_short += 1
                continue
            converted.append(_Row(onset, offset, label))
        if converted:
            stem = PurePosixPath(recording_filename).with_suffix("").as_posix()  # as ChildProject: os.path.splitext
            files.append((recording_filename, range_offset, stem, converted))
    if not files:
        which = f" of source {', '.join(sources)}" if sources else ""
        raise HomecatError(
            f"There are no segments{which} of recordings of {dataset} to export: run 'homecat segments import' first."
        )
    _check_labels(label_column, {row.label for *_, converted in files for row in converted})
    _check_unique_stems(files)

    now = datetime.now().strftime("%Y-%m-%d %H:%M:%S")  # local time, as ChildProject writes it
    added = []
    try:
        for recording_filename, range_offset, stem, converted in files:
            raw_filename = f"{stem}.csv"
            annotation_filename = f"{stem}_0_{range_offset}.csv"
            text = _segments_csv(raw_filename, label_column, converted)
            _write(set_folder / "raw" / raw_filename, text)
            _write(set_folder / "converted" / annotation_filename, text)
            added.append(
                {
                    "set": set_name,
                    "recording_filename": recording_filename,
                    "time_seek": "0",
                    "range_onset": "0",
                    "range_offset": str(range_offset),
                    "raw_filename": raw_filename,
                    "format": "csv",
                    "annotation_filename": annotation_filename,
                    "imported_at": now,
                    "package_version": __version__,
                    "error": "",
                    "merged_from": "",
                }
            )
            result.recordings += 1
            result.segments += len(converted)
        columns = index_columns + [c for c in INDEX_COLUMNS if c not in index_columns]
        _write(index_path, _index_csv(columns, index_rows + added))
    except BaseException:
        shutil.rmtree(set_folder, ignore_errors=True)  # it did not exist: no half set left behind
        raise
    return result


def _check_catalog(catalog: Catalog, dataset: Path) -> None:
    _, rows = catalog.rows(named_queries(_SQL)["dataset_root"].sql)
    root = rows[0][0] if rows else None
    if root != str(dataset):
        scanned = f"from {root}" if root else "from a plain folder"
        raise HomecatError(
            f"The catalog {catalog.path} was scanned {scanned}, not from {dataset}: run "
            f"'homecat scan --childproject {dataset}' with its own catalog first; nothing was written."
        )


def _check_set_name(set_name: str) -> None:
    parts = set_name.split("/")
    if not set_name or not all(_SET_PART.fullmatch(part) for part in parts):
        raise HomecatError(
            f"'{set_name}' cannot be an annotation set's name: use letters, digits, '.', '_' and '-' "
            "(folders separated by '/', none starting with '.'), e.g. homecat_vad; nothing was written."
        )


def _check_labels(label_column: str, labels: set[str]) -> None:
    choices = FIXED_CHOICES.get(label_column)
    if choices is not None:
        outside = sorted(labels - set(choices))
        what = f"ChildProject allows only {', '.join(choices)} in {label_column}"
    elif label_column in NUMERIC_COLUMNS:
        outside = sorted(label for label in labels if not re.fullmatch(NUMERIC_COLUMNS[label_column], label))
        what = f"ChildProject allows only numbers in {label_column}"
    else:
        return
    if outside:
        shown = ", ".join(outside[:10]) + (f" and {len(outside) - 10} more" if len(outside) > 10 else "")
        raise HomecatError(
            f"The labels {shown} cannot go to the column {label_column}: {what}; pass --label-column with a "
            "column without fixed values (transcription, or a name of your own); nothing was written."
        )


def _check_unique_stems(files: list[tuple[str, int, str, list[_Row]]]) -> None:
    """Two recordings whose names differ only by extension would share ChildProject's file names."""
    seen: dict[str, str] = {}
    for recording_filename, _, stem, _ in files:
        if stem in seen:
            raise HomecatError(
                f"The recordings {seen[stem]} and {recording_filename} would share the annotation files {stem}_*.csv "
                "(ChildProject names them by the recording without its extension): export one of them with --source; "
                "nothing was written."
            )
        seen[stem] = recording_filename


def _read_index(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """metadata/annotations.csv's columns and rows as they are (none if there is no such file yet)."""
    if not path.is_file():
        return [], []
    reader = csv.DictReader(csv_text(path))
    try:
        rows = [{k: v or "" for k, v in row.items() if k is not None} for row in reader]
    except csv.Error as error:
        raise HomecatError(f"{csv_error(path, reader.reader.line_num, error)}; nothing was written.") from None
    columns = [c for c in reader.fieldnames or [] if c is not None]
    return columns, rows


def _segments_csv(raw_filename: str, label_column: str, rows: list[_Row]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*SEGMENT_TIMES, label_column])
    for row in sorted(rows, key=lambda r: (r.onset_ms, r.offset_ms, r.label)):  # ChildProject's order
        writer.writerow([raw_filename, row.onset_ms, row.offset_ms, row.label])
    return out.getvalue()


def _index_csv(columns: list[str], rows: list[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, restval="", extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _write(target: Path, text: str) -> None:
    output_folder(target.parent)
    with replacing(target) as partial:
        partial.write_text(text, encoding="utf-8")
