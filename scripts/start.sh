#!/usr/bin/env bash
# The main command (README): set up, then start the sandbox, the web app and
# a worker with beat on the embedded defaults (SQLite, filesystem broker);
# their settings go to .env too, for the commands run in another shell.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The web app and the worker's pool processes write their metrics to one
# directory, emptied at each start (docs/operations.md, "Metrics").
export PROMETHEUS_MULTIPROC_DIR="${PROMETHEUS_MULTIPROC_DIR:-$PWD/var/prometheus}"
mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
find "$PROMETHEUS_MULTIPROC_DIR" -maxdepth 1 -name '*.db' -delete
exec .venv/bin/python scripts/demo.py
