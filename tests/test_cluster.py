"""Cluster runs through scripts/launch_node.sh, as scripts/slurm_train.sbatch starts them on each node: SIGUSR1
(SLURM's --signal=USR1@N) or SIGTERM to every process (scancel) of a 2-process run with a DataLoader worker per
rank stops it after a complete checkpoint with exit code 99, and the
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
MAX_STEPS = 14  # room for two stops


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def drill(tmp_path_factory) -> dict:
    """The demo corpus and a tiny-model config, and the uninterrupted reference: two machines, started at once."""
    base = tmp_path_factory.mktemp("cluster")
    training = {"max_steps": MAX_STEPS, "save_steps": 1000, "eval_steps": 1000, "num_workers": 1}
    config, catalog = _drill_corpus(base, training)
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


def _process_tree(root: int) -> list[int]:
    """``root`` and all its descendants (torchrun starts each rank in a session of its own, so a process group
    does not hold them all), read from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            pid, rest = stat.read_text().split(" (", 1)
            parent = int(rest.rsplit(") ", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # ended while being read
        children.setdefault(parent, []).append(int(pid))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def _stopped(run: Path, stderr: str, signal_name: str, after: int) -> int:
    """The step the run stopped after: a complete checkpoint of it, the one sentence, no final/."""
    assert f"Stopped on {signal_name} after step" in stderr and "run again with --resume" in stderr
    assert stderr.count("Error: Stopped on") == 1  # said by rank 0 only
    assert "killed by signal" not in stderr, stderr[-4000:]  # no DataLoader worker died of it
    stopped_at = _complete_checkpoints(run)[-1]
    assert after < stopped_at < MAX_STEPS and not (run / "final").exists()
    checkpoint = run / "checkpoints" / f"step_{stopped_at}"
    for name in ("model.safetensors", "trainer_state.json", "random_states_0.pkl", "random_states_1.pkl"):
        assert (checkpoint / name).is_file(), name
    assert json.loads((checkpoint / "trainer_state.json").read_text())["global_step"] == stopped_at
    return stopped_at


def test_sigusr1_and_sigterm_stop_after_a_complete_checkpoint_with_exit_99_and_resume_matches(drill):
    """Stopped twice, resumed twice: SIGUSR1 to the script's process group (SLURM's --signal), then SIGTERM to
    every process of the run, the launcher, both ranks and their DataLoader workers (what scancel does)."""
    artifacts = drill["base"] / "stopped"
    run = artifacts / "training" / "wav2vec2-ssl"
    one_node = {"NUM_MACHINES": "1", "MACHINE_RANK": "0", "GPUS_PER_NODE": "2", "MAIN_PROCESS_PORT": _free_port()}
    process = _launch(drill["config"], drill["catalog"], artifacts, "first", one_node)
    _wait_until(process, lambda: bool(_train_rows(run)), "the first metrics row")
    os.killpg(process.pid, signal.SIGUSR1)  # what SLURM does: every process of the step gets it
    first_stop = _stopped(run, _wait(process, artifacts, "first", code=99), "SIGUSR1", 0)

    one_node["MAIN_PROCESS_PORT"] = _free_port()
    process = _launch(drill["config"], drill["catalog"], artifacts, "second", one_node, "--resume")
    _wait_until(process, lambda: any(r["step"] > first_stop for r in _train_rows(run)), "a row after the resume")
    tree = _process_tree(process.pid)
    assert len(tree) >= 6  # this script, the launcher, two ranks, a data worker each
    for pid in tree:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    _stopped(run, _wait(process, artifacts, "second", code=99), "SIGTERM", first_stop)

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
