"""The one rule for a missing value, in labels and metadata, on every import path.

A value is missing when, stripped and compared without case, it is one of ``MISSING_VALUES``: empty,
``NA``, ``N/A``, ``NaN``, ``None`` and the other spellings pandas (and so ChildProject, R's write.csv and
Excel exports) write for "no value". A missing label is not a label: the row is invalid (listed, or a
finding with --skip-invalid); a missing metadata value is unknown. README.md "Missing values" says so
to users; nothing else in homecat keeps its own list.

Labels must also be text that every export can carry: a control character (a NUL byte, an escape
sequence) or a Unicode non-character cannot be written into XML, so an EAF holding one could be read
back by neither ELAN nor homecat. ``label_problem`` gives the reason such a label is refused.
"""

from __future__ import annotations

import unicodedata

# pandas.read_csv's default na_values, compared case-insensitively (what ChildProject reads as NaN)
MISSING_VALUES = frozenset(
    {"", "na", "n/a", "nan", "-nan", "none", "null", "<na>", "#n/a", "#n/a n/a", "#na"}
    | {"-1.#ind", "-1.#qnan", "1.#ind", "1.#qnan"}
)
_ALLOWED_CONTROLS = frozenset("\t\n")  # a tab or a line break inside an annotation is text ELAN and Praat keep


def is_missing(value: object) -> bool:
    """Whether ``value`` (text as a file gives it, or None) is a missing value."""
    if value is None:
        return True
    if isinstance(value, float):
        return value != value  # NaN
    return str(value).strip().casefold() in MISSING_VALUES


def known(value: str | None) -> str | None:
    """``value`` stripped, or None when it is missing."""
    return None if is_missing(value) else str(value).strip()


def label_problem(text: str, what: str = "label") -> str | None:
    """Why ``text`` (stripped already) cannot be a label or tier name, or None when it can."""
    for char in text:
        if char in _ALLOWED_CONTROLS:
            continue
        if unicodedata.category(char) in ("Cc", "Cs") or char in "\ufffe\uffff":  # what XML 1.0 cannot hold
            return f"the {what} holds the control character U+{ord(char):04X}, which no annotation file can carry"
    return None
