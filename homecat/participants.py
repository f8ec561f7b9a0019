"""`homecat participants import FILE`: what a lab knows about its participants, for age-aware reports and splits.

The file is a CSV/TSV with a header: the participant's id (``participant_id``, ``child_id`` or ``id``, as
``recordings.participant_id`` holds it), and any of ``dob`` (or ``date_of_birth``, ``child_dob``:
YYYY-MM-DD), ``age_months`` (or ``age_days``: the age at the participant's recordings, for files that
give no date of birth), ``sex``, ``site`` and ``family_id`` (or ``family``: siblings and twins share one, and
then one split). ``--column KEY=NAME`` names any of them (keys: participant, dob, age_months, age_days, sex,
site, family). Every bad line is reported (line number and reason) and
then nothing is imported; a good file's rows replace those of the participants it names (the table
``participants``, owned here). Ids that no recording has are kept (the audio may come later) and counted.

Ages at recording are derived in the view ``recording_ages`` (sql/schema/v11.sql). This module never
imports typer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

import pyarrow as pa

from homecat.catalog import Catalog, named_queries
from homecat.missing import is_missing, known
from homecat.tables import column_options, pick_column, raise_problems, read_records

ID_COLUMNS = ("participant_id", "child_id", "id")
DOB_COLUMNS = ("dob", "date_of_birth", "child_dob")
FAMILY_COLUMNS = ("family_id", "family")
_DEFAULTS = {
    "participant": ID_COLUMNS,
    "dob": DOB_COLUMNS,
    "age_months": ("age_months",),
    "age_days": ("age_days",),
    "sex": ("sex", "child_sex"),
    "site": ("site", "location_id"),
    "family": FAMILY_COLUMNS,
}
COLUMN_KEYS = tuple(_DEFAULTS)
_DAYS_PER_MONTH = 365.25 / 12  # as ChildProject computes ages
_SQL = "queries/participants.sql"


@dataclass(frozen=True)
class ParticipantRow:
    participant_id: str
    dob: date | None
    age_months: float | None
    sex: str | None
    site: str | None
    family_id: str | None = None
    line: int = 0  # in the file, for the errors found against the catalog


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


def read_participants(path: Path, columns: Sequence[str] = ()) -> list[ParticipantRow]:
    """The rows of a participants file (``columns``: ``--column KEY=NAME`` options); every bad line in one error."""
    name = path.name
    mapped = column_options(columns, COLUMN_KEYS)
    header, records = read_records(path, "participants")
    col = {
        key: pick_column(name, header, key, mapped, defaults, key == "participant")
        for key, defaults in _DEFAULTS.items()
    }
    id_column = col["participant"]
    rows: list[ParticipantRow] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for line, values in records:
        get = {key: (values.get(c, "") if c else "") for key, c in col.items()}
        reasons = []
        pid = get["participant"]
        if is_missing(pid):
            reasons.append(f"{id_column} is empty" if not pid else f"{id_column} '{pid}' is a missing value")
        elif pid in seen:
            family_hint = "" if col["family"] else " (siblings: one line per child, with a family column)"
            reasons.append(f"participant '{pid}' is also on line {seen[pid]}{family_hint}")
        dob = None
        if not is_missing(get["dob"]):
            try:
                dob = date.fromisoformat(get["dob"])
            except ValueError:
                reasons.append(f"{col['dob']} '{get['dob']}' is not a date (YYYY-MM-DD)")
        age = None
        for key, per_month in (("age_months", 1.0), ("age_days", _DAYS_PER_MONTH)):
            text = get[key]
            if not is_missing(text):
                try:
                    age = float(text) / per_month
                except ValueError:
                    age = math.nan
                if not (math.isfinite(age) and age >= 0):
                    reasons.append(f"{col[key]} '{text}' is not a number of {key[4:]} (0 or more)")
                    age = None
        if reasons:
            problems.append(f"{name}: line {line}: {'; '.join(reasons)}.")
            continue
        seen[pid] = line
        rows.append(ParticipantRow(pid, dob, age, known(get["sex"]), known(get["site"]), known(get["family"]), line))
    raise_problems(name, problems)
    return rows


def import_participants(catalog: Catalog, path: str | Path, columns: Sequence[str] = ()) -> ParticipantsImport:
    """Replace the rows of the participants the file names, in one transaction."""
    path = Path(path)
    rows = read_participants(path, columns)
    table = pa.table(
        {
            "participant_id": pa.array([r.participant_id for r in rows], pa.string()),
            "dob": pa.array([r.dob for r in rows], pa.date32()),
            "age_months": pa.array([r.age_months for r in rows], pa.float64()),
            "sex": pa.array([r.sex for r in rows], pa.string()),
            "site": pa.array([r.site for r in rows], pa.string()),
            "family_id": pa.array([r.family_id for r in rows], pa.string()),
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
            _, born_after = catalog.rows(named_queries(_SQL)["dob_after_recording"].sql)
            lines = {r.participant_id: r.line for r in rows}
            # raised inside the transaction: it rolls back, so nothing of the file is imported
            raise_problems(
                path.name,
                [
                    f"{path.name}: line {lines[pid]}: participant '{pid}' has the date of birth {dob}, after the date "
                    f"{when} of its recording {rel_path}: an age cannot be negative."
                    for pid, dob, rel_path, when in born_after
                ],
            )
        finally:
            con.unregister("_new_participants")
    with_age = sum(r.dob is not None or r.age_months is not None for r in rows)
    return ParticipantsImport(path.name, len(rows), with_age, unknown)
