"""Synthetic demo corpus: a small folder of fake long-form home recordings, good and broken.

Real parent-infant recordings cannot be shared, so the demo, the tutorial and the tests run on
this instead. It imitates what a home recorder produces: long stretches of near-silence over a
device-specific noise floor (hiss, 50 Hz mains hum, a fan), broken up by bouts of adult speech,
infant vocalisations and household clatter; in several formats, sample rates and channel counts;
plus the broken files every real collection has (empty, not audio, cut short by a dead battery,
too short, digital silence, clipped). ``annotations.csv`` lists every event placed in the good
recordings, so checks have a ground truth; the events of two recordings are also written as a Praat
TextGrid and an ELAN .eaf file (the formats annotators use), named after their recording's stem.
All three import as they are with ``homecat segments import``.

Files are generated block by block (memory does not depend on ``minutes``) and deterministically:
the same (minutes, seed) writes byte-identical files, because every file draws from its own
random generator seeded from (seed, rel_path).
"""

from __future__ import annotations

import csv
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from homecat.audio import seconds_to_frames, write_audio

MARKER_NAME = "DEMO_CORPUS.txt"
EVENTS_CSV_NAME = "annotations.csv"
# Recordings whose events are also written as a TextGrid / an EAF file ("<stem>.TextGrid", "<stem>.eaf").
TEXTGRID_RECORDING = "P01/P01_day1.wav"
EAF_RECORDING = "P02/P02_day1.wav"
EVENTS_TIER = "events"
_EAF_DATE = "2000-01-01T00:00:00+00:00"  # ELAN stores a creation date; a fixed one keeps the bytes per seed
_BLOCK_SEC = 5.0  # events last at most 3 s, so one spans at most two blocks
_BOUT_EVERY_SEC = 30.0  # one bout of activity per ~30 s; the rest of the time is quiet
_BUSY_SHARE = 0.3  # a bout fills ~30% of its slot, leaving the recording ~60-75% quiet
_MIC_GAINS = (1.0, 0.8)  # the second microphone of a stereo recorder sits a bit further away
_DURATION_SEC = {"adult": (0.5, 3.0), "infant": (0.3, 1.5), "noise": (0.05, 0.3)}
_F0_HZ = {"adult": (100.0, 250.0), "infant": (300.0, 600.0)}
# Vowel formants F1-F3 of an adult voice (/a/ /e/ /i/ /o/ /u/ /ae/) and their bandwidths.
_VOWELS_HZ = np.array(
    [(730, 1090, 2440), (530, 1840, 2480), (270, 2290, 3010), (570, 840, 2410), (300, 870, 2240), (660, 1720, 2410)]
)
_BANDWIDTHS_HZ = np.array([80.0, 100.0, 150.0])
_FORMANT_HOP_SEC = 0.016
_LABEL_ODDS = {"adult": 0.55, "infant": 0.35, "noise": 0.10}
_EVENT_RMS_DBFS = (-30.0, -15.0)
_CLIPPED_RMS_DBFS = -8.0  # speech this loud peaks past full scale: a few % of samples clip


@dataclass(frozen=True)
class _Recording:
    rel_path: str
    sample_rate: int
    channels: int
    subtype: str
    format: str
    hiss_rms_dbfs: float  # white-noise floor of this participant's device
    extra: str = ""  # "hum" (50 Hz mains) or "fan" (low-passed noise) on top of the hiss


_GOOD = (
    _Recording("P01/P01_day1.wav", 16000, 1, "PCM_16", "WAV", -62.0),
    _Recording("P01/P01_day2.flac", 16000, 1, "PCM_16", "FLAC", -62.0),
    _Recording("P02/P02_day1.wav", 44100, 2, "PCM_16", "WAV", -60.0, "hum"),
    _Recording("P03/session1/P03_day1.wav", 48000, 2, "PCM_24", "WAV", -74.0),
    _Recording("P04/P04_day1.wav", 16000, 1, "FLOAT", "WAV", -64.0, "fan"),
    _Recording("P04/P04_day2.wav", 16000, 1, "PCM_16", "WAV", -64.0, "fan"),
    _Recording("loose_recording.wav", 16000, 1, "PCM_16", "WAV", -68.0),
)
# Broken on purpose: rel_path -> the problem a scan or a quality check should report.
BROKEN = {
    "P05/empty.wav": "unreadable",
    "P05/notes.wav": "unreadable",
    "P02/P02_truncated.wav": "truncated",
    "P04/P04_short.wav": "too_short",
    "P03/P03_silence.wav": "silent",
    "P01/P01_clipped.wav": "clipping",
}
_TRUNCATED_KEEP_SHARE = 0.4
_SHORT_SEC, _SILENCE_SEC, _CLIPPED_SEC = 0.5, 60.0, 30.0


@dataclass(frozen=True)
class Event:
    """One sound placed in a recording; ``seed`` makes its waveform reproducible on its own."""

    label: str
    start_sec: float
    end_sec: float
    rms_dbfs: float
    f0_hz: float  # 0 for noise bursts
    seed: int


@dataclass
class DemoCorpus:
    """What ``make_demo_corpus`` wrote; rel_paths use forward slashes, relative to ``root``."""

    root: Path
    files: list[str]  # rel_paths of every audio file written (good and broken), sorted
    broken: dict[str, str]  # rel_path -> expected problem code
    events_csv: Path
    total_audio_sec: float  # of the good recordings only
    annotation_files: list[Path] = field(default_factory=list)  # the CSV, the TextGrid and the EAF file

    @property
    def good_files(self) -> list[str]:
        return [f for f in self.files if f not in self.broken]


def make_demo_corpus(root: Path, minutes: float = 3.0, seed: int = 0, broken: bool = True) -> DemoCorpus:
    """Write the demo corpus into ``root`` (a new or empty folder, or an earlier demo corpus)."""
    if not minutes > 0:
        raise ValueError(f"minutes must be positive, got {minutes}")
    root = Path(root)
    _prepare_root(root)
    # The marker goes first so that a half-written corpus can still be regenerated in place.
    (root / MARKER_NAME).write_text(_DESCRIPTION.format(minutes=minutes, seed=seed))
    duration_sec = minutes * 60.0
    rows: list[tuple[str, float, float, str]] = []
    total_audio_sec = 0.0
    for rec in _GOOD:
        rng = _rng(seed, rec.rel_path)
        events = _plan_events(rng, duration_sec, _BUSY_SHARE)
        _write(root, rec, _render(rec, duration_sec, events, rng))
        rows += [(rec.rel_path, e.start_sec, e.end_sec, e.label) for e in events]
        total_audio_sec += seconds_to_frames(duration_sec, rec.sample_rate) / rec.sample_rate
    if broken:
        _write_broken(root, seed, duration_sec)
    events_csv = root / EVENTS_CSV_NAME
    with open(events_csv, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["recording", "start_sec", "end_sec", "label", "tier"])
        writer.writerows((r, f"{s:.3f}", f"{e:.3f}", label, EVENTS_TIER) for r, s, e, label in rows)
    # The same events, to the millisecond as in the CSV.
    events_of = {
        rel_path: [(round(s, 3), round(e, 3), label) for r, s, e, label in rows if r == rel_path]
        for rel_path in (TEXTGRID_RECORDING, EAF_RECORDING)
    }
    textgrid = _write_textgrid(root, TEXTGRID_RECORDING, events_of[TEXTGRID_RECORDING], duration_sec)
    eaf = _write_eaf(root, EAF_RECORDING, events_of[EAF_RECORDING])
    written = [rec.rel_path for rec in _GOOD] + (list(BROKEN) if broken else [])
    return DemoCorpus(
        root=root,
        files=sorted(written),
        broken=dict(BROKEN) if broken else {},
        events_csv=events_csv,
        total_audio_sec=total_audio_sec,
        annotation_files=[events_csv, textgrid, eaf],
    )


def annotation_file_names() -> list[str]:
    """Names of the annotation files the generator writes into the corpus root."""
    return [EVENTS_CSV_NAME, Path(TEXTGRID_RECORDING).stem + ".TextGrid", Path(EAF_RECORDING).stem + ".eaf"]


def _write_textgrid(root: Path, rel_path: str, events: list[tuple[float, float, str]], duration_sec: float) -> Path:
    """A Praat TextGrid with one interval tier of the events (written by praatio)."""
    from praatio import textgrid
    from praatio.utilities.constants import Interval

    grid = textgrid.Textgrid()
    grid.addTier(textgrid.IntervalTier(EVENTS_TIER, [Interval(*e) for e in events], 0.0, duration_sec))
    path = root / (Path(rel_path).stem + ".TextGrid")
    grid.save(str(path), format="long_textgrid", includeBlankSpaces=True)
    return path


def _write_eaf(root: Path, rel_path: str, events: list[tuple[float, float, str]]) -> Path:
    """An ELAN .eaf file with one tier of the events (built by pympi-ling), times in milliseconds."""
    import pympi

    eaf = pympi.Elan.Eaf(author="homecat demo-corpus")
    eaf.adocument["DATE"] = _EAF_DATE
    eaf.add_tier(EVENTS_TIER)
    eaf.remove_tier("default")
    for start_sec, end_sec, label in events:
        eaf.add_annotation(EVENTS_TIER, round(start_sec * 1000), round(end_sec * 1000), label)
    path = root / (Path(rel_path).stem + ".eaf")
    # Written here, not by Eaf.to_file, which would rename an existing file to .bak.
    path.write_bytes(b'<?xml version="1.0" encoding="UTF-8"?>\n' + pympi.Elan.to_string(eaf, encoding="UTF-8"))
    return path


def _prepare_root(root: Path) -> None:
    if root.exists() and not root.is_dir():
        raise ValueError(f"{root} exists and is not a folder")
    if root.is_dir() and any(root.iterdir()):
        if not (root / MARKER_NAME).is_file():
            raise ValueError(
                f"{root} is not empty and is not a demo corpus (no {MARKER_NAME}); choose a new or empty folder"
            )
        # An earlier demo run: remove only what this generator writes, never anything else.
        for rel_path in [r.rel_path for r in _GOOD] + list(BROKEN) + annotation_file_names() + [MARKER_NAME]:
            (root / rel_path).unlink(missing_ok=True)
    root.mkdir(parents=True, exist_ok=True)


def _rng(seed: int, rel_path: str) -> np.random.Generator:
    # One generator per file, so a file's bytes depend only on (seed, rel_path, minutes).
    return np.random.default_rng([seed, zlib.crc32(rel_path.encode())])


def _write(root: Path, rec: _Recording, blocks: Iterator[np.ndarray]) -> None:
    write_audio(root / rec.rel_path, blocks, rec.sample_rate, rec.channels, rec.subtype, rec.format)


def _plan_events(
    rng: np.random.Generator,
    duration_sec: float,
    busy_share: float,
    rms_dbfs_range: tuple[float, float] = _EVENT_RMS_DBFS,
) -> list[Event]:
    """One bout of back-to-back events per ~30 s slot, at a random place in the slot."""
    events: list[Event] = []
    slots = max(1, round(duration_sec / _BOUT_EVERY_SEC))
    slot_sec = duration_sec / slots
    labels, odds = list(_LABEL_ODDS), list(_LABEL_ODDS.values())
    for slot in range(slots):
        bout_sec = min(slot_sec, slot_sec * busy_share * rng.uniform(0.8, 1.2))
        start_sec = slot * slot_sec + rng.uniform(0.0, slot_sec - bout_sec)
        bout_end_sec = min(start_sec + bout_sec, duration_sec)
        while True:
            label = str(rng.choice(labels, p=odds))
            shortest_sec, longest_sec = _DURATION_SEC[label]
            event_sec = min(rng.uniform(shortest_sec, longest_sec), bout_end_sec - start_sec)
            if event_sec < shortest_sec:
                break
            f0_hz = rng.uniform(*_F0_HZ[label]) if label in _F0_HZ else 0.0
            rms_dbfs = rng.uniform(*rms_dbfs_range)
            event_seed = int(rng.integers(2**31))
            events.append(Event(label, start_sec, start_sec + event_sec, rms_dbfs, f0_hz, event_seed))
            start_sec += event_sec + rng.uniform(0.15, 0.6)  # turn-taking pause
    return events


def _synth_event(event: Event, num_frames: int, sample_rate: int) -> np.ndarray:
    """The event's mono waveform, scaled to its ``rms_dbfs``."""
    rng = np.random.default_rng(event.seed)
    t_sec = np.arange(num_frames) / sample_rate
    if event.label == "noise":
        # Door or dishes: broadband, instant attack, fast exponential decay.
        wave = rng.standard_normal(num_frames) * np.exp(-t_sec / rng.uniform(0.02, 0.08))
        fade_sec = 0.002
    else:
        wave = _voice(rng, t_sec, event.f0_hz, event.label == "infant", sample_rate)
        fade_sec = 0.02
    fade = np.minimum(1.0, np.minimum(t_sec, t_sec[::-1]) / fade_sec)  # no clicks at the edges
    wave *= fade
    rms = np.sqrt(np.mean(wave**2)) if num_frames else 0.0
    return wave * (10 ** (event.rms_dbfs / 20) / max(rms, 1e-12))


def _voice(rng: np.random.Generator, t_sec: np.ndarray, f0_hz: float, infant: bool, sample_rate: int) -> np.ndarray:
    """A glottal pulse train through moving vowel formants, in syllables with consonant onsets.

    Real voice activity detectors (Silero) call this speech, unlike a fixed harmonic spectrum: what
    they listen for is formants that move from vowel to vowel at a syllable rate, a spectral tilt,
    pitch that wanders, and short noisy consonants. Infant voices get a high f0, raised formants,
    wide glides and fewer consonants (a VAD misses part of them, as it misses part of real babble).
    """
    n = len(t_sec)
    depth = 0.35 if infant else 0.08  # adults speak with gentle intonation; infants glide widely
    glide = np.sin(2 * np.pi * rng.uniform(0.3, 1.0) * t_sec + rng.uniform(0, 2 * np.pi))
    wander = np.tanh(np.cumsum(rng.standard_normal(n)) * 0.3 / np.sqrt(sample_rate))
    cycles = np.cumsum(f0_hz * (1 + depth * glide) * np.exp(0.05 * wander)) / sample_rate
    source = np.diff(np.floor(cycles), prepend=0.0) + 0.02 * rng.standard_normal(n)  # a pulse per cycle + breath
    rate_per_sec = rng.uniform(3.0, 5.5)  # syllables per second
    edges = [0.0]
    while n and edges[-1] < t_sec[-1]:
        edges.append(edges[-1] + rng.uniform(0.6, 1.4) / rate_per_sec)
    scale = rng.uniform(1.3, 1.6) if infant else rng.uniform(0.9, 1.15)  # shorter vocal tract: higher formants
    vowels_hz = _VOWELS_HZ[rng.integers(len(_VOWELS_HZ), size=len(edges))] * scale
    consonant = rng.random(len(edges)) < (0.4 if infant else 0.7)
    bandwidths_hz = _BANDWIDTHS_HZ * (1.5 if infant else 1.0)
    # Overlap-add filtering, one spectral envelope per hop (formants move at that resolution).
    hop = max(1, int(_FORMANT_HOP_SEC * sample_rate))
    size = 2 * hop
    window = np.hanning(size + 1)[:-1]
    freqs_hz = np.fft.rfftfreq(size, 1 / sample_rate)
    tilt = 1.0 / np.sqrt(1 + (freqs_hz / 100.0) ** 2)  # glottal roll-off
    hiss = rng.standard_normal(n + 4 * size)
    padded = np.concatenate([np.zeros(hop), source, np.zeros(3 * size)])
    out = np.zeros(n + 3 * size)
    for start in range(0, n + hop, hop):
        s = min(int(np.searchsorted(edges, start / sample_rate, side="right")) - 1, len(edges) - 2)
        position = (start / sample_rate - edges[s]) / (edges[s + 1] - edges[s])  # 0..1 through the syllable
        previous = vowels_hz[max(s - 1, 0)]
        move = 0.5 - 0.5 * np.cos(np.pi * min(1.0, position / 0.3))  # formants glide in over 30%
        envelope = tilt.copy()
        for f_hz, b_hz in zip(previous + (vowels_hz[s] - previous) * move, bandwidths_hz):
            envelope *= f_hz**2 / np.sqrt((f_hz**2 - freqs_hz**2) ** 2 + (b_hz * freqs_hz) ** 2)
        if consonant[s] and position < 0.18:  # a fricative or burst opens the syllable
            fricative = np.exp(-0.5 * ((freqs_hz - 4500.0) / 1500.0) ** 2)
            spectrum = np.fft.rfft(hiss[start : start + size] * window) * fricative * 0.15
        else:
            gain = np.sin(np.pi * np.clip(position, 0.0, 1.0)) ** 0.6  # syllable-rate loudness
            spectrum = np.fft.rfft(padded[start : start + size] * window) * envelope * gain
        out[start : start + size] += np.fft.irfft(spectrum, size) * window
    return out[hop : hop + n]


def _render(
    rec: _Recording, duration_sec: float, events: list[Event], rng: np.random.Generator
) -> Iterator[np.ndarray]:
    """Yield float32 (frames, channels) blocks: device noise floor plus the events, clipped to ±1."""
    sr, channels = rec.sample_rate, rec.channels
    total_frames = seconds_to_frames(duration_sec, sr)
    block_frames = seconds_to_frames(_BLOCK_SEC, sr)
    hiss = 10 ** (rec.hiss_rms_dbfs / 20)
    spans = [(seconds_to_frames(e.start_sec, sr), seconds_to_frames(e.end_sec, sr), e) for e in events]
    mic_gains = np.array(_MIC_GAINS[:channels])
    fan_taps = sr // 400  # a moving average this long passes little above ~400 Hz
    fan_tail = np.zeros((fan_taps - 1, channels))  # carried over so blocks join seamlessly
    waves: dict[int, np.ndarray] = {}  # events already synthesised, while they last
    for start_frame in range(0, total_frames, block_frames):
        end_frame = min(start_frame + block_frames, total_frames)
        block = rng.standard_normal((end_frame - start_frame, channels)) * hiss
        if rec.extra == "hum":
            # Absolute time keeps the hum phase-continuous across blocks.
            t_sec = np.arange(start_frame, end_frame) / sr
            hum = np.sin(2 * np.pi * 50 * t_sec) + 0.3 * np.sin(2 * np.pi * 150 * t_sec)
            block += 1.6 * hiss * hum[:, None]
        elif rec.extra == "fan":
            white = np.concatenate([fan_tail, rng.standard_normal((end_frame - start_frame, channels))])
            fan_tail = white[len(white) - (fan_taps - 1) :]
            summed = np.concatenate([np.zeros((1, channels)), np.cumsum(white, axis=0)])
            # x sqrt(taps) restores unit RMS; the fan sits 10 dB above the hiss.
            block += (summed[fan_taps:] - summed[:-fan_taps]) / np.sqrt(fan_taps) * hiss * 10**0.5
        for index, (e0, e1, event) in enumerate(spans):
            lo, hi = max(e0, start_frame), min(e1, end_frame)
            if lo >= hi:
                continue
            if index not in waves:
                waves[index] = _synth_event(event, e1 - e0, sr)
            block[lo - start_frame : hi - start_frame] += waves[index][lo - e0 : hi - e0, None] * mic_gains
        waves = {i: w for i, w in waves.items() if spans[i][1] > end_frame}
        # A real converter stops at full scale; a FLOAT file would otherwise keep values past it.
        yield np.clip(block, -1.0, 1.0).astype(np.float32)


def _write_broken(root: Path, seed: int, duration_sec: float) -> None:
    (root / "P05").mkdir(parents=True, exist_ok=True)
    (root / "P05/empty.wav").write_bytes(b"")
    (root / "P05/notes.wav").write_text("Visit notes: recorder handed over at 9:05, collected 17:40.\n")
    # The recorder's battery ran out: a full-length file whose tail never reached the card.
    rec = _Recording("P02/P02_truncated.wav", 16000, 1, "PCM_16", "WAV", -60.0, "hum")
    rng = _rng(seed, rec.rel_path)
    _write(root, rec, _render(rec, duration_sec, _plan_events(rng, duration_sec, _BUSY_SHARE), rng))
    path = root / rec.rel_path
    os.truncate(path, int(path.stat().st_size * _TRUNCATED_KEEP_SHARE))
    rec = _Recording("P04/P04_short.wav", 16000, 1, "PCM_16", "WAV", -64.0, "fan")
    _write(root, rec, _render(rec, _SHORT_SEC, [], _rng(seed, rec.rel_path)))
    silence_frames = seconds_to_frames(_SILENCE_SEC, 16000)
    write_audio(root / "P03/P03_silence.wav", iter([np.zeros((silence_frames, 1), np.float32)]), 16000, 1)
    rec = _Recording("P01/P01_clipped.wav", 16000, 1, "PCM_16", "WAV", -62.0)
    rng = _rng(seed, rec.rel_path)
    loud = (_CLIPPED_RMS_DBFS, _CLIPPED_RMS_DBFS)
    events = _plan_events(rng, _CLIPPED_SEC, busy_share=0.9, rms_dbfs_range=loud)  # nearly non-stop
    _write(root, rec, _render(rec, _CLIPPED_SEC, events, rng))


_DESCRIPTION = """\
This folder is a synthetic demo corpus written by `homecat demo-corpus` (minutes={minutes}, \
seed={seed}). Each participant folder (P01-P05) holds fake long-form home recordings: a device \
noise floor (hiss, 50 Hz hum or a fan), long quiet stretches and bouts of adult speech-like \
sound, infant vocalisation-like sound and short noise bursts, as listed in annotations.csv \
(and, for P01_day1 and P02_day1, in P01_day1.TextGrid and P02_day1.eaf). \
Some files are broken on purpose (empty, not audio, truncated, too short, silent, clipped) to \
show what a scan reports. No real person was recorded. The generator may delete and rewrite \
the files it wrote here; anything else in this folder is left alone.
"""
