"""Annotations as labs have them: mapped CSV columns and time units, clip offsets, ELAN TIME_ORIGIN,
LENA .its files, and the same event imported from several files (real catalogs of real audio)."""

from __future__ import annotations

import json
from pathlib import Path

import pympi
import pytest
from typer.testing import CliRunner

from homecat.catalog import Catalog, named_queries
from homecat.cli import app
from homecat.demo import make_demo_corpus
from homecat.errors import HomecatError
from homecat.mapping import Mapping
from homecat.scan import scan
from homecat.segments import import_file
from tests.catalog_helpers import scan_and_validate

runner = CliRunner()

# small_tree (conftest): P01/P01_a.wav 3.0 s, P01/P01_b.flac 2.5 s, P02/day1/P02_a.WAV 2.0 s (44.1 kHz),
# P02/P02_float.wav 2.0 s, loose.wav 2.0 s, P02/notes.wav unreadable.


def _segments(catalog_path: Path) -> list[tuple]:
    with Catalog.open(catalog_path, read_only=True) as catalog:
        _, rows = catalog.rows(
            "SELECT recording_id, round(start_sec, 6), round(end_sec, 6), label, tier FROM segments "
            "ORDER BY recording_id, start_sec, tier"
        )
    return rows


def _import(catalog_path: Path, path: Path, **kwargs):
    with Catalog.open(catalog_path) as catalog:
        return import_file(catalog, path, **kwargs)


def invoke(catalog_path: Path, *args: str):
    return runner.invoke(app, ["--catalog", str(catalog_path), *args], env={}, catch_exceptions=False)


# --------------------------------------------------------------------------- mapping


def test_renamed_columns_in_milliseconds_land_at_the_right_seconds(catalog_path, tmp_path):
    csv_path = tmp_path / "lab.csv"
    csv_path.write_text("filename,onset,offset,speaker_type\nP01_a,250,1500,FEM\nP01_b,0,2000,CHI\n")
    result = invoke(
        catalog_path,
        "segments", "import", str(csv_path),
        "--column", "recording=filename", "--column", "start=onset", "--column", "end=offset",
        "--column", "speaker=speaker_type", "--column", "label=speaker_type", "--time-unit", "ms",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert _segments(catalog_path) == [("P01_a", 0.25, 1.5, "FEM", "FEM"), ("P01_b", 0.0, 2.0, "CHI", "CHI")]


def test_frames_at_a_rate_and_a_per_row_clip_offset(catalog_path, tmp_path):
    csv_path = tmp_path / "clips.csv"
    # 100 frames per second; each row's clip starts `clip_onset` frames into the recording
    csv_path.write_text("recording,start,end,label,clip_onset\nP01_a,10,50,adult,100\nP01_a,0,20,infant,250\n")
    mapping = Mapping.from_options(["start=start", "end=end", "offset=clip_onset"], "frames", 100.0)
    _import(catalog_path, csv_path, mapping=mapping)
    assert _segments(catalog_path) == [("P01_a", 1.1, 1.5, "adult", ""), ("P01_a", 2.5, 2.7, "infant", "")]


def test_a_per_file_offset_that_pushes_rows_past_the_end_is_reported_with_the_line(catalog_path, tmp_path):
    csv_path = tmp_path / "clip.csv"
    csv_path.write_text("recording,start_sec,end_sec,label\nP01_a,0.5,1.0,a\nP01_a,1.0,1.5,b\n")
    with pytest.raises(HomecatError) as info:
        _import(catalog_path, csv_path, mapping=Mapping(offset_sec=2.0))
    assert "clip.csv: line 3: end_sec 3.500 is past the end of P01/P01_a.wav (3.000 s)." in info.value.lines
    assert _segments(catalog_path) == []
    _import(catalog_path, csv_path, mapping=Mapping(offset_sec=2.0), skip_invalid=True)
    assert _segments(catalog_path) == [("P01_a", 2.5, 3.0, "a", "")]


def test_mapping_mistakes_are_one_sentence(catalog_path, tmp_path):
    csv_path = tmp_path / "lab.csv"
    csv_path.write_text("filename,onset,offset,code\nP01_a,1,2,x\n")
    for args, expected in [
        (["--column", "begin=onset"], "--column 'begin=onset' must be KEY=COLUMN"),
        (["--time-unit", "frames"], "--time-unit frames needs --frame-rate"),
        (["--time-unit", "hours"], "--time-unit 'hours' is not one of s, ms, frames"),
        (["--column", "start=onset"], "the header lacks recording (or recording_id), end_sec, label"),
    ]:
        result = invoke(catalog_path, "segments", "import", str(csv_path), *args)
        assert result.exit_code == 1 and expected in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.output


def _eaf_with_origin(path: Path, media: str, origin_ms: int | None, events: list[tuple[int, int, str]]) -> Path:
    eaf = pympi.Elan.Eaf(author="test")
    eaf.add_linked_file(media, mimetype="audio/x-wav", time_origin=origin_ms)
    eaf.add_tier("events")
    for start_ms, end_ms, label in events:
        eaf.add_annotation("events", start_ms, end_ms, label)
    pympi.Elan.to_eaf(str(path), eaf)
    return path


def test_eaf_time_origin_places_a_clip_in_the_recording(catalog_path, tmp_path):
    """The EAF annotates a clip of P01_a.wav that starts 1.5 s in: ELAN's TIME_ORIGIN says so."""
    eaf = _eaf_with_origin(tmp_path / "clip7.eaf", "file:///data/P01/P01_a.wav", 1500, [(100, 600, "adult")])
    _import(catalog_path, eaf, recording="P01_a")
    assert _segments(catalog_path) == [("P01_a", 1.6, 2.1, "adult", "events")]
    # a per-file offset adds to the origin; an origin that puts the clip past the end is the usual problem
    with pytest.raises(HomecatError, match=r"end_sec 3.600 is past the end"):
        _import(catalog_path, eaf, recording="P01_a", mapping=Mapping(offset_sec=1.5))


def test_eaf_origins_of_several_media_choose_the_recordings_one(catalog_path, tmp_path):
    path = tmp_path / "P01_a.eaf"
    eaf = pympi.Elan.Eaf(author="test")
    eaf.add_linked_file("file:///video/P01_a_cam.mp4", mimetype="video/mp4", time_origin=700)
    eaf.add_linked_file("file:///audio/P01_a.wav", mimetype="audio/x-wav", time_origin=1000)
    eaf.add_tier("events")
    eaf.add_annotation("events", 0, 500, "x")
    pympi.Elan.to_eaf(str(path), eaf)
    _import(catalog_path, path)
    assert _segments(catalog_path) == [("P01_a", 1.0, 1.5, "x", "events")]


# --------------------------------------------------------------------------- LENA .its


def write_its(path: Path, segments: list[tuple[str, float, float]], clock: str = "2019-03-04T08:15:00Z") -> Path:
    """A small LENA .its file: two recorder parts (a pause between them), segments in Conversation/Pause blocks."""
    blocks = []
    for i, (spkr, start, end) in enumerate(segments):
        tag = "Pause" if spkr == "SIL" else "Conversation"
        blocks.append(
            f'<{tag} num="{i + 1}" startTime="PT{start:.2f}S" endTime="PT{end:.2f}S">'
            f'<Segment spkr="{spkr}" average_dB="-40.1" peak_dB="-30.2" startTime="PT{start:.2f}S" '
            f'endTime="PT{end:.2f}S"/></{tag}>'
        )
    half = len(blocks) // 2
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<ITS fileName="x" timeCreated="2019-03-05T10:00:00Z">'
        "<ProcessingUnit>"
        f'<Recording num="1" startClockTime="{clock}" endClockTime="2019-03-04T08:15:01Z" '
        f'startTime="PT0.00S" endTime="PT1.00S">{"".join(blocks[:half])}</Recording>'
        '<Recording num="2" startClockTime="2019-03-04T09:00:00Z" endClockTime="2019-03-04T09:00:02Z" '
        f'startTime="PT1.00S" endTime="PT3.00S">{"".join(blocks[half:])}</Recording>'
        "</ProcessingUnit></ITS>\n",
        encoding="utf-8",
    )
    return path


ITS_SEGMENTS = [("CHN", 0.0, 0.5), ("SIL", 0.5, 1.0), ("FAN", 1.0, 1.75), ("TVN", 1.75, 2.2), ("MAN", 2.2, 2.9)]


def _clock(catalog_path: Path) -> list[tuple]:
    with Catalog.open(catalog_path, read_only=True) as catalog:
        _, rows = catalog.rows(
            "SELECT recording_id, source, part, start_sec, end_sec, strftime(start_clock, '%Y-%m-%d %H:%M:%S') "
            "FROM recording_clock ORDER BY part"
        )
    return rows


def test_an_its_file_imports_as_speaker_type_segments_with_its_clock_times(catalog_path, tmp_path):
    its = write_its(tmp_path / "P01_a.its", ITS_SEGMENTS)
    result = invoke(catalog_path, "segments", "import", str(its))
    assert result.exit_code == 0, result.output
    assert _segments(catalog_path) == [
        ("P01_a", 0.0, 0.5, "CHN", "spkr"),
        ("P01_a", 0.5, 1.0, "SIL", "spkr"),
        ("P01_a", 1.0, 1.75, "FAN", "spkr"),
        ("P01_a", 1.75, 2.2, "TVN", "spkr"),
        ("P01_a", 2.2, 2.9, "MAN", "spkr"),
    ]
    assert _clock(catalog_path) == [
        ("P01_a", "P01_a.its", 1, 0.0, 1.0, "2019-03-04 08:15:00"),
        ("P01_a", "P01_a.its", 2, 1.0, 3.0, "2019-03-04 09:00:00"),
    ]


def test_vad_import_of_an_its_file_keeps_the_voices_by_speaker_type(small_tree, settings_for, tmp_path):
    settings = settings_for(small_tree)
    scan_and_validate(settings)
    catalog_path = settings.paths.catalog
    its = write_its(tmp_path / "lena_export.its", ITS_SEGMENTS)
    result = invoke(catalog_path, "vad", "import", str(its), "--recording", "P01/P01_a.wav", "--source", "lena")
    assert result.exit_code == 0, result.output
    with Catalog.open(catalog_path, read_only=True) as catalog:
        _, rows = catalog.rows("SELECT recording_id, start_sec, end_sec, source, label FROM speech ORDER BY 2")
    assert rows == [
        ("P01_a", 0.0, 0.5, "lena", "CHN"),
        ("P01_a", 1.0, 1.75, "lena", "FAN"),
        ("P01_a", 2.2, 2.9, "lena", "MAN"),
    ]
    assert [row[-1] for row in _clock(catalog_path)] == ["2019-03-04 08:15:00", "2019-03-04 09:00:00"]
    timeline = invoke(catalog_path, "report", "timeline", "P01_a", "--format", "json")
    lanes = [row["lane"] for row in json.loads(timeline.stdout)]
    assert lanes[-2:] == [
        "part 1 from 0 s began 2019-03-04 08:15:00 UTC",
        "part 2 from 1 s began 2019-03-04 09:00:00 UTC",
    ]


def test_a_broken_its_file_is_one_sentence(catalog_path, tmp_path):
    bad = tmp_path / "P01_a.its"
    bad.write_text("<ITS><Recording num='1'><Segment spkr='CHN'")
    result = invoke(catalog_path, "segments", "import", str(bad))
    assert result.exit_code == 1 and "P01_a.its cannot be read as a LENA .its file" in result.stderr
    long = write_its(tmp_path / "long.its", [("CHN", 0.0, 0.5), ("FAN", 2.5, 4.0)])
    result = invoke(catalog_path, "vad", "import", str(long), "--recording", "P01_a")
    assert result.exit_code == 1 and "Nothing was imported: 1 problem(s) in the .its input." in result.stderr
    assert "long.its: Segment 2 (2.500-4.000 s): end_sec 4.000 is past the end of P01/P01_a.wav" in result.stderr
    result = invoke(catalog_path, "vad", "import", str(long), "--recording", "P01_a", "--skip-invalid")
    assert result.exit_code == 0 and "1 invalid rows were skipped" in result.stderr
    with Catalog.open(catalog_path, read_only=True) as catalog:
        assert catalog.rows("SELECT recording_id, label FROM speech")[1] == [("P01_a", "CHN")]
        _, findings = catalog.rows("SELECT recording_id, message FROM findings WHERE stage = 'vad import'")
    assert findings == [
        ("P01_a", "long.its: Segment 2 (2.500-4.000 s): end_sec 4.000 is past the end of P01/P01_a.wav (3.000 s).")
    ]


def write_lena_day(path: Path, parts: list[dict[str, str]], segments=ITS_SEGMENTS) -> Path:
    """An .its file in LENA's layout: hourly <Bar> slices, each repeating <Recording> elements for its
    hour, beside the recorder parts under /ITS/ProcessingUnit (whose attributes ``parts`` gives)."""
    bars = "".join(
        f'<Bar num="{hour}" startClockTime="2019-03-04T{7 + hour:02d}:00:00Z">'
        + "".join(f"<Recording {_attrs(p)}/>" for p in parts)
        + f'<FiveMinuteSection num="{hour}" AWC="10" CTC="2" CVC="3"/></Bar>'
        for hour in range(1, 5)
    )
    blocks = [
        f'<Conversation num="{i + 1}" type="AICF"><Segment spkr="{spkr}" startTime="PT{start:.2f}S" '
        f'endTime="PT{end:.2f}S"/></Conversation>'
        for i, (spkr, start, end) in enumerate(segments)
    ]
    recordings = "".join(
        f"<Recording {_attrs(p)}>{''.join(blocks) if i == 0 else ''}</Recording>" for i, p in enumerate(parts)
    )
    path.write_text(
        f'<?xml version="1.0" encoding="UTF-8"?>\n<ITS fileName="x"><ProcessingUnit><UPL_Header/>{bars}{recordings}'
        "</ProcessingUnit></ITS>\n",
        encoding="utf-8",
    )
    return path


def _attrs(values: dict[str, str]) -> str:
    return " ".join(f'{key}="{value}"' for key, value in values.items())


TWO_PARTS = [
    {"num": "1", "startClockTime": "2019-03-04T08:15:00Z", "startTime": "PT0.00S", "endTime": "PT1.00S"},
    {"num": "2", "startClockTime": "2019-03-04T09:00:00Z", "startTime": "PT1.00S", "endTime": "PT3.00S"},
]


def test_an_its_file_with_hourly_bars_gives_one_clock_row_per_recorder_part(small_tree, settings_for, tmp_path):
    settings = settings_for(small_tree)
    scan_and_validate(settings)
    catalog_path = settings.paths.catalog
    its = write_lena_day(tmp_path / "P01_a.its", TWO_PARTS)
    assert invoke(catalog_path, "segments", "import", str(its)).exit_code == 0
    assert _clock(catalog_path) == [
        ("P01_a", "P01_a.its", 1, 0.0, 1.0, "2019-03-04 08:15:00"),
        ("P01_a", "P01_a.its", 2, 1.0, 3.0, "2019-03-04 09:00:00"),
    ]
    assert [row[:4] for row in _segments(catalog_path)] == [("P01_a", *s[1:], s[0]) for s in ITS_SEGMENTS]
    timeline = json.loads(invoke(catalog_path, "report", "timeline", "P01_a", "--format", "json").stdout)
    parts = [row for row in timeline if row["lane"].startswith("part")]
    assert [row["lane"] for row in parts] == [
        "part 1 from 0 s began 2019-03-04 08:15:00 UTC",
        "part 2 from 1 s began 2019-03-04 09:00:00 UTC",
    ]
    assert sum(row["share"] for row in parts) == pytest.approx(1.0)  # the parts tile the day once


def test_an_its_file_gives_each_parts_end_clock_and_the_local_time_of_its_transfer_time(
    small_tree, settings_for, tmp_path
):
    settings = settings_for(small_tree)
    scan_and_validate(settings)
    catalog_path = settings.paths.catalog
    parts = [{**p, "endClockTime": e} for p, e in zip(TWO_PARTS, ["2019-03-04T08:15:01Z", "2019-03-04T09:00:02Z"])]
    its = write_lena_day(tmp_path / "P01_a.its", parts)
    # the header LENA writes when the recorder is read out: local time and UTC of that moment (UTC-05:00 here)
    header = '<UPL_Header><TransferredUPL><RecordingInformation><TransferTime LocalTime="2019-03-05T09:05:32" '
    header += 'TimeZone="EST" UTCTime="2019-03-05T14:05:32"/></RecordingInformation></TransferredUPL></UPL_Header>'
    its.write_text(its.read_text().replace("<UPL_Header/>", header))
    assert invoke(catalog_path, "segments", "import", str(its)).exit_code == 0
    with Catalog.open(catalog_path, read_only=True) as catalog:
        _, rows = catalog.rows(
            "SELECT part, strftime(end_clock, '%H:%M:%S'), utc_offset_min FROM recording_clock ORDER BY part"
        )
        _, dated = catalog.rows(
            "SELECT strftime(date_iso, '%Y-%m-%d'), start_time FROM recording_date WHERE recording_id = 'P01_a'"
        )
    assert rows == [(1, "08:15:01", -300), (2, "09:00:02", -300)]
    assert dated == [("2019-03-04", "03:15:00")]  # the local start: 08:15 UTC is 03:15 in UTC-05:00
    timeline = json.loads(invoke(catalog_path, "report", "timeline", "P01_a", "--format", "json").stdout)
    assert [row["lane"] for row in timeline if row["lane"].startswith("part")] == [
        "part 1 from 0 s began 2019-03-04 08:15:00 UTC (03:15 local, UTC-05:00)",
        "part 2 from 1 s began 2019-03-04 09:00:00 UTC (04:00 local, UTC-05:00)",
    ]
    its.write_text(its.read_text().replace('LocalTime="2019-03-05T09:05:32"', 'LocalTime="soon"'))
    result = invoke(catalog_path, "segments", "import", str(its))
    assert (
        result.exit_code == 1
        and "P01_a.its: <TransferTime> (the recorder's local time): LocalTime 'soon'" in result.stderr
    )


HOSTILE_PARTS = [  # (field of part 2, value, what the sentence says)
    ("num", "abc", "num 'abc' is not a part number (a whole number 1-2147483647)"),
    ("num", "1.5", "num '1.5' is not a part number"),
    ("num", "99999999999", "num '99999999999' is not a part number"),
    ("num", "9" * 5000, "is not a part number"),
    ("startClockTime", "0001-01-01T00:30:00+05:00", "is not a date and time (ISO 8601, UTC) between the years 1980"),
    ("startClockTime", "9999-12-31T23:30:00-05:00", "between the years 1980 and 2100"),
    ("startClockTime", "yesterday", "startClockTime 'yesterday' is not a date and time"),
    ("startTime", "PT-50S", "startTime 'PT-50S' is not a duration like PT12.34S (0 s or more)"),
    ("startTime", "PTnanS", "startTime 'PTnanS' is not a duration"),
    ("endTime", "PTinfS", "endTime 'PTinfS' is not a duration"),
    ("endTime", "PT99999S", "recorder part 2 (1.000-99999.000 s) ends past the end of P01/P01_a.wav (3.000 s)"),
    ("startTime", "PT0.50S", "recorder part 2 (0.500-3.000 s) overlaps part 1 (0.000-1.000 s)"),
    ("endClockTime", "2019-03-04T08:59:59Z", "endClockTime 2019-03-04 08:59:59 is before startClockTime"),
    ("num", "1", "has the number of another part"),
]


def test_a_hostile_recorder_part_is_one_sentence_and_nothing_is_stored(catalog_path, tmp_path):
    from homecat.speech import import_its

    (tmp_path / "good").mkdir()
    good = write_lena_day(tmp_path / "good" / "P01_a.its", TWO_PARTS)
    assert invoke(catalog_path, "segments", "import", str(good)).exit_code == 0
    before = (_segments(catalog_path), _clock(catalog_path))
    for number, (field, value, said) in enumerate(HOSTILE_PARTS):
        bad = write_lena_day(tmp_path / "P01_a.its", [TWO_PARTS[0], {**TWO_PARTS[1], field: value}])
        if number == 0:  # through the CLI: exit 1 and the sentence, never a traceback
            for command in (["segments", "import", str(bad)], ["vad", "import", str(bad), "--recording", "P01_a"]):
                result = invoke(catalog_path, *command)
                assert result.exit_code == 1 and said in result.stderr, result.output
            continue
        with Catalog.open(catalog_path) as catalog:
            for run, args in ((import_file, (bad,)), (import_its, ([bad], "P01_a"))):
                with pytest.raises(HomecatError) as raised:
                    run(catalog, *args)
                assert said in str(raised.value) and "P01_a.its" in str(raised.value), (field, value)
    assert (_segments(catalog_path), _clock(catalog_path)) == before  # nothing half-stored


def test_reading_an_its_file_does_not_grow_with_its_elements_or_their_nesting(tmp_path):
    import tracemalloc

    from homecat.its import MAX_DEPTH, read_its

    # 50,000 elements in hourly bars (none of them a segment): nothing of them is kept
    wide = tmp_path / "wide.its"
    sections = '<FiveMinuteSection num="1" AWC="10.5" CTC="2" CVC="3" startClockTime="2019-03-04T08:00:00Z"/>' * 500
    with open(wide, "w", encoding="utf-8") as f:
        f.write('<ITS><ProcessingUnit><Recording num="1" startTime="PT0S" endTime="PT3S">')
        f.write('<Conversation num="1"><Segment spkr="CHN" startTime="PT0S" endTime="PT1S"/></Conversation>')
        for hour in range(100):
            f.write(f'<Bar num="{hour}"><Sub><Deeper>{sections}</Deeper></Sub></Bar>')
        f.write("</Recording></ProcessingUnit></ITS>")
    tracemalloc.start()
    try:
        assert len(read_its(wide).segments) == 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < wide.stat().st_size / 4, (peak, wide.stat().st_size)
    # nested far deeper than LENA nests: one sentence, found before the nesting costs memory
    deep = tmp_path / "deep.its"
    deep.write_text("<ITS>" + "<Bar>" * 200_000 + "</Bar>" * 200_000 + "</ITS>")
    tracemalloc.start()
    try:
        with pytest.raises(HomecatError, match=f"deep.its nests its elements more than {MAX_DEPTH} deep"):
            read_its(deep)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < deep.stat().st_size / 4, (peak, deep.stat().st_size)


# --------------------------------------------------------------------------- vad import --skip-invalid


def test_vad_import_skip_invalid_imports_the_good_lines_and_records_the_bad_ones(catalog_path, tmp_path):
    rttm = tmp_path / "vtc.rttm"
    rttm.write_text(
        "SPEAKER P01_a 1 0.100 0.500 <NA> <NA> KCHI <NA> <NA>\n"
        "SPEAKER nobody 1 0.100 0.500 <NA> <NA> FEM <NA> <NA>\n"
        "SPEAKER P01_b 1 2.000 5.000 <NA> <NA> FEM <NA> <NA>\n"
        "SPEAKER P01_b 1 0.200 0.300 <NA> <NA> MAL <NA> <NA>\n"
    )
    refused = invoke(catalog_path, "vad", "import", str(rttm))
    assert refused.exit_code == 1 and "Nothing was imported: 2 problem(s)" in refused.stderr
    result = invoke(catalog_path, "vad", "import", str(rttm), "--skip-invalid")
    assert result.exit_code == 0, result.output
    assert "2 invalid rows were skipped" in result.stderr
    with Catalog.open(catalog_path, read_only=True) as catalog:
        _, speech = catalog.rows("SELECT recording_id, start_sec, end_sec, label FROM speech ORDER BY 1")
        _, findings = catalog.rows(
            "SELECT recording_id, code, severity, message FROM findings WHERE stage = 'vad import' ORDER BY message"
        )
    assert speech == [("P01_a", 0.1, 0.6, "KCHI"), ("P01_b", 0.2, 0.5, "MAL")]
    assert [(f[0], f[1], f[2]) for f in findings] == [
        ("(unknown)", "invalid_speech_row", "warning"),
        ("P01_b", "invalid_speech_row", "warning"),
    ]
    assert findings[0][3].startswith("vtc.rttm, line 2: file-id 'nobody' matches no recording")
    assert findings[1][3].startswith("vtc.rttm, line 3: the turn ends at 7.000 s, past the end of recording P01_b")
    # a corrected file replaces its findings
    rttm.write_text("SPEAKER P01_a 1 0.100 0.500 <NA> <NA> KCHI <NA> <NA>\n")
    assert invoke(catalog_path, "vad", "import", str(rttm), "--skip-invalid").exit_code == 0
    with Catalog.open(catalog_path, read_only=True) as catalog:
        assert catalog.rows("SELECT count(*) FROM findings WHERE stage = 'vad import'")[1] == [(0,)]


# --------------------------------------------------------------------------- duplicates across sources


def test_the_same_events_from_csv_textgrid_and_eaf_count_once(tmp_path, settings_for):
    """The demo writes its events as a CSV, and those of two recordings again as a TextGrid and an EAF."""
    corpus = make_demo_corpus(tmp_path / "raw", minutes=0.5, broken=False)
    settings = settings_for(corpus.root)
    with Catalog.open(settings.paths.catalog) as catalog:
        scan(catalog, settings.data)
    csv_rows = len(corpus.events_csv.read_text().splitlines()) - 1
    result = invoke(settings.paths.catalog, "segments", "import", *map(str, corpus.annotation_files))
    assert result.exit_code == 0, result.output
    report = json.loads(invoke(settings.paths.catalog, "report", "segments", "--format", "json").stdout)
    totals = [r for r in report if r["participant_id"] == "(all)"]
    with Catalog.open(settings.paths.catalog, read_only=True) as catalog:
        stored = catalog.rows("SELECT count(*) FROM segments")[1][0][0]
        probe_query = named_queries("queries/embed.sql")["probe_segments"].sql
        probed = catalog.rows(probe_query, {"tolerance_sec": 0.01})[1]
        embed_query = named_queries("queries/embed.sql")["embed_segments"].sql
        embedded = catalog.rows(embed_query, {"labels": [], "tolerance_sec": 0.01})[1]
    repeats = stored - csv_rows
    assert repeats >= 10  # the TextGrid's and the EAF's events, all repeats of CSV rows
    assert sum(r["segments"] for r in totals) == csv_rows
    assert sum(r["duplicates"] for r in totals) == repeats
    assert len({row[0] for row in probed}) == csv_rows  # the probe's segments: each event once
    assert len(embedded) == csv_rows  # and embed computes each event once


def test_events_further_apart_than_the_tolerance_or_with_another_label_are_not_duplicates(catalog_path, tmp_path):
    a = tmp_path / "a.csv"
    a.write_text("recording,start_sec,end_sec,label\nP01_a,1.000,2.000,x\nP01_a,0.100,0.500,x\n")
    b = tmp_path / "b.csv"
    # 8 ms: the same event; 30 ms: another one; same times, other label: another event
    b.write_text("recording,start_sec,end_sec,label\nP01_a,1.008,1.995,x\nP01_a,0.130,0.500,x\nP01_a,1.0,2.0,y\n")
    for path in (a, b):
        _import(catalog_path, path)
    report = json.loads(invoke(catalog_path, "report", "segments", "--format", "json").stdout)
    totals = {r["label"]: (r["segments"], r["duplicates"]) for r in report if r["participant_id"] == "(all)"}
    assert totals == {"x": (3, 1), "y": (1, 0)}
    # a wider tolerance (a setting) makes the 30 ms pair one event too
    config = tmp_path / "wide.yaml"
    config.write_text("segments:\n  duplicate_tolerance_sec: 0.05\n")
    wide = runner.invoke(
        app, ["--catalog", str(catalog_path), "--config", str(config), "report", "segments", "-f", "json"], env={}
    )
    totals = {r["label"]: (r["segments"], r["duplicates"]) for r in json.loads(wide.stdout)}
    assert totals["x"] == (2, 2)


# --------------------------------------------------------------------------- recordings named as labs name them


def test_a_csv_names_recordings_by_file_name_stem_or_path_tail_and_an_ambiguous_name_lists_them(tmp_path, settings_for):
    from tests.conftest import write_tone

    root = tmp_path / "raw"
    for rel_path in ("HB002/HB002_20240310.flac", "A/day.wav", "B/day.wav", "B/sub/x.wav"):
        write_tone(root / rel_path, 2.0, subtype="PCM_16")
    settings = settings_for(root)
    with Catalog.open(settings.paths.catalog) as catalog:
        scan(catalog, settings.data)
    rows = [
        "HB002_20240310.flac,0,500,CHI",  # the file name with its extension
        "HB002_20240310,500,900,FEM",  # the stem
        "sub/x.wav,0,1000,MAL",  # a tail of the rel_path
        "/data/lab/raw/B/day.wav,0,1000,OCH",  # a path ending with the rel_path
        r"C:\lab\HB002\HB002_20240310.flac,900,1000,CHI",  # the same from Windows
    ]
    table = tmp_path / "lab.csv"
    table.write_text("\n".join(["filename,onset,offset,speaker", *rows, "day.wav,0,100,CHI"]) + "\n")
    mapped = ["--column", "recording=filename", "--column", "start=onset", "--column", "end=offset"]
    mapped += ["--column", "label=speaker", "--time-unit", "ms"]
    result = invoke(settings.paths.catalog, "segments", "import", str(table), *mapped)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[1] == (
        "Error: lab.csv: line 7: 'day.wav' names 2 recordings (A/day.wav, B/day.wav): write the rel_path of the "
        "one meant."
    )
    table.write_text("\n".join(["filename,onset,offset,speaker", *rows]) + "\n")
    assert invoke(settings.paths.catalog, "segments", "import", str(table), *mapped).exit_code == 0
    with Catalog.open(settings.paths.catalog, read_only=True) as catalog:
        _, stored = catalog.rows(
            "SELECT r.rel_path, round(s.start_sec, 3), round(s.end_sec, 3), s.label FROM segments AS s "
            "JOIN recordings AS r USING (recording_id) ORDER BY 1, 2"
        )
    assert stored == [
        ("B/day.wav", 0.0, 1.0, "OCH"),
        ("B/sub/x.wav", 0.0, 1.0, "MAL"),
        ("HB002/HB002_20240310.flac", 0.0, 0.5, "CHI"),
        ("HB002/HB002_20240310.flac", 0.5, 0.9, "FEM"),
        ("HB002/HB002_20240310.flac", 0.9, 1.0, "CHI"),
    ]


# --------------------------------------------------------------------------- exports read back (issue 24)


def _intervals(catalog_path: Path, sql: str) -> list[tuple]:
    with Catalog.open(catalog_path, read_only=True) as catalog:
        return catalog.rows(sql)[1]


def test_every_export_reads_back_to_the_millisecond_and_tier_names_match_as_stored(catalog_path, tmp_path):
    # a tier ELAN users write with leading spaces: stored and shown stripped, and --tier names it so
    eaf = pympi.Elan.Eaf()
    eaf.add_tier("    CHI*")
    eaf.add_annotation("    CHI*", 490, 1210, "babble")  # ms: what ELAN stores
    eaf.remove_tier("default")
    source_eaf = tmp_path / "coded" / "P01_a.eaf"
    source_eaf.parent.mkdir()
    pympi.Elan.to_eaf(str(source_eaf), eaf)
    assert invoke(catalog_path, "segments", "import", str(source_eaf), "--tier", "CHI*").exit_code == 0
    table = tmp_path / "lab.csv"  # times finer than a millisecond, as model outputs write them
    table.write_text(
        "recording,start_sec,end_sec,label,tier\n"
        "P01/P01_a.wav,0.00049,1.20975,FEM,adult\n"  # RTTM once gave 0.000 + 1.209: the end 0.75 ms early
        "P01/P01_a.wav,1.5,2.9996,CHI,child\n"
        "P01/P01_b.flac,0.1236,2.4994,MAL,adult\n"
    )
    assert invoke(catalog_path, "segments", "import", str(table)).exit_code == 0
    stored = _intervals(catalog_path, "SELECT recording_id, start_sec, end_sec, label FROM segments ORDER BY 1, 2, 4")

    def same_to_the_ms(back: list[tuple]) -> None:
        assert [(r, label) for r, _, _, label in back] == [(r, label) for r, _, _, label in stored]
        for (_, start, end, _), (_, start0, end0, _) in zip(back, stored, strict=True):
            assert abs(start - start0) <= 0.0005 + 1e-9 and abs(end - end0) <= 0.0005 + 1e-9, (start, end, start0, end0)

    for fmt in ("rttm", "eaf", "textgrid"):
        out = tmp_path / fmt
        assert invoke(catalog_path, "segments", "export", "--format", fmt, "-o", str(out)).exit_code == 0
        files = sorted(str(p) for p in out.rglob("*") if p.is_file())
        if fmt == "rttm":  # RTTM goes back through `vad import` (speech rows), then `vad export` and back again
            assert invoke(catalog_path, "vad", "import", *files, "--source", "back").exit_code == 0
            query = "SELECT recording_id, start_sec, end_sec, label FROM speech WHERE source = '{}' ORDER BY 1, 2, 4"
            same_to_the_ms(_intervals(catalog_path, query.format("back")))
            again = tmp_path / "again.rttm"
            assert invoke(catalog_path, "vad", "export", "--source", "back", "-o", str(again)).exit_code == 0
            assert invoke(catalog_path, "vad", "import", str(again), "--source", "again").exit_code == 0
            same_to_the_ms(_intervals(catalog_path, query.format("again")))
            continue
        assert invoke(catalog_path, "segments", "import", *files).exit_code == 0
        sources = ", ".join(f"'{Path(f).name}'" for f in files)
        back = _intervals(
            catalog_path,
            f"SELECT recording_id, start_sec, end_sec, label FROM segments WHERE source IN ({sources}) ORDER BY 1, 2, 4",
        )
        same_to_the_ms(back)
        tiers = _intervals(catalog_path, f"SELECT DISTINCT tier FROM segments WHERE source IN ({sources}) ORDER BY 1")
        assert tiers == [("CHI*",), ("adult",), ("child",)]
        chosen = invoke(catalog_path, "segments", "import", files[0], "--tier", "CHI*")
        assert chosen.exit_code == 0, chosen.output


def test_the_timeline_shows_annotations_beside_the_vad_each_event_once(small_tree, settings_for, tmp_path):
    settings = settings_for(small_tree)
    scan_and_validate(settings)
    catalog_path = settings.paths.catalog
    coded = tmp_path / "coded.csv"
    coded.write_text(
        "recording,start_sec,end_sec,label,tier\n"
        "P01_a,0.0,0.5,adult,events\nP01_a,0.25,1.0,adult,events\n"  # overlapping: 1.0 s of adult speech, not 1.25
        "P01_a,1.5,2.0,infant,events\n"
    )
    again = tmp_path / "again.csv"
    again.write_text("recording,start_sec,end_sec,label,tier\nP01_a,1.5,2.0,infant,events\n")  # the same event
    words = tmp_path / "words.csv"
    words.write_text(
        "recording,start_sec,end_sec,label,tier\n"
        + "".join(f"P01_a,{0.2 * i:.1f},{0.2 * i + 0.1:.1f},word{i},transcript\n" for i in range(12))
    )
    for path in (coded, again, words):
        assert invoke(catalog_path, "segments", "import", str(path)).exit_code == 0
    plot = tmp_path / "timeline.png"
    result = invoke(catalog_path, "report", "timeline", "--recording", "P01_a", "--plot", str(plot), "-f", "json")
    assert result.exit_code == 0, result.output
    lanes = {row["lane"]: row for row in json.loads(result.stdout)}
    assert (lanes["annotated events/adult"]["turns"], lanes["annotated events/adult"]["hours"]) == (2, 0.0003)
    assert lanes["annotated events/infant"]["turns"] == 1  # the second file's copy of the event counts once
    assert lanes["annotated transcript"]["turns"] == 12  # a tier of many labels (words) is one lane
    assert plot.stat().st_size > 10_000
