#!/usr/bin/env bash
# The main job, end to end, on a synthetic demo corpus (CPU, a few minutes on 2 cores):
# set up, synthesize, scan, validate, silence report + plot, split, vad + activity report, segments import,
# crop preview, a short training run
# of a tiny random wav2vec2 with one checkpoint and one resume, export, embed + probe + evaluate of the run's
# random start against the trained run and eGeMAPS, and a dry-run push whose card carries that probe.
# Leaves only: the demo corpus folder ($DEMO_DIR, default demo_corpus/), catalog/demo.duckdb, artifacts/
# (and .venv/, made by the setup when the active environment lacks homecat).
set -euo pipefail
cd "$(dirname "$0")/.."
# An activated environment (conda, module, venv) that already has homecat with the probe and vad extras is used as
# it is; otherwise .venv/ is made and installed into (probe: scikit-learn + opensmile; vad: Silero VAD on onnxruntime).
if command -v homecat >/dev/null 2>&1 && python -c "import homecat, sklearn, opensmile, onnxruntime, silero_vad" 2>/dev/null; then
    echo "Using the active environment ($(command -v homecat))."
else
    SETUP_EXTRAS=probe,vad . scripts/_setup.sh
fi
DEMO_DIR=${DEMO_DIR:-demo_corpus}
export HOMECAT_CATALOG=${HOMECAT_CATALOG:-catalog/demo.duckdb}
RUN=artifacts/training/demo-tiny

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

if [ ! -f "$DEMO_DIR/DEMO_CORPUS.txt" ]; then
    step "Synthesizing the demo corpus in $DEMO_DIR"
    homecat demo-corpus -o "$DEMO_DIR" --minutes "${DEMO_MINUTES:-3}"
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
step "Voice activity with Silero VAD (incremental; picture of hours, speech and crop shares: artifacts/activity.png)"
homecat vad
homecat --config examples/train.tiny.yaml report activity --plot artifacts/activity.png
step "Annotated segments: the events the generator placed (re-importing a file replaces its rows)"
# P01_day1.TextGrid and P02_day1.eaf hold the same events of two recordings as Praat and ELAN files;
# 'homecat segments import' reads them the same way (not here: their events would count twice).
homecat segments import "$DEMO_DIR/annotations.csv"
homecat report segments
step "Eight training crops, drawn exactly as training would (mixture policy: each crop's part and speech share)"
homecat --config examples/train.tiny.yaml crops preview --n 8
step "Training a tiny random wav2vec2 for 10 steps on CPU (checkpoint at step 5), then resuming from step 5"
rm -rf "$RUN"
homecat --config examples/train.tiny.yaml train
homecat --config examples/train.tiny.yaml train --resume-from "$RUN/checkpoints/step_5"
homecat report training --run "$RUN" --last 5 --plot "$RUN/curves.png"
step "Exports for pandas/polars and DVC"
homecat export -o artifacts/export
step "Did pretraining help? The run's random start vs the trained run vs eGeMAPS, probed on the annotations"
# initial/ holds the run's starting weights (training.base_model is null); a real run compares against the base id.
# --overwrite: the run was retrained above; unchanged weights keep their vectors, changed ones are recomputed.
homecat embed --model "$RUN/initial" --model "$RUN/final" --features egemaps --overwrite
homecat probe --plot artifacts/probe.png
homecat --config examples/train.tiny.yaml evaluate --model "$RUN/initial" --model "$RUN/final"
step "What a push would send to the Hub (dry run: no token needed, nothing sent; the card's evidence is the probe above)"
homecat --config examples/train.tiny.yaml push --run "$RUN" --dry-run

cat <<MSG

Done. Artifacts:
  demo corpus      $DEMO_DIR/
  catalog          $HOMECAT_CATALOG   (homecat --catalog $HOMECAT_CATALOG sql "SELECT * FROM findings")
  activity plots   artifacts/silence.png, artifacts/activity.png (speech and crop-policy shares)
  exports          artifacts/export/   (raw_audio_manifest, invalid_files, audio_stats, train/dev splits)
  training run     $RUN/   (final/ model, checkpoints/, logs/metrics.jsonl, curves.png, trainer_state.json)
  push staging     $RUN/hub_staging/   (exactly what 'homecat push' would upload)
  embeddings       artifacts/embeddings/   (demo-tiny-initial, demo-tiny, egemaps); probe plot artifacts/probe.png
Next, on your own data (see README "From your recordings to the Hub"):
  cp examples/train.example.yaml my.yaml       # set data.raw_audio_root, paths.catalog, training.run_name
  homecat --config my.yaml scan --hash && homecat --config my.yaml validate
  homecat --config my.yaml vad && homecat --config my.yaml split     # vad: the mixture crop policy needs it
  NUM_GPUS=4 scripts/run_train_ssl.sh --config my.yaml
  homecat --config my.yaml push --run artifacts/training/<run-name>
MSG
