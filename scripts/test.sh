#!/usr/bin/env bash
# The test command (README): set up, then run the whole suite.
# Extra arguments go to pytest, e.g. `scripts/test.sh tests/sync -x`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest -rs "$@"  # -rs: say why each skipped test was skipped
