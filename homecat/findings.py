"""Judging one validated recording: its header, what was decoded and its level stats become ``Finding``s.

Every message names the recording and the numbers that decided. Severity: 'error' (the recording is
excluded from training), 'warning' (used, but worth a look) or 'info' (how it will be converted).
"""

from __future__ import annotations

import os
import traceback
from dataclasses import dataclass
from typing import Any

from homecat import audio
from homecat.errors import first_line
from homecat.levels import SILENCE_DBFS
from homecat.settings import DataSettings, ValidateSettings

_WAV_MAX_BYTES = 2**32  # a RIFF WAV's 32-bit size fields cannot describe more


@dataclass(frozen=True)
class Finding:
    code: str
    severity: str  # 'error' (excluded from training), 'warning' or 'info'
    message: str  # names the recording and the numbers


@dataclass(frozen=True)
class Limits:
    """What a recording is judged against (from the validate and data settings); small and picklable."""

    silence_floor_dbfs: float
    clip_warn_fraction: float
    mostly_silent_share: float
    channel_policy: str | int
    target_rate: int
    min_duration_sec: float
    max_duration_sec: float | None

    @classmethod
    def of(cls, validate: ValidateSettings, data: DataSettings) -> Limits:
        return cls(
            silence_floor_dbfs=validate.silence_floor_dbfs,
            clip_warn_fraction=validate.clip_warn_fraction,
            mostly_silent_share=validate.mostly_silent_warn_share,
            channel_policy=data.channel_policy,
            target_rate=data.sample_rate,
            min_duration_sec=data.min_duration_sec,
            max_duration_sec=data.max_duration_sec,
        )


def judge(
    name: str,
    header: audio.AudioHeader,
    layout: audio.WavLayout | None,
    header_frames: int | None,
    read_error: str | None,
    stats: dict[str, Any],
    p: Limits,
) -> list[Finding]:
    """The findings about recording ``name``; pops ``max_window_rms_dbfs`` (not stored) from ``stats``."""
    out: list[Finding] = []
    sr = header.sample_rate
    frames_read = stats["frames_read"]
    duration_sec = stats["duration_sec"]

    # How long the file says it is: the WAV data chunk (libsndfile caps it to the bytes present),
    # else the decoder's header count (FLAC STREAMINFO), else scan's.
    declared = layout.declared_frames if layout and layout.data_bytes not in (0, 0xFFFFFFFF) else None
    declared = declared or header.frames or header_frames or 0
    if frames_read == 0 and (declared or read_error):
        why = f" ({read_error})" if read_error else ""
        out.append(
            Finding("unreadable" if not declared else "truncated", "error", f"{name}: no audio is readable{why}.")
        )
    elif frames_read < declared:
        why = f"; the decoder stopped with: {read_error}" if read_error else ""
        out.append(
            Finding(
                "truncated",
                "warning",
                f"{name} is truncated: its header declares {declared / sr:.1f} s but only "
                f"{frames_read / sr:.1f} s ({frames_read / declared:.0%}) is present{why}; "
                "the part present is still used.",
            )
        )
    elif read_error:
        out.append(
            Finding("truncated", "warning", f"{name}: the decoder stopped at {duration_sec:.1f} s: {read_error}.")
        )
    elif frames_read > declared > 0:
        out.append(
            Finding(
                "header_mismatch",
                "warning",
                f"{name}: its header declares {declared} frames but {frames_read} were decoded.",
            )
        )
    if layout is not None:
        problem = wav_header_problem(layout)
        if problem and frames_read >= declared:  # a truncated file's header is reported as 'truncated'
            out.append(Finding("header_mismatch", "warning", f"{name}: {problem}."))

    if frames_read and duration_sec < p.min_duration_sec:
        out.append(
            Finding(
                "too_short", "error", f"{name} is {duration_sec:.2f} s long, shorter than {p.min_duration_sec:g} s."
            )
        )
    if p.max_duration_sec is not None and duration_sec > p.max_duration_sec:
        out.append(
            Finding(
                "too_long",
                "warning",
                f"{name} is {duration_sec / 3600:.2f} h long, longer than {p.max_duration_sec / 3600:g} h.",
            )
        )
    if sr < p.target_rate:
        out.append(
            Finding(
                "sample_rate",
                "warning",
                f"{name} is sampled at {sr} Hz, below the model's {p.target_rate} Hz: it is upsampled and "
                f"has no content above {sr // 2} Hz.",
            )
        )
    elif sr != p.target_rate:
        out.append(
            Finding("sample_rate", "info", f"{name} is sampled at {sr} Hz; crops are resampled to {p.target_rate} Hz.")
        )
    if header.channels > 1:
        out.append(
            Finding(
                "multichannel",
                "info",
                f"{name} has {header.channels} channels, down-mixed by channel_policy '{p.channel_policy}'.",
            )
        )

    if frames_read:
        loudest = stats.pop("max_window_rms_dbfs")
        if loudest < p.silence_floor_dbfs:
            what = "digital silence (all zeros)" if loudest <= SILENCE_DBFS else f"at most {loudest:.1f} dBFS"
            out.append(
                Finding(
                    "silent",
                    "error",
                    f"{name} is silent: every window is below the absolute floor of {p.silence_floor_dbfs:g} dBFS "
                    f"({what}).",
                )
            )
        elif stats["silent_fraction"] > p.mostly_silent_share and duration_sec >= p.min_duration_sec:
            out.append(
                Finding(
                    "mostly_silent",
                    "warning",
                    f"{name} is {stats['silent_fraction']:.1%} silent: only {stats['active_sec']:.0f} s of "
                    f"{duration_sec:.0f} s reach its activity threshold of {stats['activity_threshold_dbfs']:.1f} dBFS "
                    f"({stats['threshold_source']}).",
                )
            )
        if stats["clip_fraction"] > p.clip_warn_fraction:
            out.append(
                Finding(
                    "clipping",
                    "warning",
                    f"{name} clips: {stats['clip_fraction']:.2%} of samples are at full scale "
                    f"(warning above {p.clip_warn_fraction:.2%}).",
                )
            )
    else:
        stats.pop("max_window_rms_dbfs")
    return out


def wav_header_problem(layout: audio.WavLayout) -> str | None:
    """What is wrong with a WAV header's own size fields, as a clause; None when nothing is."""
    if layout.form == "RIFF" and layout.file_bytes >= _WAV_MAX_BYTES:
        return (
            f"it is a {layout.file_bytes / 2**30:.2f} GiB RIFF WAV, but a RIFF header cannot describe more than "
            "4 GiB (RF64 or W64 can): audio past the header's sizes may be ignored"
        )
    if layout.data_bytes in (0, 0xFFFFFFFF) and layout.file_bytes > layout.data_offset:
        return "its data chunk size was never filled in (the recorder did not finish the file)"
    if layout.block_align == 0:
        return "its fmt chunk gives a block alignment of 0"
    return None


def changed(name: str) -> Finding:
    return Finding("changed", "error", f"{name} changed after the last scan; run 'homecat scan', then validate again.")


def failed(stage: str, name: str, exc: BaseException) -> Finding:
    """Whatever a stage's reader raised on one recording, as an error finding on it (the run goes on).

    HOMECAT_DEBUG=1 prints the traceback to stderr (from the worker process that caught it).
    """
    if os.environ.get("HOMECAT_DEBUG"):
        traceback.print_exception(exc)
    return Finding(
        "failed",
        "error",
        f"{name}: {stage} failed on this recording ({type(exc).__name__}: {first_line(exc).rstrip('.')}); "
        "the run went on without it.",
    )


def permission_denied(name: str, why: str | None) -> Finding:
    """A recording this user may not read: an error for this run, never 'missing' (its rows stay as they are)."""
    return Finding(
        "permission_denied",
        "error",
        f"{name} cannot be read by this user ({why or 'permission denied'}); fix its permissions and run again.",
    )


def header_changed(name: str, scanned: tuple[int | None, int | None, int | None], now: audio.AudioHeader) -> Finding:
    """The header read now differs from the scan's although size and mtime did not change (a replaced file)."""
    rate, channels, frames = scanned
    return Finding(
        "header_changed",
        "warning",
        f"{name}: its header now says {now.sample_rate} Hz, {now.channels} channel(s), {now.frames} frames, but "
        f"the scan read {rate} Hz, {channels} channel(s), {frames} frames with the same size and modification "
        "time (the file was replaced); the catalog now holds the new values and crops use them.",
    )
