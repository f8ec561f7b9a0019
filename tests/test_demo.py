"""The synthetic demo corpus: layout, determinism, realistic levels and the broken files."""

from __future__ import annotations

import csv
import struct
from pathlib import Path

import numpy as np
import pytest

from homecat.audio import AudioReadError, file_sha1, iter_blocks, read_header
from homecat.demo import DemoCorpus, make_demo_corpus

MINUTES = 0.5  # 30 s recordings: one bout of activity, fast to write
DURATION_SEC = MINUTES * 60

# rel_path -> (format, subtype, sample_rate, channels)
GOOD = {
    "P01/P01_day1.wav": ("WAV", "PCM_16", 16000, 1),
    "P01/P01_day2.flac": ("FLAC", "PCM_16", 16000, 1),
    "P02/P02_day1.wav": ("WAV", "PCM_16", 44100, 2),
    "P03/session1/P03_day1.wav": ("WAV", "PCM_24", 48000, 2),
    "P04/P04_day1.wav": ("WAV", "FLOAT", 16000, 1),
    "P04/P04_day2.wav": ("WAV", "PCM_16", 16000, 1),
    "loose_recording.wav": ("WAV", "PCM_16", 16000, 1),
}
# the events as CSV (all good recordings), Praat TextGrid (P01_day1) and ELAN .eaf (P02_day1)
ANNOTATION_FILES = ["annotations.csv", "P01_day1.TextGrid", "P02_day1.eaf"]
BROKEN = {
    "P05/empty.wav": "unreadable",
    "P05/notes.wav": "unreadable",
    "P02/P02_truncated.wav": "truncated",
    "P04/P04_short.wav": "too_short",
    "P03/P03_silence.wav": "silent",
    "P01/P01_clipped.wav": "clipping",
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> DemoCorpus:
    return make_demo_corpus(tmp_path_factory.mktemp("a") / "demo", minutes=MINUTES, seed=0)


def _samples(path: Path) -> np.ndarray:
    return np.concatenate(list(iter_blocks(path, 1 << 16)))


def _window_dbfs(path: Path, window_sec: float = 1.0) -> np.ndarray:
    """RMS level of consecutive windows, all channels together."""
    samples = _samples(path)
    frames = int(read_header(path).sample_rate * window_sec)
    count = len(samples) // frames
    windows = samples[: count * frames].reshape(count, frames, -1).astype(np.float64)
    return 10 * np.log10(np.mean(windows**2, axis=(1, 2)) + 1e-20)


def _sha1s(corpus: DemoCorpus) -> dict[str, str]:
    names = corpus.files + ANNOTATION_FILES + ["DEMO_CORPUS.txt"]
    return {name: file_sha1(corpus.root / name) for name in names}


def _events(corpus: DemoCorpus) -> list[dict[str, str]]:
    with open(corpus.events_csv, newline="") as f:
        return list(csv.DictReader(f))


def test_layout_and_summary(corpus):
    assert corpus.files == sorted(GOOD | BROKEN)
    assert corpus.broken == BROKEN
    assert corpus.good_files == sorted(GOOD)
    assert corpus.total_audio_sec == pytest.approx(len(GOOD) * DURATION_SEC)
    assert corpus.events_csv == corpus.root / "annotations.csv"
    assert "synthetic demo corpus" in (corpus.root / "DEMO_CORPUS.txt").read_text()
    written = {p.relative_to(corpus.root).as_posix() for p in corpus.root.rglob("*") if p.is_file()}
    assert written == set(corpus.files) | set(ANNOTATION_FILES) | {"DEMO_CORPUS.txt"}
    assert [p.name for p in corpus.annotation_files] == ANNOTATION_FILES


@pytest.mark.parametrize("rel_path", sorted(GOOD))
def test_good_file_headers(corpus, rel_path):
    header = read_header(corpus.root / rel_path)
    assert (header.format, header.subtype, header.sample_rate, header.channels) == GOOD[rel_path]
    assert header.frames == DURATION_SEC * header.sample_rate
    assert sum(len(block) for block in iter_blocks(corpus.root / rel_path, 1 << 16)) == header.frames


def test_same_seed_same_bytes_other_seed_differs(corpus, tmp_path):
    again = make_demo_corpus(tmp_path / "again", minutes=MINUTES, seed=0)
    assert _sha1s(again) == _sha1s(corpus)
    other = _sha1s(make_demo_corpus(tmp_path / "other", minutes=MINUTES, seed=1))
    mine = _sha1s(corpus)
    assert all(other[name] != mine[name] for name in [*GOOD, *ANNOTATION_FILES])


@pytest.mark.parametrize("rel_path", ["P05/empty.wav", "P05/notes.wav"])
def test_unreadable_files(corpus, rel_path):
    with pytest.raises(AudioReadError):
        read_header(corpus.root / rel_path)


def test_truncated_file(corpus):
    path = corpus.root / "P02/P02_truncated.wav"
    written_frames = int(DURATION_SEC * 16000)
    # The RIFF data chunk still claims the full recording (2 bytes per PCM_16 frame) ...
    raw = path.read_bytes()
    data_at = raw.index(b"data", 12)
    (claimed_bytes,) = struct.unpack("<I", raw[data_at + 4 : data_at + 8])
    assert claimed_bytes // 2 == written_frames
    # ... but libsndfile (1.2) caps the frame count at the bytes actually present, so the
    # header it reports is already short (~40%) and streaming yields exactly that many frames.
    header = read_header(path)
    assert header.sample_rate == 16000 and header.subtype == "PCM_16"
    assert 0.3 * written_frames < header.frames < 0.5 * written_frames
    assert sum(len(block) for block in iter_blocks(path, 1 << 16)) == header.frames


def test_short_silent_and_clipped_files(corpus):
    short = read_header(corpus.root / "P04/P04_short.wav")
    assert short.duration_sec == pytest.approx(0.5)

    silence = corpus.root / "P03/P03_silence.wav"
    assert read_header(silence).duration_sec == pytest.approx(60.0)
    assert not np.any(_samples(silence))

    clipped = _samples(corpus.root / "P01/P01_clipped.wav")
    assert read_header(corpus.root / "P01/P01_clipped.wav").subtype == "PCM_16"
    assert 0.01 < np.mean(np.abs(clipped) >= 0.999) < 0.15


@pytest.mark.parametrize("rel_path", sorted(GOOD))
def test_mostly_quiet_with_loud_events(corpus, rel_path):
    levels = _window_dbfs(corpus.root / rel_path)
    assert np.mean(levels < levels.max() - 20) >= 0.5
    # The device noise floor is audible but low, and events are far above it.
    assert -80 < np.median(levels) < -45
    assert levels.max() > max(np.median(levels) + 20, -40)


def test_annotations_match_the_audio(corpus):
    events = _events(corpus)
    assert {e["recording"] for e in events} == set(GOOD)  # every good recording has events
    assert {e["label"] for e in events} <= {"adult", "infant", "noise"}
    assert {"adult", "infant"} <= {e["label"] for e in events}
    for rel_path in GOOD:
        sample_rate = read_header(corpus.root / rel_path).sample_rate
        samples = _samples(corpus.root / rel_path).astype(np.float64)
        median_dbfs = np.median(_window_dbfs(corpus.root / rel_path))
        for e in (e for e in events if e["recording"] == rel_path):
            start_sec, end_sec = float(e["start_sec"]), float(e["end_sec"])
            assert 0 <= start_sec < end_sec <= DURATION_SEC
            if e["label"] == "noise":
                assert 0.05 <= end_sec - start_sec <= 0.3 + 1e-3
                continue
            span = samples[int(start_sec * sample_rate) : int(end_sec * sample_rate)]
            assert 10 * np.log10(np.mean(span**2)) > median_dbfs + 15, (rel_path, e)


def test_refuses_a_folder_that_is_not_a_demo_corpus(tmp_path):
    (tmp_path / "recordings").mkdir()
    precious = tmp_path / "recordings" / "P01_day1.wav"
    precious.write_bytes(b"real data")
    with pytest.raises(ValueError, match="not empty"):
        make_demo_corpus(tmp_path / "recordings", minutes=0.05)
    assert precious.read_bytes() == b"real data"
    assert sorted(p.name for p in (tmp_path / "recordings").iterdir()) == ["P01_day1.wav"]
    with pytest.raises(ValueError):
        make_demo_corpus(precious, minutes=0.05)


def test_rewrites_an_earlier_demo_corpus_in_place(tmp_path):
    root = tmp_path / "demo"
    first = make_demo_corpus(root, minutes=0.05, seed=3)
    before = _sha1s(first)
    mine = root / "P01" / "my_notes.txt"
    mine.write_text("keep me")
    again = make_demo_corpus(root, minutes=0.05, seed=3, broken=False)
    assert again.broken == {} and again.files == sorted(GOOD)
    assert not (root / "P05" / "empty.wav").exists()  # the earlier run's broken files are gone
    assert mine.read_text() == "keep me"  # files the generator did not write are left alone
    assert all(_sha1s(again)[name] == before[name] for name in GOOD)
