# Sourced by the stage wrappers and the SLURM script. They run in the caller's working directory (relative
# --config paths, the catalog and artifacts/ are the caller's, never the checkout's) with the environment the
# user activated (conda, module, venv; its torch build matches the cluster's CUDA). Nothing is installed here:
# only scripts/demo.sh and scripts/test.sh may make their own .venv (scripts/_setup.sh).
# HOMECAT_SCRIPTS: this folder (the wrappers and the SLURM job call each other through it); HOMECAT_EXAMPLES (not
# exported): the examples beside it.
# REQUIRE lists the commands the caller needs (default: homecat).
set -euo pipefail
HOMECAT_SCRIPTS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
HOMECAT_EXAMPLES=$(cd "$HOMECAT_SCRIPTS/.." && pwd)/examples
export HOMECAT_SCRIPTS
# A --config given to a wrapper holds for every command it runs, not only the first (sourced, this sees its arguments).
for ((i = 1; i <= $#; i++)); do
    case "${!i}" in
        --config) j=$((i + 1)); [ "$j" -le $# ] && export HOMECAT_CONFIG="${!j}" ;;
        --config=*) export HOMECAT_CONFIG="${!i#--config=}" ;;
    esac
done
for command in ${REQUIRE:-homecat}; do
    if ! command -v "$command" >/dev/null 2>&1; then
        echo "Error: '$command' is not on PATH: activate the environment homecat is installed in (conda activate …, module load …, source .venv/bin/activate), or install it there with 'pip install -e .' after the torch build that matches your CUDA (README: Installing on a cluster)." >&2
        exit 127
    fi
done
