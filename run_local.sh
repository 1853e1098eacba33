#!/usr/bin/env bash
# Run the pipeline on this machine: DirectRunner, one worker per core (see README.md).
# A thin wrapper over `signkps local` that creates .venv first.
#   ./run_local.sh --demo                         a small corpus built from a sample image
#   ./run_local.sh --input_root C --output_root O [options]   (see README.md)
set -euo pipefail
cd "$(dirname "$0")"
source scripts/ensure_venv.sh
ensure_venv ""
exec signkps local "$@"
