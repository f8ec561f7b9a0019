#!/usr/bin/env bash
# The main job on a synthetic demo corpus: set up, synthesize, scan, summarise.
# Leaves only: the demo corpus folder ($DEMO_DIR, default demo_corpus/), catalog/demo.duckdb and artifacts/.
set -euo pipefail
. "$(dirname "$0")/_setup.sh"
DEMO_DIR=${DEMO_DIR:-demo_corpus}
export HOMECAT_CATALOG=${HOMECAT_CATALOG:-catalog/demo.duckdb}

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

if [ ! -f "$DEMO_DIR/DEMO_CORPUS.txt" ]; then
    step "Synthesizing the demo corpus in $DEMO_DIR"
    homecat demo-corpus "$DEMO_DIR" --minutes "${DEMO_MINUTES:-3}"
fi
step "Scanning (headers only; a rerun opens only new or changed files)"
homecat scan --root "$DEMO_DIR"
step "What is in the catalog"
homecat report summary
step "Validating (streams each new or changed file once)"
homecat validate
homecat report findings --severity error
step "Silence and activity, from the stored window levels (picture: artifacts/silence.png)"
homecat report silence --plot artifacts/silence.png
step "Participant-grouped splits (existing assignments never move)"
homecat split
homecat report splits
step "Eight training crops, drawn exactly as training would"
homecat crops preview --n 8
step "Training a tiny random wav2vec2 for 10 steps on CPU (checkpoint at step 5), then resuming from step 5"
rm -rf artifacts/training/demo-tiny
homecat --config examples/train.tiny.yaml train
homecat --config examples/train.tiny.yaml train --resume-from artifacts/training/demo-tiny/checkpoints/step_5
homecat report training artifacts/training/demo-tiny --last 5 --plot artifacts/training/demo-tiny/curves.png

cat <<MSG

Done. Artifacts:
  demo corpus   $DEMO_DIR/
  catalog       $HOMECAT_CATALOG   (try: homecat --catalog $HOMECAT_CATALOG sql "SELECT * FROM recordings")
Next, on your own data:
  homecat --config my.yaml scan        # my.yaml sets data.raw_audio_root (see examples/config.example.yaml)
  homecat report summary
MSG
