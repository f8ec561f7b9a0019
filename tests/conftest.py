"""Shared fixtures: real audio files written by tiny factories, real DuckDB catalogs in tmp dirs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from homecat import audio
from homecat.settings import load_settings
from tests.permissions import bound_by_permissions

# A tiny random wav2vec2 (Wav2Vec2Config overrides): seconds to build, train a step or embed on CPU; its conv
# stack (strides 5 x 4, kernels 10 and 8) has a 45-sample receptive field and 20-sample hop.
TINY = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 37,
    "conv_dim": [32, 32],
    "conv_stride": [5, 4],
    "conv_kernel": [10, 8],
    "num_conv_pos_embeddings": 16,
    "num_conv_pos_embedding_groups": 2,
    "codevector_dim": 16,
    "proj_codevector_dim": 16,
    "num_codevectors_per_group": 8,
}


def write_tone(
    path: Path,
    duration_sec: float = 3.0,
    sample_rate: int = 16000,
    channels: int = 1,
    subtype: str = "PCM_16",
    amplitude: float = 0.1,
    freq_hz: float = 220.0,
) -> Path:
    """A sine tone (same in every channel) written block by block through homecat.audio."""
    frames = int(round(duration_sec * sample_rate))
    t = np.arange(frames, dtype=np.float64) / sample_rate
    block = (amplitude * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)
    audio.write_audio(path, iter([np.repeat(block[:, None], channels, axis=1)]), sample_rate, channels, subtype)
    return path


def one_recording_crop_index(path: str, rel_path: str, frames: int, crop_sec: float = 0.5):
    """A CropIndex of one 16 kHz mono recording without active windows, built by hand (no catalog)."""
    from homecat.crops import CropIndex

    return CropIndex(
        recording_id=np.array(["r"]),
        participant_id=np.array(["p"]),
        split=np.array(["train"]),
        rel_path=np.array([rel_path]),
        path=np.array([path]),
        sample_rate=np.array([16000], np.int32),
        channels=np.array([1], np.int16),
        frames=np.array([frames], np.int64),
        window_sec=np.array([0.5]),
        activity_threshold_dbfs=np.array([-50.0], np.float32),
        active_offsets=np.array([0, 0]),
        active_windows=np.zeros(0, np.int32),
        crop_sec=crop_sec,
    )


@pytest.fixture
def settings_for(tmp_path):
    """Settings with an explicit catalog in tmp_path and nothing from the developer's environment."""

    def make(root: Path | None = None, **overrides):
        values = {"paths.catalog": tmp_path / "catalog.duckdb", "data.raw_audio_root": root}
        values.update(overrides)
        return load_settings(overrides=values, environ={}, cwd=tmp_path).settings

    return make


@pytest.fixture
def small_tree(tmp_path) -> Path:
    """Participant folders with a few good files and one unreadable one (seconds long, made fast)."""
    root = tmp_path / "raw"
    write_tone(root / "P01" / "P01_a.wav", 3.0)
    write_tone(root / "P01" / "P01_b.flac", 2.5, subtype="PCM_16")
    write_tone(root / "P02" / "day1" / "P02_a.WAV", 2.0, sample_rate=44100, channels=2)
    write_tone(root / "P02" / "P02_float.wav", 2.0, subtype="FLOAT")
    write_tone(root / "loose.wav", 2.0)
    (root / "P02" / "notes.wav").write_text("not audio")
    (root / "P02" / "readme.txt").write_text("not an audio extension")
    return root


@pytest.fixture
def catalog_path(small_tree, settings_for) -> Path:
    """small_tree scanned into a fresh catalog (not validated): where the importers' tests start."""
    from homecat.catalog import Catalog
    from homecat.scan import scan

    settings = settings_for(small_tree)
    with Catalog.open(settings.paths.catalog) as catalog:
        scan(catalog, settings.data)
    return settings.paths.catalog


@pytest.fixture(autouse=True)
def _no_user_environment(monkeypatch):
    """Tests never see the developer's HOMECAT_* / HF_* variables."""
    for key in list(os.environ):
        if key.startswith(("HOMECAT_", "HF_TOKEN", "HF_REPO_ID", "HF_PRIVATE")):
            monkeypatch.delenv(key, raising=False)


@contextmanager
def catalog_held_by_another_process(path: Path, hold_sec: float = 60.0) -> Iterator[subprocess.Popen]:
    """A second process holding the catalog's write lock (a real DuckDB connection) for ``hold_sec``, at most
    until the block ends."""
    code = (
        f"import duckdb, time; c = duckdb.connect({str(path)!r}); print('ready', flush=True); "
        f"time.sleep({hold_sec}); c.close()"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        yield holder
    finally:
        holder.kill()
        holder.wait()


@pytest.fixture
def permissions_bind(tmp_path):
    """tmp_path, once it is known that a mode-000 file there cannot be read by the commands of tests.permissions.run_bound."""
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv (util-linux): file permissions cannot be made to bind")
    probe = tmp_path / "probe"
    probe.write_text("x")
    probe.chmod(0o000)
    try:
        done = subprocess.run(
            [*bound_by_permissions(), sys.executable, "-c", f"open({str(probe)!r})"], capture_output=True
        )
    except OSError as error:
        pytest.skip(f"this Python cannot be started as a user whom file permissions bind: {error}")
    probe.unlink()
    if b"PermissionError" not in done.stderr:
        pytest.skip(f"file permissions do not bind this user here: {done.stderr.decode(errors='replace').strip()}")
    yield tmp_path
    for path in [tmp_path, *tmp_path.rglob("*")]:  # so pytest can remove what the test locked
        if path.is_dir():
            path.chmod(0o755)
