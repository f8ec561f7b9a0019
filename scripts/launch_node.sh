#!/usr/bin/env bash
# One node's share of a training run: `accelerate launch` of this node's processes (one process: plain python).
# Arguments go to `python -m homecat.train`; it runs in the caller's folder (relative --config, artifacts/). Under SLURM (scripts/slurm_train.sbatch: one srun task per node)
# the machine values come from SLURM's variables; by hand, set them yourself:
#   scripts/launch_node.sh --config my.yaml                                    # this node's GPUs, one machine
#   NUM_MACHINES=2 MACHINE_RANK=0 MAIN_PROCESS_IP=10.0.0.5 scripts/launch_node.sh --config my.yaml   # node 0
#   NUM_MACHINES=2 MACHINE_RANK=1 MAIN_PROCESS_IP=10.0.0.5 scripts/launch_node.sh --config my.yaml   # node 1
# NUM_MACHINES (SLURM_JOB_NUM_NODES, else 1), MACHINE_RANK (SLURM_NODEID, else 0), MAIN_PROCESS_IP (first host of
# SLURM_JOB_NODELIST, else 127.0.0.1), MAIN_PROCESS_PORT (29500), GPUS_PER_NODE (the GPUs this node sees, at least
# 1), ACCELERATE_CONFIG (the checkout's examples/accelerate_4gpu_fp16.yaml; empty: none), ACCELERATE_ARGS (extra launcher flags).
# Exit code 99: the trainer stopped on SIGUSR1/SIGTERM after writing a complete checkpoint; run again with --resume.
REQUIRE="homecat accelerate python" . "$(dirname "$0")/_env.sh"
EXIT_STOPPED=99

NUM_MACHINES=${NUM_MACHINES:-${SLURM_JOB_NUM_NODES:-1}}
MACHINE_RANK=${MACHINE_RANK:-${SLURM_NODEID:-0}}
if [ -z "${MAIN_PROCESS_IP:-}" ] && [ -n "${SLURM_JOB_NODELIST:-}" ]; then
    MAIN_PROCESS_IP=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
fi
MAIN_PROCESS_IP=${MAIN_PROCESS_IP:-127.0.0.1}
MAIN_PROCESS_PORT=${MAIN_PROCESS_PORT:-29500}
GPUS_PER_NODE=${GPUS_PER_NODE:-$(python -c "import torch; print(max(torch.cuda.device_count(), 1))")}
ACCELERATE_CONFIG=${ACCELERATE_CONFIG-$HOMECAT_EXAMPLES/accelerate_4gpu_fp16.yaml}

if [ "$NUM_MACHINES" -eq 1 ] && [ "$GPUS_PER_NODE" -eq 1 ]; then
    exec python -m homecat.train "$@"  # exits 99 itself after a signal
fi

# The launcher turns a worker's exit code into its own failure (1): the workers touch this file when they stop
# on a signal, so the code that says "resume me" survives.
HOMECAT_STOPPED_FILE=$(mktemp "${TMPDIR:-/tmp}/homecat-stopped.XXXXXX")
export HOMECAT_STOPPED_FILE
rm -f "$HOMECAT_STOPPED_FILE"
config=()
[ -n "$ACCELERATE_CONFIG" ] && config=(--config_file "$ACCELERATE_CONFIG")
# The launcher ignores SIGUSR1 (an ignored signal stays ignored across exec; by default it would kill it) ...
# shellcheck disable=SC2086  # ACCELERATE_ARGS holds several flags
(
    trap '' USR1
    exec accelerate launch "${config[@]}" ${ACCELERATE_ARGS:-} \
        --num_machines "$NUM_MACHINES" --machine_rank "$MACHINE_RANK" \
        --num_processes $((NUM_MACHINES * GPUS_PER_NODE)) \
        --main_process_ip "$MAIN_PROCESS_IP" --main_process_port "$MAIN_PROCESS_PORT" \
        -m homecat.train "$@"
) &
launcher=$!
# ... and this shell passes it on to the training processes, the launcher's children: torchrun starts each in a
# session of its own, so a signal to this process group alone (SLURM's proctrack/pgid) would not reach them.
# They record it and stop after the current optimizer step (homecat/train/signals.py); twice does no harm.
trap 'pkill -USR1 -P "$launcher" || true' USR1
# SIGTERM (scancel, or a kill of this script) the same way: the launcher itself, if it gets one too, passes it on
# to its processes and gives them 30 s (torchrun's shutdown timeout) before killing them; DataLoader workers
# ignore both signals (homecat/train/signals.py).
trap 'pkill -TERM -P "$launcher" || true' TERM
while :; do
    wait "$launcher" && status=0 || status=$?
    kill -0 "$launcher" 2>/dev/null || break # a trapped signal ends `wait` early: wait again
done
if [ -e "$HOMECAT_STOPPED_FILE" ]; then
    rm -f "$HOMECAT_STOPPED_FILE"
    echo "Training stopped on a signal after a complete checkpoint (exit $EXIT_STOPPED): run again with --resume." >&2
    exit "$EXIT_STOPPED"
fi
exit "$status"
