#!/usr/bin/env bash
# Training stage: continued self-supervised pretraining of wav2vec2 on this node's GPUs, in the active environment.
#   scripts/run_train_ssl.sh --config my.yaml             # new run, every GPU of the node
#   NUM_GPUS=2 scripts/run_train_ssl.sh --config my.yaml --resume    # continue from the newest checkpoint
# Arguments go to `python -m homecat.train`; scripts/launch_node.sh does the launching (ACCELERATE_CONFIG, default
# examples/accelerate_4gpu_fp16.yaml). Several nodes: scripts/slurm_train.sbatch. Exit code 99: stopped on
# SIGUSR1/SIGTERM after a complete checkpoint.
set -euo pipefail
export NUM_MACHINES=1 MACHINE_RANK=0 GPUS_PER_NODE=${NUM_GPUS:-${GPUS_PER_NODE:-}}
[ -n "$GPUS_PER_NODE" ] || unset GPUS_PER_NODE
exec "$(dirname "$0")/launch_node.sh" "$@"
