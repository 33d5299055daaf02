#!/usr/bin/env bash
# The main command (README): set up, then start the sandbox, the web app and
# a worker with beat on the embedded defaults (SQLite, filesystem broker);
# their settings go to .env too, for the commands run in another shell.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python scripts/demo.py
