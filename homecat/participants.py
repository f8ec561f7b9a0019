"""`homecat participants import FILE`: what a lab knows about its participants, for age-aware reports and splits.

The file is a CSV/TSV with a header: the participant's id (``participant_id``, ``child_id`` or ``id``, as
``recordings.participant_id`` holds it), and any of ``dob`` (or ``date_of_birth``, ``child_dob``:
YYYY-MM-DD), ``age_months`` (or ``age_days``: the age at the participant's recordings, for files that
give no date of birth), ``sex`` and ``site``. Every bad line is reported (line number and reason) and
then nothing is imported; a good file's rows replace those of the participants it names (the table
``participants``, owned here). Ids that no recording has are kept (the audio may come later) and counted.

Ages at recording are derived in the view ``recording_ages`` (sql/schema/v9.sql). This module never
imports typer.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

import pyarrow as pa

from homecat.catalog import Catalog
from homecat.errors import HomecatError
from homecat.missing import is_missing, known

ID_COLUMNS = ("participant_id", "child_id", "id")
DOB_COLUMNS = ("dob", "date_of_birth", "child_dob")
MAX_LISTED = 50
_DAYS_PER_MONTH = 365.25 / 12  # as ChildProject computes ages
_SQL = "queries/participants.sql"


@dataclass(frozen=True)
class ParticipantRow:
    participant_id: str
    dob: date | None
    age_months: float | None
    sex: str | None
    site: str | None


@dataclass(frozen=True)
class ParticipantsImport:
    source: str
    participants: int
    with_age: int  # a date of birth or an age
    unknown: int  # ids no recording has (yet)

    def rows(self) -> list[dict[str, object]]:
        return [
            {"what": "participants imported", "count": self.participants},
            {"what": "with a date of birth or an age", "count": self.with_age},
            {"what": "not (yet) in the catalog's recordings", "count": self.unknown},
        ]


def read_participants(path: Path) -> list[ParticipantRow]:
    """The rows of a participants file; every bad line in one error."""
    name = path.name
    if not path.is_file():
        raise HomecatError(f"There is no participants file {path}.")
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            first = f.readline()
            f.seek(0)
            delimiter = "\t" if path.suffix.lower() == ".tsv" or ("\t" in first and "," not in first) else ","
            reader = csv.DictReader(f, delimiter=delimiter)
            header = [h.strip().lower() for h in reader.fieldnames or []]
            reader.fieldnames = header
            records = [(reader.line_num, row) for row in reader]
    except UnicodeDecodeError:
        raise HomecatError(f"{name} is not UTF-8 text; save it as UTF-8 CSV.") from None
    except csv.Error as exc:
        raise HomecatError(f"{name} cannot be read as CSV ({exc}).") from None
    except OSError as exc:
        raise HomecatError(f"{name} cannot be read ({exc.strerror or exc}).") from None
    id_column = next((c for c in ID_COLUMNS if c in header), None)
    if id_column is None:
        raise HomecatError(
            f"{name}: line 1: the header lacks a participant id column ({', '.join(ID_COLUMNS)}); "
            f"found: {', '.join(header) or 'nothing'}."
        )
    dob_column = next((c for c in DOB_COLUMNS if c in header), None)
    rows: list[ParticipantRow] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for line, record in records:
        values = {k: (v or "").strip() for k, v in record.items() if k}
        if not any(values.values()):
            continue
        reasons = []
        pid = values.get(id_column, "")
        if is_missing(pid):
            reasons.append(f"{id_column} is empty" if not pid else f"{id_column} '{pid}' is a missing value")
        elif pid in seen:
            reasons.append(f"participant '{pid}' is also on line {seen[pid]}")
        dob = None
        if dob_column and not is_missing(values.get(dob_column)):
            try:
                dob = date.fromisoformat(values[dob_column])
            except ValueError:
                reasons.append(f"{dob_column} '{values[dob_column]}' is not a date (YYYY-MM-DD)")
        age = None
        for column, per_month in (("age_months", 1.0), ("age_days", _DAYS_PER_MONTH)):
            text = values.get(column, "")
            if not is_missing(text):
                try:
                    age = float(text) / per_month
                except ValueError:
                    age = math.nan
                if not (math.isfinite(age) and age >= 0):
                    reasons.append(f"{column} '{text}' is not a number of {column[4:]} (0 or more)")
                    age = None
        if reasons:
            problems.append(f"{name}: line {line}: {'; '.join(reasons)}.")
            continue
        seen[pid] = line
        rows.append(ParticipantRow(pid, dob, age, known(values.get("sex")), known(values.get("site"))))
    if problems:
        head = f"{name} has {len(problems)} invalid line(s), so nothing from it was imported:"
        more = [f"... and {len(problems) - MAX_LISTED} more."] if len(problems) > MAX_LISTED else []
        raise HomecatError(head, *problems[:MAX_LISTED], *more)
    return rows


def import_participants(catalog: Catalog, path: str | Path) -> ParticipantsImport:
    """Replace the rows of the participants the file names, in one transaction."""
    path = Path(path)
    rows = read_participants(path)
    table = pa.table(
        {
            "participant_id": pa.array([r.participant_id for r in rows], pa.string()),
            "dob": pa.array([r.dob for r in rows], pa.date32()),
            "age_months": pa.array([r.age_months for r in rows], pa.float64()),
            "sex": pa.array([r.sex for r in rows], pa.string()),
            "site": pa.array([r.site for r in rows], pa.string()),
        }
    )
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    with catalog.transaction() as con:
        con.register("_new_participants", table)
        try:
            catalog.run(_SQL, "forget_participants")
            catalog.run(_SQL, "add_participants", {"source": path.name, "now": now})
            unknown = con.execute(
                "SELECT count(*) FROM _new_participants WHERE participant_id NOT IN "
                "(SELECT participant_id FROM recordings)"
            ).fetchall()[0][0]
        finally:
            con.unregister("_new_participants")
    with_age = sum(r.dob is not None or r.age_months is not None for r in rows)
    return ParticipantsImport(path.name, len(rows), with_age, unknown)
