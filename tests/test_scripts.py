"""The stage wrappers in scripts/ run in the environment the user activated and install nothing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import write_tone

REPO = Path(__file__).resolve().parent.parent


def _copy_scripts(tmp: Path) -> Path:
    """A copy of scripts/ in an otherwise empty folder: whatever a wrapper creates there is visible."""
    shutil.copytree(REPO / "scripts", tmp / "scripts")
    return tmp / "scripts"


def _env(tmp: Path, path: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("HOMECAT_", "VIRTUAL_ENV"))}
    return {**keep, "PATH": path, "PYTHONPATH": str(REPO), "HOMECAT_CATALOG": str(tmp / "c.duckdb")}


def test_a_wrapper_runs_in_the_callers_folder_with_the_active_environment_and_creates_no_venv(tmp_path):
    """Run from a lab's project folder: its relative --config is read there, the catalog and artifacts/ land
    there, and the checkout gets nothing (no .venv, no catalog, no artifacts)."""
    scripts = _copy_scripts(tmp_path / "repo")
    write_tone(tmp_path / "raw" / "P01" / "a.wav", 1.0)
    project = tmp_path / "project"
    project.mkdir()
    (project / "my.yaml").write_text(
        f"paths:\n  catalog: catalog/lab.duckdb\ndata:\n  raw_audio_root: {tmp_path / 'raw'}\n"
    )
    env = _env(tmp_path, f"{Path(sys.executable).parent}:/usr/bin:/bin")
    del env["HOMECAT_CATALOG"]
    done = subprocess.run(
        ["bash", str(scripts / "run_ingestion.sh"), "--config", "my.yaml"],
        env=env, cwd=project, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert (project / "catalog" / "lab.duckdb").is_file()
    assert (project / "artifacts" / "export" / "raw_audio_manifest.parquet").is_file()
    assert sorted(p.name for p in (tmp_path / "repo").iterdir()) == ["scripts"]


def test_a_wrapper_without_homecat_on_path_stops_with_one_sentence(tmp_path):
    scripts = _copy_scripts(tmp_path / "repo")
    done = subprocess.run(
        ["bash", str(scripts / "run_validation.sh")], env=_env(tmp_path, "/usr/bin:/bin"),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 127
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "'homecat' is not on PATH" in lines[0] and "activate" in lines[0], done.stderr
    assert not (tmp_path / "repo" / ".venv").exists()


def _slurm_stand_ins(bin_dir: Path, calls: Path) -> None:
    """srun and scontrol as a job sees them, for the batch script's own logic (no SLURM here): srun records its
    arguments and the launch variables and exits with $SRUN_EXIT; scontrol expands a node list or records."""
    bin_dir.mkdir()
    (bin_dir / "srun").write_text(
        f'#!/bin/sh\necho "srun $* ip=$MAIN_PROCESS_IP port=$MAIN_PROCESS_PORT gpus=$GPUS_PER_NODE" >> {calls}\n'
        'exit "${SRUN_EXIT:-0}"\n'
    )
    (bin_dir / "scontrol").write_text(
        '#!/bin/sh\nif [ "$1 $2" = "show hostnames" ]; then printf "gpu-a\\ngpu-b\\n"; exit 0; fi\n'
        'if [ "$1 $2" = "show job" ]; then echo "   Command=$SUBMITTED_FILE my.yaml"; exit 0; fi\n'
        f'echo "scontrol $*" >> {calls}\n'
    )
    for tool in ("srun", "scontrol"):
        (bin_dir / tool).chmod(0o755)


def test_the_slurm_script_requeues_on_exit_99_and_the_next_job_resumes(tmp_path):
    """Submitted from a project folder (not the checkout): the job finds its scripts from the submitted file."""
    scripts = _copy_scripts(tmp_path / "repo")
    project = tmp_path / "project"
    project.mkdir()
    calls = tmp_path / "calls.txt"
    _slurm_stand_ins(tmp_path / "bin", calls)
    run = tmp_path / "run"
    (project / "my.yaml").write_text(f"training:\n  output_dir: {run}\n")
    path = f"{tmp_path / 'bin'}:{Path(sys.executable).parent}:/usr/bin:/bin"
    slurm = {"SLURM_JOB_ID": "4242", "SLURM_JOB_NODELIST": "gpu-[a-b]", "SLURM_JOB_NUM_NODES": "2",
             "SLURM_SUBMIT_DIR": str(project), "SLURM_CPUS_PER_TASK": "8", "SLURM_GPUS_ON_NODE": "4",
             "SUBMITTED_FILE": str(scripts / "slurm_train.sbatch")}  # fmt: skip

    def job(srun_exit: int) -> subprocess.CompletedProcess:
        env = {**_env(tmp_path, path), **slurm, "SRUN_EXIT": str(srun_exit)}
        spool = tmp_path / "spool" / "slurm_script"  # sbatch runs a copy of the submitted file
        spool.parent.mkdir(exist_ok=True)
        shutil.copy(scripts / "slurm_train.sbatch", spool)
        command = ["bash", str(spool), "my.yaml"]
        return subprocess.run(command, env=env, cwd=project, capture_output=True, text=True, timeout=60)

    stopped = job(99)  # the trainer stopped before the time limit, after a checkpoint
    assert stopped.returncode == 0, stopped.stderr
    first = calls.read_text().splitlines()
    assert first[0].startswith("srun --ntasks-per-node=1 --cpus-per-task=8 ") and "--resume" not in first[0]
    assert f"{scripts}/launch_node.sh --config my.yaml" in first[0] and "ip=gpu-a" in first[0] and "gpus=4" in first[0]
    assert first[1] == "scontrol requeue 4242"

    (run / "checkpoints" / "step_300").mkdir(parents=True)  # what the stopped job left
    calls.unlink()
    finished = job(0)  # the requeued job: same script, same arguments
    assert finished.returncode == 0, finished.stderr
    (second,) = calls.read_text().splitlines()  # no requeue this time
    assert second.split(" ip=")[0].endswith("--config my.yaml --resume")
    failed = job(1)
    assert failed.returncode == 1 and "scontrol requeue" not in calls.read_text()
