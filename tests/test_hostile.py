"""Hostile and unlucky inputs (issue 15): one bad file is a finding on that file and the run goes on;
names, permissions, dataset boundaries, settings bounds, BOMs, broken FLAC and stale headers."""

from __future__ import annotations

import hashlib
import json
import os
import struct
from pathlib import Path

import pytest
from typer.testing import CliRunner

from homecat.catalog import Catalog
from homecat.cli import app
from tests.conftest import write_tone

runner = CliRunner()


def _digests(root: Path) -> dict[str, str]:
    """SHA-1 of every regular file under root (raw audio must never change)."""
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink() and not path.is_fifo():
            out[os.fsdecode(path.relative_to(root))] = hashlib.sha1(path.read_bytes()).hexdigest()
    return out


def _cli(catalog: Path, *args: str):
    return runner.invoke(app, ["--catalog", str(catalog), *args], env={})


def _findings(catalog: Path) -> dict[str, set[tuple[str, str]]]:
    """rel_path -> {(code, message)}."""
    with Catalog.open(catalog, read_only=True) as c:
        rows = c.con.execute(
            "SELECT r.rel_path, f.code, f.message FROM findings f JOIN recordings r USING (recording_id)"
        ).fetchall()
    out: dict[str, set[tuple[str, str]]] = {}
    for rel_path, code, message in rows:
        out.setdefault(rel_path, set()).add((code, message))
    return out


def _validated(catalog: Path) -> set[str]:
    with Catalog.open(catalog, read_only=True) as c:
        return {r[0] for r in c.con.execute("SELECT rel_path FROM recordings JOIN audio_stats USING (recording_id)").fetchall()}


def _good_pair(root: Path) -> None:
    write_tone(root / "P1" / "good.wav", 1.0)
    write_tone(root / "P2" / "good2.flac", 1.0)


# --------------------------------------------------------------------------- A: one bad file, one finding


def test_an_absurd_sample_rate_is_a_finding_and_the_others_are_validated(tmp_path):
    root = tmp_path / "raw"
    _good_pair(root)
    bad = write_tone(root / "P1" / "absurd.wav", 1.0)
    raw = bytearray(bad.read_bytes())
    raw[24:28] = struct.pack("<I", 1_241_558_084)  # the fmt chunk's sample rate: 10 s blocks would need 46 GiB
    raw[28:32] = struct.pack("<I", 1_241_558_084 * 2)
    bad.write_bytes(raw)
    before = _digests(root)
    catalog = tmp_path / "c.duckdb"

    assert _cli(catalog, "scan", "--root", str(root)).exit_code == 0
    result = _cli(catalog, "validate", "--workers", "1")
    assert result.exit_code == 0, result.output
    assert _validated(catalog) == {"P1/good.wav", "P2/good2.flac"}
    assert _findings(catalog)["P1/absurd.wav"] == {
        (
            "unreadable",
            "P1/absurd.wav cannot be read: its header claims a sample rate of 1241558084 Hz, "
            "outside 1000-768000 Hz.",
        )
    }
    assert _digests(root) == before


def test_a_fifo_named_wav_is_a_finding_not_a_hang(tmp_path):
    root = tmp_path / "raw"
    _good_pair(root)
    os.mkfifo(root / "P1" / "pipe.wav")  # opening it for reading would block until a writer comes
    before = _digests(root)
    catalog = tmp_path / "c.duckdb"

    assert _cli(catalog, "scan", "--root", str(root), "--hash").exit_code == 0
    result = _cli(catalog, "validate", "--workers", "1")
    assert result.exit_code == 0, result.output
    assert _validated(catalog) == {"P1/good.wav", "P2/good2.flac"}
    assert _findings(catalog)["P1/pipe.wav"] == {
        ("unreadable", "P1/pipe.wav cannot be read: it is a FIFO (named pipe), not a regular file.")
    }
    assert _digests(root) == before


def test_whatever_a_reader_raises_on_one_recording_is_a_finding_and_validate_goes_on(tmp_path, monkeypatch):
    from homecat import levels

    root = tmp_path / "raw"
    _good_pair(root)
    write_tone(root / "P1" / "odd.wav", 1.0, sample_rate=22050)
    real_add = levels.Levels.add

    def add(self, block):  # a reader bug that only this recording's rate triggers
        if self.sample_rate == 22050:
            raise MemoryError("Unable to allocate 46.3 GiB")
        return real_add(self, block)

    monkeypatch.setattr(levels.Levels, "add", add)
    catalog = tmp_path / "c.duckdb"
    assert _cli(catalog, "scan", "--root", str(root)).exit_code == 0
    result = _cli(catalog, "validate", "--workers", "1")
    assert result.exit_code == 0, result.output
    assert _validated(catalog) == {"P1/good.wav", "P2/good2.flac"}
    assert _findings(catalog)["P1/odd.wav"] == {
        (
            "failed",
            "P1/odd.wav: validate failed on this recording (MemoryError: Unable to allocate 46.3 GiB); "
            "the run went on without it.",
        )
    }
