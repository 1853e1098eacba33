#!/usr/bin/env bash
# The project's one test command: lint, format check, type check, then the whole suite.
# Extra arguments go to pytest (e.g. ./run_tests.sh -k pipeline).
set -euo pipefail
cd "$(dirname "$0")"
source scripts/ensure_venv.sh
ensure_venv test

echo "== ruff check" && ruff check .
echo "== ruff format --check" && ruff format --check .
echo "== mypy (strict: keypoints, transforms, pipeline)" && mypy
echo "== hadolint Dockerfile" && hadolint Dockerfile
echo "== pytest" && python -m pytest -ra "$@"
