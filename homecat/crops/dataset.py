"""The crop dataset: crop k of an epoch on a rank, read from the raw file, resumable mid-epoch.

How a crop is drawn (recording, start, silence retries, ``on_silent``): ``homecat.crops``.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from homecat import audio
from homecat.crops.index import CropIndex
from homecat.crops.policy import POLICY_PARTS, choose_start, rms_dbfs, speech_start_ranges
from homecat.errors import HomecatError, first_line
from homecat.settings import CropSettings, DataSettings

log = logging.getLogger("homecat.crops")  # one logger name for the crop package (what log lines show)


class NoCrops(HomecatError):
    """There is nothing to draw crops from."""


@dataclass
class Crop:
    """One crop: where it came from, how loud it is, how many reads it took, and its samples."""

    recording_index: int
    start_frame: int  # in the file's own frames
    start_sec: float
    rms_dbfs: float
    attempts: int  # reads of this crop's recording(s), the returned one included
    outcome: str  # ok, silent_accepted, silent_marked, skip_exhausted
    silent: bool  # True for outcomes the trainer should not learn from (mark, skip_exhausted)
    samples: np.ndarray | None = None  # float32 at the target rate
    policy: str = "energy"  # the part that drew the start: speech, energy, uniform, energy_fallback (no speech)
    speech_share: float = 0.0  # share of the crop covered by the index's speech turns


@dataclass(frozen=True)
class CropSpec:
    """A crop fixed in advance (the dev set): which recording and where it starts."""

    recording_index: int
    recording_id: str
    rel_path: str
    start_frame: int
    start_sec: float


class CropDataset(Dataset):
    """Map-style dataset: item k is crop k of the current epoch on this rank (see the module docstring)."""

    def __init__(self, index: CropIndex, crops: CropSettings, data: DataSettings, rank: int = 0, epoch: int = 0):
        if len(index) == 0:
            raise NoCrops("No recording can give a crop: run 'homecat validate' and 'homecat split' first.")
        if crops.crop_sec > index.crop_sec:
            raise HomecatError(
                f"The crop index was built for {index.crop_sec} s crops, shorter than crops.crop_sec "
                f"({crops.crop_sec} s): build it again."
            )
        self.index = index
        self.crops = crops
        self.sample_rate = data.sample_rate
        self.channel_policy = data.channel_policy
        self.rank = rank
        self.epoch = epoch
        self.position = 0
        self.crop_frames = audio.seconds_to_frames(crops.crop_sec, data.sample_rate)
        self._unreadable: set[int] = set()  # per process: logged once, then never drawn again
        self._warned_exhausted = False
        weights = crops.policy_weights if crops.crop_policy == "mixture" else {crops.crop_policy: 1.0}
        self.parts = [part for part in POLICY_PARTS if weights.get(part, 0.0) > 0]
        cumulative = np.cumsum([weights[part] for part in self.parts])
        self.part_cumulative = cumulative / cumulative[-1]
        self._speech_ranges: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray] | None] = {}  # lazily, per process
        # processed and found without speech: never drawn for the speech part (its share goes to the others)
        self._speechless = {int(i) for i in index.speechless_processed()} if "speech" in self.parts else set()
        if "speech" in self.parts:
            wanted = (crops.speech_source, tuple(crops.speech_labels))
            if (index.speech_source, index.speech_labels) != wanted:
                raise HomecatError(
                    f"The crop index holds speech of source {index.speech_source!r} with labels "
                    f"{list(index.speech_labels)}, not crops.speech_source {wanted[0]!r} with labels "
                    f"{list(wanted[1])}: build it again."
                )

    def check_speech_rows(self) -> None:
        """Before drawing training crops: recordings without speech rows fall back to energy with a warning;
        when none has any, the speech part would silently be energy (a wrong source or label list, or no
        `homecat vad` yet), so that is an error."""
        if "speech" not in self.parts or not self.index.without_speech:
            return
        c = self.crops
        which = f"source '{c.speech_source}'" + (
            f" with labels {', '.join(c.speech_labels)}" if c.speech_labels else ""
        )
        if self.index.without_speech == len(self.index):
            raise HomecatError(
                f"crops.crop_policy '{c.crop_policy}' draws crops from speech, but none of the {len(self.index)} "
                f"recordings has speech rows of {which}: run 'homecat vad' (or 'homecat vad import'), check "
                "crops.speech_source and crops.speech_labels ('homecat report activity'), or use crop_policy energy."
            )
        speechless = len(self._speechless)
        never = self.index.without_speech - speechless
        if never:
            log.warning(
                "%d of %d recordings have no speech rows of %s and were never processed by it: their speech crops "
                "are drawn by energy instead (run 'homecat vad' or 'homecat vad import').",
                never,
                len(self.index),
                which,
            )
        if speechless:
            log.info("%d recordings hold no speech of %s: they give no speech crops.", speechless, which)

    def __len__(self) -> int:
        return self.crops.crops_per_epoch

    def __getitem__(self, k: int) -> dict[str, Any]:
        crop = self.draw(k)
        return {
            "input_values": torch.from_numpy(crop.samples),
            "silent": crop.silent,
            "recording_index": crop.recording_index,
            "start_sec": crop.start_sec,
            "rms_dbfs": crop.rms_dbfs,
            "attempts": crop.attempts,
        }

    # ------------------------------------------------------------------ resumable position

    def set_epoch(self, epoch: int) -> None:
        """Start ``epoch`` from its first crop.

        Call it before creating the epoch's DataLoader iterator: workers get a copy of the dataset when
        the iterator starts (so do not use ``persistent_workers=True``, which would keep the old epoch).
        """
        if epoch != self.epoch:
            self.epoch, self.position = epoch, 0

    def advance(self, n_crops: int) -> None:
        """Record that the trainer consumed ``n_crops`` more crops of this epoch."""
        self.position += n_crops

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "position": self.position, "crop_seed": self.crops.crop_seed, "rank": self.rank}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self.position = int(state["epoch"]), int(state["position"])

    def sampler(self) -> Sampler[int]:
        """Positions from the current one to the end of the epoch (pass as the DataLoader's sampler)."""
        return _FromPosition(self)

    # ------------------------------------------------------------------ drawing

    def generator(self, k: int) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence([self.crops.crop_seed, self.epoch, self.rank, k]))

    def draw(self, k: int) -> Crop:
        """Crop k of the current epoch on this rank, with its samples."""
        rng = self.generator(k)
        # a mixture's part is the crop's first draw; a single policy draws nothing for it (so `energy`
        # gives the very crops it gave before policies existed)
        part = (
            self.parts[int(np.searchsorted(self.part_cumulative, rng.random(), side="right"))]
            if len(self.parts) > 1
            else self.parts[0]
        )
        tries = self.crops.max_silence_retries + 1
        rounds = min(tries, len(self.index)) if self.crops.on_silent == "skip" else 1
        tried: set[int] = set()
        attempts = 0
        crop: Crop | None = None
        while rounds > 0:
            i = self._choose_recording(rng, tried, part)
            if i is None:  # every recording tried or unreadable
                break
            tried.add(i)
            for _ in range(tries):
                start_frame, policy = self._choose_start(rng, i, part)
                samples = self.read(i, start_frame)
                if samples is None:  # unreadable now: logged once, never drawn again; not a round
                    break
                attempts += 1
                level = rms_dbfs(samples)
                threshold = float(self.index.activity_threshold_dbfs[i])
                sr = int(self.index.sample_rate[i])
                share = self.index.speech_share(i, start_frame / sr, self.crops.crop_sec)
                crop = Crop(i, start_frame, start_frame / sr, level, attempts, "ok", False, samples, policy, share)
                if math.isnan(threshold) or level >= threshold:
                    return crop
            if i not in self._unreadable:
                rounds -= 1
        if crop is None:
            raise NoCrops(f"None of the {len(self.index)} recordings in the crop index can be read.")
        if self.crops.on_silent == "accept":
            crop.outcome = "silent_accepted"
        elif self.crops.on_silent == "mark":
            crop.outcome, crop.silent = "silent_marked", True
        else:
            crop.outcome, crop.silent = "skip_exhausted", True
            if not self._warned_exhausted:
                self._warned_exhausted = True
                log.warning(
                    "Crop %d of epoch %d: %d recordings tried, every crop was silent; returned marked silent "
                    "(the corpus looks mostly silent).",
                    k,
                    self.epoch,
                    len(tried),
                )
        return crop

    def _choose_recording(self, rng: np.random.Generator, tried: set[int], part: str) -> int | None:
        """A recording in proportion to its duration, among those readable and not yet tried (for the speech part:
        and not found without speech)."""
        index = self.index
        excluded = tried | self._unreadable | (self._speechless if part == "speech" else set())
        if not excluded:
            return int(np.searchsorted(index.cum_duration_sec, rng.random() * index.total_sec, side="right"))
        weights = index.duration_sec.copy()
        weights[list(excluded)] = 0.0
        cumulative = np.cumsum(weights)
        if cumulative[-1] <= 0:
            return None
        return int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"))

    def _choose_start(self, rng: np.random.Generator, i: int, part: str) -> tuple[int, str]:
        """A start frame in recording i drawn by policy ``part``, and the policy that really drew it."""
        sr = int(self.index.sample_rate[i])
        read_frames = self._source_frames(sr)
        if part == "speech":
            ranges = self._speech_start_ranges(i, read_frames)
            if ranges is None:
                return choose_start(self.index, i, read_frames, True, rng), "energy_fallback"
            lo, hi, cumulative = ranges
            u = rng.random() * cumulative[-1]
            j = min(int(np.searchsorted(cumulative, u, side="right")), len(lo) - 1)
            start_sec = lo[j] + (u - (cumulative[j - 1] if j else 0.0)) if cumulative[-1] > 0 else lo[j]
            start_sec = min(max(start_sec, lo[j]), hi[j])
            max_start = max(0, int(self.index.frames[i]) - read_frames)
            return min(audio.seconds_to_frames(start_sec, sr), max_start), "speech"
        return choose_start(self.index, i, read_frames, part == "energy", rng), part

    def _speech_start_ranges(self, i: int, read_frames: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        if i not in self._speech_ranges:
            sr = int(self.index.sample_rate[i])
            max_start_sec = max(0, int(self.index.frames[i]) - read_frames) / sr
            starts, ends = self.index.speech(i)
            found = speech_start_ranges(starts, ends, self.crops.crop_sec, max_start_sec, self.crops.min_speech_share)
            if found is None:
                self._speech_ranges[i] = None
            else:
                lo, hi = found
                lengths = hi - lo
                # only single points qualify: each point alike
                weights = lengths if lengths.sum() > 0 else np.ones_like(lengths)
                self._speech_ranges[i] = (lo, hi, np.cumsum(weights))
        return self._speech_ranges[i]

    def _source_frames(self, sr: int) -> int:
        """Frames to read at rate ``sr`` so that resampling gives at least ``crop_frames`` samples."""
        return -(-self.crop_frames * sr // self.sample_rate)

    def read(self, i: int, start_frame: int) -> np.ndarray | None:
        """Exactly ``crop_frames`` float32 samples at the target rate, or None (logged once) if unreadable."""
        sr = int(self.index.sample_rate[i])
        wanted = self._source_frames(sr)
        try:
            block = audio.read_window(str(self.index.path[i]), start_frame, wanted)
            if len(block) < min(wanted, int(self.index.frames[i]) - start_frame):
                return self._give_up(i, f"only {len(block)} of {wanted} frames could be read at frame {start_frame}")
            samples = audio.resample(audio.to_mono(block, self.channel_policy), sr, self.sample_rate)
        except Exception as exc:  # whatever one recording's reader raises skips that recording, never the run
            if os.environ.get("HOMECAT_DEBUG"):
                log.exception("Reading a crop of %s failed", self.index.rel_path[i])
            why = str(exc) if isinstance(exc, audio.AudioReadError) else f"{type(exc).__name__}: {first_line(exc)}"
            return self._give_up(i, why)
        samples = np.ascontiguousarray(samples[: self.crop_frames], dtype=np.float32)
        if len(samples) < self.crop_frames:  # a recording barely longer than a crop: its last frames
            samples = np.pad(samples, (0, self.crop_frames - len(samples)))
        return samples

    def _give_up(self, i: int, why: str) -> None:
        self._unreadable.add(i)
        log.warning("Skipping %s for crops from now on: %s", self.index.rel_path[i], why)
        return None


class _FromPosition(Sampler[int]):
    def __init__(self, dataset: CropDataset):
        self.dataset = dataset

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.dataset.position, len(self.dataset)))

    def __len__(self) -> int:
        return max(0, len(self.dataset) - self.dataset.position)
