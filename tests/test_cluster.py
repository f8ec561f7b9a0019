"""Cluster runs through scripts/launch_node.sh, as scripts/slurm_train.sbatch starts them on each node: SIGUSR1
(SLURM's --signal=USR1@N) to a 2-process run stops it after a complete checkpoint with exit code 99, and the
resumed run logs the same losses as an uninterrupted run on two "machines" on 127.0.0.1 (one CPU process each,
gloo), which also shows the multi-node launch: world size 2, different crops per rank, one writer."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_drills import _complete_checkpoints, _drill_corpus, _train_rows, _wait_until

REPO = Path(__file__).resolve().parent.parent
LAUNCH_LIMIT_SEC = 240
MAX_STEPS = 10


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def drill(tmp_path_factory) -> dict:
    """The demo corpus and a tiny-model config, and the uninterrupted reference: two machines, started at once."""
    base = tmp_path_factory.mktemp("cluster")
    config, catalog = _drill_corpus(base, {"max_steps": MAX_STEPS, "save_steps": 1000, "eval_steps": 1000})
    port = _free_port()
    machines = {"NUM_MACHINES": "2", "GPUS_PER_NODE": "1", "MAIN_PROCESS_IP": "127.0.0.1", "MAIN_PROCESS_PORT": port}
    reference = [
        _launch(config, catalog, base / "reference", f"machine{rank}", {**machines, "MACHINE_RANK": rank})
        for rank in (0, 1)
    ]
    yield {"base": base, "config": config, "catalog": catalog, "reference": reference}
    for process in reference:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _launch(config: Path, catalog: Path, artifacts: Path, name: str, machine: dict, *extra: str) -> subprocess.Popen:
    """scripts/launch_node.sh in its own session (like an srun task), output in <artifacts>/<name>.{out,err}."""
    artifacts.mkdir(parents=True, exist_ok=True)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SLURM_")},
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "PYTHONPATH": str(REPO),
        "HOMECAT_ARTIFACTS_DIR": str(artifacts),
        "OMP_NUM_THREADS": "1",
        # no CUDA here: --multi_gpu makes torchrun start the processes, Accelerate then picks gloo on CPU
        "ACCELERATE_CONFIG": "",
        "ACCELERATE_ARGS": "--multi_gpu --mixed_precision no --dynamo_backend no",
        **{k: str(v) for k, v in machine.items()},
    }
    command = ["bash", str(REPO / "scripts" / "launch_node.sh"), "--config", str(config), "--catalog", str(catalog)]
    with open(artifacts / f"{name}.out", "a") as out, open(artifacts / f"{name}.err", "a") as err:
        return subprocess.Popen([*command, *extra], env=env, stdout=out, stderr=err, start_new_session=True)


def _wait(process: subprocess.Popen, artifacts: Path, name: str, code: int = 0) -> str:
    process.wait(timeout=LAUNCH_LIMIT_SEC)
    stderr = (artifacts / f"{name}.err").read_text()
    assert process.returncode == code, stderr[-4000:]
    return stderr


def test_sigusr1_stops_after_a_complete_checkpoint_with_exit_99_and_resume_matches(drill):
    artifacts = drill["base"] / "stopped"
    run = artifacts / "training" / "wav2vec2-ssl"
    one_node = {"NUM_MACHINES": "1", "MACHINE_RANK": "0", "GPUS_PER_NODE": "2", "MAIN_PROCESS_PORT": _free_port()}
    process = _launch(drill["config"], drill["catalog"], artifacts, "first", one_node)
    _wait_until(process, lambda: bool(_train_rows(run)), "the first metrics row")
    os.killpg(process.pid, signal.SIGUSR1)  # what SLURM does: every process of the step gets it
    stderr = _wait(process, artifacts, "first", code=99)

    assert "Stopped on SIGUSR1 after step" in stderr and "run again with --resume" in stderr
    assert stderr.count("Error: Stopped on") == 1  # said by rank 0 only
    (stopped_at,) = _complete_checkpoints(run)
    assert 1 <= stopped_at < MAX_STEPS and not (run / "final").exists()
    checkpoint = run / "checkpoints" / f"step_{stopped_at}"
    for name in ("model.safetensors", "trainer_state.json", "random_states_0.pkl", "random_states_1.pkl"):
        assert (checkpoint / name).is_file(), name
    assert json.loads((checkpoint / "trainer_state.json").read_text())["global_step"] == stopped_at

    one_node["MAIN_PROCESS_PORT"] = _free_port()
    _wait(_launch(drill["config"], drill["catalog"], artifacts, "resumed", one_node, "--resume"), artifacts, "resumed")
    for rank, process in enumerate(drill["reference"]):
        _wait(process, drill["base"] / "reference", f"machine{rank}")
    resumed = _train_rows(run)
    assert [r["step"] for r in resumed] == list(range(1, MAX_STEPS + 1))
    whole = {r["step"]: r["loss"] for r in _train_rows(drill["base"] / "reference" / "training" / "wav2vec2-ssl")}
    for row in resumed:
        assert row["loss"] == pytest.approx(whole[row["step"]], abs=1e-5), row["step"]


def test_two_machines_train_to_completion_with_one_writer(drill):
    artifacts = drill["base"] / "reference"
    for rank, process in enumerate(drill["reference"]):
        _wait(process, artifacts, f"machine{rank}")
    run = artifacts / "training" / "wav2vec2-ssl"
    ranks = json.loads((run / "logs" / "ranks.json").read_text())
    assert ranks["world_size"] == 2
    first, second = ranks["first_batch_checksums"]
    assert first != second  # the ranks read different crops
    assert [r["step"] for r in _train_rows(run)] == list(range(1, MAX_STEPS + 1))  # each step logged once
    state = json.loads((run / "trainer_state.json").read_text())
    assert state["global_step"] == MAX_STEPS and (run / "final" / "model.safetensors").is_file()
    # the log lines come from the main process only, one per logged step
    lines = [line for line in (artifacts / "machine0.err").read_text().splitlines() if line.startswith("step ")]
    assert len(lines) == MAX_STEPS
    assert not [line for line in (artifacts / "machine1.err").read_text().splitlines() if line.startswith("step ")]
