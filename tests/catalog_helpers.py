"""Catalogs for the split and crop tests: real files, real DuckDB, filled by scan + validate."""

from __future__ import annotations

from pathlib import Path

from homecat.catalog import Catalog
from homecat.demo import make_demo_corpus
from homecat.scan import scan
from homecat.settings import Settings


def scan_and_validate(settings: Settings, root: Path | None = None) -> None:
    """Scan the tree, then validate it with `homecat validate` (in this process)."""
    from homecat.validate import validate

    with Catalog.open(settings.paths.catalog) as catalog:
        scan(catalog, settings.data, root=root)
        validate(catalog, settings.validate, settings.data, workers=1)


def demo_catalog(tmp_path: Path, settings_for, minutes: float = 0.5, **overrides) -> tuple[Settings, Path]:
    """The demo corpus, scanned and validated, in tmp_path."""
    root = tmp_path / "raw"
    make_demo_corpus(root, minutes=minutes)
    settings = settings_for(root, **overrides)
    scan_and_validate(settings)
    return settings, root


def add_error_finding(catalog: Catalog, recording_id: str, code: str = "truncated") -> None:
    """What validate writes when it finds an error in a recording."""
    catalog.con.execute(
        "INSERT INTO findings VALUES (?, ?, 'error', ?, 'validate', now())",
        [recording_id, code, f"{recording_id}: {code} (test)"],
    )
