#!/usr/bin/env bash
# Training stage: continued self-supervised pretraining of wav2vec2 on one node with N GPUs.
#   NUM_GPUS=4 scripts/run_train_ssl.sh --config my.yaml             # new run
#   NUM_GPUS=4 scripts/run_train_ssl.sh --config my.yaml --resume    # continue from the newest checkpoint
# Arguments go to `python -m homecat.train`. ACCELERATE_CONFIG (default examples/accelerate_4gpu_fp16.yaml)
# sets the launcher; NUM_GPUS overrides its process count. One GPU or CPU: `homecat --config my.yaml train`.
set -euo pipefail
. "$(dirname "$0")/_setup.sh"
ACCELERATE_CONFIG=${ACCELERATE_CONFIG:-examples/accelerate_4gpu_fp16.yaml}
NUM_GPUS=${NUM_GPUS:-$(python -c "import torch; print(max(torch.cuda.device_count(), 1))")}
if [ "$NUM_GPUS" -gt 1 ]; then
    exec accelerate launch --config_file "$ACCELERATE_CONFIG" --num_processes "$NUM_GPUS" -m homecat.train "$@"
fi
exec python -m homecat.train "$@"
