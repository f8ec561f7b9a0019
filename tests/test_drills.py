"""Fault drills: kill stages part-way, corrupt headers, and check the catalog stays consistent; training
survives a recording vanishing mid-run and resumes from its last complete checkpoint after a SIGKILL."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import soundfile as sf

from homecat.catalog import Catalog
from homecat.demo import make_demo_corpus
from homecat.recordings import BATCH_FILES
from homecat.scan import scan
from homecat.settings import load_settings
from homecat.split import assign_splits
from homecat.validate import validate

TIME_COLUMNS = ("first_seen", "last_seen", "scanned_at")


def _tiny_tree(root: Path, files: int) -> None:
    """Many small real WAV files (0.2 s) in participant folders, written fast from one payload."""
    buffer = io.BytesIO()
    sf.write(buffer, np.zeros(3200, dtype=np.float32), 16000, format="WAV", subtype="PCM_16")
    for i in range(files):
        folder = root / f"P{i // 100:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"rec_{i:05d}.wav").write_bytes(buffer.getvalue())


def _kill_after_first_commit(process: subprocess.Popen, catalog: Path) -> None:
    """SIGKILL the process as soon as its first batch is committed (the WAL file has content)."""
    wal = Path(f"{catalog}.wal")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if wal.exists() and wal.stat().st_size > 0:
            break
        time.sleep(0.002)
    assert process.poll() is None, "the stage finished before it could be killed: give it more work"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _corrupted_tree(root: Path, seed: int, seconds: float, files: int = 200) -> Path:
    """WAV and FLAC files of a tone, each with 1-7 random bytes of its first 64 overwritten."""
    rng = np.random.default_rng(seed)
    tone = (0.2 * np.sin(np.linspace(0, 1333 * seconds, int(16000 * seconds)))).astype(np.float32)
    for i in range(files):
        path = root / f"P{i % 10}" / f"r{i:03d}.{'wav' if i % 2 else 'flac'}"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, tone, 16000, subtype="PCM_16")
        data = bytearray(path.read_bytes())
        for offset in rng.choice(64, size=int(rng.integers(1, 8)), replace=False):
            data[offset] = int(rng.integers(0, 256))
        path.write_bytes(bytes(data))
    return root


def _table(catalog_path: Path) -> list[tuple]:
    with Catalog.open(catalog_path) as catalog:
        columns = [r[0] for r in catalog.con.execute("DESCRIBE recordings").fetchall() if r[0] not in TIME_COLUMNS]
        return catalog.con.execute(f"SELECT {', '.join(columns)} FROM recordings ORDER BY rel_path").fetchall()


def test_scan_killed_part_way_leaves_a_consistent_catalog_and_a_rerun_finishes(tmp_path, settings_for):
    root = tmp_path / "raw"
    _tiny_tree(root, 4000)
    killed = tmp_path / "killed.duckdb"
    Catalog.open(killed).close()  # schema in place and checkpointed: the next WAL write is a scan batch
    command = [sys.executable, "-m", "homecat", "--catalog", str(killed), "scan", "--root", str(root), "--hash"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    _kill_after_first_commit(process, killed)

    with Catalog.open(killed) as catalog:  # opens (the WAL is replayed) and holds no partial batch
        partial = catalog.con.execute("SELECT count(*), count(DISTINCT rel_path) FROM recordings").fetchone()
    # part-way, whole batches only; none at all when the kill landed while the first commit was being written
    # (the WAL has content before the commit is complete; a loaded machine hits that in 1 run out of 4)
    assert partial[0] == partial[1] and partial[0] < 4000 and partial[0] % BATCH_FILES == 0

    settings = settings_for(root, **{"paths.catalog": killed})
    with Catalog.open(killed) as catalog:
        summary = scan(catalog, settings.data, hash_audio=True)
    assert summary.new + summary.unchanged == 4000

    fresh = settings_for(root, **{"paths.catalog": tmp_path / "fresh.duckdb"})
    with Catalog.open(fresh.paths.catalog) as catalog:
        scan(catalog, fresh.data, hash_audio=True)
    assert _table(killed) == _table(fresh.paths.catalog)


def test_two_hundred_corrupted_headers_become_rows_not_crashes(tmp_path, settings_for):
    """Random byte mutations in the first 64 bytes of WAV and FLAC files: scan records every file."""
    root = _corrupted_tree(tmp_path / "raw", seed=7, seconds=1.0)
    settings = settings_for(root)
    with Catalog.open(settings.paths.catalog) as catalog:
        summary = scan(catalog, settings.data)
        statuses = dict(catalog.con.execute("SELECT status, count(*) FROM recordings GROUP BY 1").fetchall())
        errors = catalog.con.execute(
            "SELECT count(*) FROM recordings WHERE status = 'unreadable' AND error IS NULL"
        ).fetchone()
    assert summary.new == 200 and sum(statuses.values()) == 200
    assert set(statuses) <= {"ok", "unreadable"} and statuses.get("unreadable", 0) > 0
    assert errors[0] == 0  # every unreadable file carries the reader's message


def _varied_tree(root: Path, files: int, seconds: float) -> None:
    """Files of quiet noise with a loud burst at a different place in each (so levels differ)."""
    rng = np.random.default_rng(3)
    base = (0.003 * rng.standard_normal(int(seconds * 16000))).astype(np.float32)
    for i in range(files):
        samples = base.copy()
        start = (i * 16000) % (len(samples) - 16000)
        samples[start : start + 16000] += 0.3 * np.sin(np.arange(16000, dtype=np.float32) * (0.05 + 0.001 * i))
        path = root / f"P{i % 7}" / f"rec_{i:03d}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, samples, 16000, subtype="PCM_16")


def _validation_tables(catalog_path: Path) -> dict[str, list[tuple]]:
    with Catalog.open(catalog_path) as catalog:
        return {
            "levels": catalog.con.execute("SELECT * FROM levels ORDER BY recording_id, window_index").fetchall(),
            "stats": catalog.con.execute(
                "SELECT * EXCLUDE (validated_at) FROM audio_stats ORDER BY recording_id"
            ).fetchall(),
            "findings": catalog.con.execute(
                "SELECT recording_id, code, severity, message FROM findings ORDER BY ALL"
            ).fetchall(),
        }


def test_validation_killed_part_way_resumes_without_duplicates(tmp_path, settings_for):
    root = tmp_path / "raw"
    _varied_tree(root, 120, seconds=40.0)
    killed, fresh = tmp_path / "killed.duckdb", tmp_path / "fresh.duckdb"
    for path in (killed, fresh):
        settings = settings_for(root, **{"paths.catalog": path})
        with Catalog.open(path) as catalog:
            scan(catalog, settings.data)

    command = [sys.executable, "-m", "homecat", "--catalog", str(killed), "validate", "--workers", "1"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    _kill_after_first_commit(process, killed)
    with Catalog.open(killed) as catalog:
        done = catalog.con.execute("SELECT count(*) FROM audio_stats").fetchone()[0]
        duplicated = catalog.con.execute(
            "SELECT count(*) FROM (SELECT recording_id, window_index FROM levels GROUP BY ALL HAVING count(*) > 1)"
        ).fetchone()[0]
    assert done < 120 and duplicated == 0

    for path in (killed, fresh):  # finish the killed one; validate the other in one go
        settings = settings_for(root, **{"paths.catalog": path})
        with Catalog.open(path) as catalog:
            summary = validate(catalog, settings.validate, settings.data, workers=1)
        if path == killed:
            assert summary.validated == 120 - done  # only what the kill left undone
    assert _validation_tables(killed) == _validation_tables(fresh)


def test_corrupted_headers_survive_validation_as_findings(tmp_path, settings_for):
    root = _corrupted_tree(tmp_path / "raw", seed=11, seconds=3.0)
    settings = settings_for(root)
    with Catalog.open(settings.paths.catalog) as catalog:
        scan(catalog, settings.data)
        validate(catalog, settings.validate, settings.data, workers=1)
        unjudged = catalog.con.execute(
            """SELECT count(*) FROM recordings r WHERE NOT EXISTS (SELECT 1 FROM audio_stats a WHERE a.recording_id = r.recording_id)
               AND NOT EXISTS (SELECT 1 FROM findings f WHERE f.recording_id = r.recording_id AND f.severity = 'error')"""
        ).fetchone()[0]
    assert unjudged == 0  # every file is either validated or excluded with a reason


def test_config_mistakes_are_one_sentence_from_a_real_process(tmp_path):
    cases = {
        "wrong type": ("data:\n  min_duration_sec: two\n", "data.min_duration_sec"),
        "unknown key": ("data:\n  raw_root: /x\n", "data.raw_root: unknown setting"),
        "missing root": ("data:\n  raw_audio_root: /does/not/exist\n", "does not exist"),
    }
    for name, (text, expected) in cases.items():
        config = tmp_path / f"{name.replace(' ', '_')}.yaml"
        config.write_text(text)
        result = subprocess.run(
            [sys.executable, "-m", "homecat", "--catalog", str(tmp_path / "c.duckdb"), "--config", str(config), "scan"],
            capture_output=True,
            text=True,
            env={k: v for k, v in os.environ.items() if not k.startswith("HOMECAT_")},
        )
        assert result.returncode == 2, name
        assert expected in result.stderr and "Traceback" not in result.stderr, (name, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, (name, result.stderr)


# --------------------------------------------------------------------------- training drills (real processes)

TRAIN_STAGE_LIMIT_SEC = 120


def _drill_corpus(base: Path, training: dict) -> tuple[Path, Path]:
    """The demo corpus scanned, validated and split, and a tiny-model config: (config, catalog)."""
    from tests.test_train import _config  # the trainer tests' tiny model; imported here, so the drills above
    # still run while homecat.train does not import

    make_demo_corpus(base / "raw", minutes=0.5)
    config = _config(base / "drill.yaml", training)
    overrides = {"paths.catalog": base / "catalog.duckdb", "data.raw_audio_root": base / "raw"}
    settings = load_settings(config, overrides, environ={}, cwd=base).settings
    with Catalog.open(settings.paths.catalog) as catalog:
        scan(catalog, settings.data)
        validate(catalog, settings.validate, settings.data, workers=1)
        assign_splits(catalog, settings.split)
    return config, settings.paths.catalog


@pytest.fixture
def start_training():
    """start(config, catalog, artifacts, *args): `python -m homecat.train` in its own session, one thread,
    stdout/stderr into <artifacts>.{out,err}; whatever is still running at teardown is killed."""
    started: list[subprocess.Popen] = []

    def start(config: Path, catalog: Path, artifacts: Path, *extra: str) -> subprocess.Popen:
        artifacts.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "HOMECAT_ARTIFACTS_DIR": str(artifacts), "OMP_NUM_THREADS": "1"}
        command = [sys.executable, "-m", "homecat.train", "--config", str(config), "--catalog", str(catalog), *extra]
        with open(f"{artifacts}.out", "a") as out, open(f"{artifacts}.err", "a") as err:
            process = subprocess.Popen(command, env=env, stdout=out, stderr=err, cwd=artifacts, start_new_session=True)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _finish(process: subprocess.Popen, artifacts: Path) -> str:
    """Wait for a training process; returns its stderr, failing with its tail if it did not exit 0."""
    process.wait(timeout=TRAIN_STAGE_LIMIT_SEC)  # on timeout the fixture kills it
    stderr = Path(f"{artifacts}.err").read_text()
    assert process.returncode == 0, stderr[-4000:]
    return stderr


def _train_rows(run: Path) -> list[dict]:
    """Training rows of logs/metrics.jsonl in file order (a line being written is left out)."""
    path = run / "logs" / "metrics.jsonl"
    rows = []
    for line in path.read_text().splitlines() if path.is_file() else []:
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if row.get("split") != "dev":
            rows.append(row)
    return rows


def _wait_until(process: subprocess.Popen, ready, what: str) -> None:
    """Poll (2 ms) until ready() holds; fail if the process ends first."""
    deadline = time.monotonic() + TRAIN_STAGE_LIMIT_SEC
    while time.monotonic() < deadline:
        if ready():
            return
        assert process.poll() is None, f"training ended (rc {process.returncode}) before {what}: give it more steps"
        time.sleep(0.002)
    raise AssertionError(f"no {what} after {TRAIN_STAGE_LIMIT_SEC} s")


def _complete_checkpoints(run: Path) -> list[int]:
    return sorted(int(p.name[5:]) for p in (run / "checkpoints").glob("step_*") if p.name[5:].isdigit())


def test_a_train_recording_deleted_mid_run_is_skipped_once_and_training_finishes(tmp_path, start_training):
    max_steps = 16  # one epoch of 64 crops: ~2 s of steps, most of them after the deletion
    config, catalog = _drill_corpus(tmp_path, {"max_steps": max_steps, "save_steps": 8})
    artifacts = tmp_path / "artifacts"
    run = artifacts / "training" / "wav2vec2-ssl"
    process = start_training(config, catalog, artifacts)
    _wait_until(process, lambda: bool(_train_rows(run)), "the first metrics row")
    # the longest train recording of the run's own snapshot: the one most crops are drawn from
    rows = pq.read_table(run / "index" / "train.parquet", columns=["rel_path", "path", "frames", "sample_rate"])
    rows = rows.to_pylist()
    assert len(rows) > 1  # another recording to draw from
    victim = max(rows, key=lambda r: r["frames"] / r["sample_rate"])
    Path(victim["path"]).rename(f"{victim['path']}.gone")  # gone from where the index says it is
    assert process.poll() is None, "training ended before the recording was deleted: give it more steps"
    stderr = _finish(process, artifacts)

    assert (run / "final" / "model.safetensors").is_file()
    state = json.loads((run / "trainer_state.json").read_text())
    assert state["global_step"] == state["max_steps"] == max_steps
    assert [r["step"] for r in _train_rows(run)] == list(range(1, max_steps + 1))
    mentions = [line for line in stderr.splitlines() if victim["rel_path"] in line]
    assert len(mentions) == 1 and "WARNING" in mentions[0], (victim["rel_path"], stderr[-4000:])


def test_a_run_killed_between_checkpoints_resumes_from_the_last_complete_one(tmp_path, start_training):
    """SIGKILL after step_3 (before step_9), a half-written .step_N.tmp planted: --resume picks the complete
    checkpoint and logs the same per-step losses as an uninterrupted reference run (started alongside)."""
    max_steps, every = 9, 3
    config, catalog = _drill_corpus(tmp_path, {"max_steps": max_steps, "save_steps": every})
    reference = start_training(config, catalog, tmp_path / "reference")
    killed_artifacts = tmp_path / "killed"
    run = killed_artifacts / "training" / "wav2vec2-ssl"
    killed = start_training(config, catalog, killed_artifacts)
    _wait_until(
        killed,
        lambda: (run / "checkpoints" / f"step_{every}").is_dir() and any(r["step"] > every for r in _train_rows(run)),
        f"checkpoint step_{every} and a later step",
    )
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait()
    assert not (run / "final").exists()
    last = _complete_checkpoints(run)[-1]
    assert every <= last < max_steps

    # what a kill during the next save leaves: a temp folder with a cut-short model and no run state
    planted = run / "checkpoints" / f".step_{last + every}.tmp"
    shutil.copytree(run / "checkpoints" / f"step_{last}", planted, dirs_exist_ok=True)
    weights = planted / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    for name in ("trainer_state.json", "custom_checkpoint_2.pkl"):
        (planted / name).unlink(missing_ok=True)

    _finish(start_training(config, catalog, killed_artifacts, "--resume"), killed_artifacts)
    _finish(reference, tmp_path / "reference")

    provenance = json.loads((run / "provenance.json").read_text())
    assert provenance["resumed_from"] == [f"step_{last}"]
    state = json.loads((run / "trainer_state.json").read_text())
    assert state["global_step"] == max_steps and (run / "final" / "model.safetensors").is_file()
    assert _complete_checkpoints(run) == [3, 6, 9]
    assert not list((run / "checkpoints").glob(".*"))  # the planted temp folder was cleared by the next save
    resumed = _train_rows(run)
    assert [r["step"] for r in resumed] == list(range(1, max_steps + 1))  # rows after the checkpoint not duplicated
    whole = {r["step"]: r["loss"] for r in _train_rows(tmp_path / "reference" / "training" / "wav2vec2-ssl")}
    for row in resumed:
        assert row["loss"] == pytest.approx(whole[row["step"]], abs=1e-5), row["step"]


def test_a_dev_recording_that_vanishes_does_not_stop_training(tmp_path, start_training):
    """Dev evaluation skips crops it cannot read (the row counts the crops used) instead of ending the run."""
    config, catalog = _drill_corpus(tmp_path, {"max_steps": 4, "save_steps": 4, "eval_steps": 2})
    artifacts = tmp_path / "artifacts"
    run = artifacts / "training" / "wav2vec2-ssl"
    with Catalog.open(catalog) as cat:
        dev_paths = [
            r[0]
            for r in cat.con.execute(
                "SELECT r.path FROM splits s JOIN recordings r USING (recording_id) WHERE s.split = 'dev'"
            ).fetchall()
        ]
    assert dev_paths
    for path in dev_paths:  # after the split, before training reads them: every dev crop is unreadable
        Path(path).rename(f"{path}.gone")
    _finish(start_training(config, catalog, artifacts), artifacts)

    state = json.loads((run / "trainer_state.json").read_text())
    assert state["global_step"] == 4
    dev_rows = [json.loads(line) for line in (run / "logs" / "metrics.jsonl").read_text().splitlines()]
    dev_rows = [r for r in dev_rows if r.get("split") == "dev"]
    assert dev_rows and all(r["dev_crops"] == 0 and r["dev_loss"] is None for r in dev_rows)


def test_a_stop_signal_during_setup_stops_at_once_and_after_setup_waits_for_the_step():
    """Setup (data, model) has nothing to checkpoint and may take long: a signal there ends it with exit 99 at once;
    once setup is done the handler only records, and the loop stops after the current step."""
    from homecat.train.signals import EXIT_STOPPED, StopRequest, TrainingStopped

    before = signal.getsignal(signal.SIGTERM)
    stop = StopRequest().install(resumable=True)
    try:
        with pytest.raises(TrainingStopped) as info:
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(10**7):  # a long setup step: the handler interrupts it
                pass
        assert info.value.exit_code == EXIT_STOPPED
        assert info.value.lines == [
            "Stopped on SIGTERM during setup, before the first step of this start: nothing new to save; run again "
            f"with --resume (exit code {EXIT_STOPPED})."
        ]
        stop.setup_done()
        os.kill(os.getpid(), signal.SIGUSR1)
        assert stop.requested and stop.signal_name == "SIGUSR1"
    finally:
        stop.restore()
    assert signal.getsignal(signal.SIGTERM) is before


def test_data_workers_ignore_the_stop_signals():
    """A DataLoader worker's init: SIGTERM and SIGUSR1 (scancel signals every process) are the training process's."""
    import multiprocessing

    from homecat.train.signals import ignore_stop_signals

    def worker(queue) -> None:
        ignore_stop_signals(0)
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGUSR1)
        queue.put("alive")

    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    process = context.Process(target=worker, args=(queue,))
    process.start()
    process.join(timeout=TRAIN_STAGE_LIMIT_SEC)
    assert process.exitcode == 0 and queue.get(timeout=1) == "alive"


def test_weights_that_become_non_finite_stop_the_run_and_keep_the_last_good_checkpoint(tmp_path):
    """An infinite learning rate in step 3 (set by the batch hook, after checkpoint step_2): the run
    stops in that step with one sentence; step_2 stays the newest checkpoint and no final/ is written."""
    from homecat.train import NonFiniteLoss, Trainer

    config, catalog = _drill_corpus(tmp_path, {"max_steps": 4, "save_steps": 2})
    overrides = {"paths.catalog": catalog, "paths.artifacts_dir": tmp_path / "artifacts"}
    settings = load_settings(config, overrides, environ={}, cwd=tmp_path).settings
    trainers: list = []

    def overflow_in_step_3(step: int, micro: int, x):
        if step == 3:
            for group in trainers[0].optimizer.param_groups:
                group["lr"] = float("inf")  # what learning_rate: .inf did before settings refused it
        return x

    trainer = Trainer(settings, on_batch=overflow_in_step_3, show_progress=False)
    trainers.append(trainer)
    with pytest.raises(NonFiniteLoss) as info:
        trainer.run()
    run = tmp_path / "artifacts" / "training" / "wav2vec2-ssl"
    (line,) = info.value.lines
    assert line.startswith("The weights became non-finite in optimizer step 3 ("), line
    assert f"{run / 'checkpoints' / 'step_2'} is the last good checkpoint" in line
    assert _complete_checkpoints(run) == [2] and not (run / "final").exists()


def test_a_run_that_crashes_with_data_workers_exits_instead_of_waiting_for_them(tmp_path):
    """Data workers ignore SIGTERM, so multiprocessing's exit-time terminate cannot end them: the trainer shuts them
    down itself when the run ends anyhow, here by an unexpected error in step 2 (a traceback, exit 1, no hang)."""
    config, catalog = _drill_corpus(tmp_path, {"max_steps": 4, "num_workers": 1})
    script = (
        "import sys\nfrom homecat.settings import load_settings\nfrom homecat.train import train\n"
        f"settings = load_settings({str(config)!r}, {{'paths.catalog': {str(catalog)!r}, "
        f"'paths.artifacts_dir': {str(tmp_path / 'artifacts')!r}}}, environ={{}}).settings\n"
        "def crash(step, micro, x):\n    if step == 2:\n        raise RuntimeError('unexpected')\n    return x\n"
        "train(settings, on_batch=crash, show_progress=False)\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=TRAIN_STAGE_LIMIT_SEC
    )
    assert done.returncode == 1 and "RuntimeError: unexpected" in done.stderr, done.stderr[-3000:]
