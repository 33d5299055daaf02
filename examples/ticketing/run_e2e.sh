#!/usr/bin/env bash
# Prove crm_sync is reusable: build its wheel from this repository, install it
# into a fresh virtualenv with nothing else from the repository, and run the
# ticketing example's tests (a real Celery worker syncing to the AC sandbox).
#
#   bash examples/ticketing/run_e2e.sh [pytest arguments]
#
# Honours DATABASE_URL and CELERY_BROKER_URL (e.g. PostgreSQL + Redis in CI);
# without them it needs no services: SQLite and kombu's filesystem broker.
# PYTHON picks the interpreter for the virtualenv (default: python3).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$HERE/../.." && pwd)"
PYTHON="${PYTHON:-python3}"
VENV="$HERE/.venv"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/ticketing-e2e.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
started=$SECONDS

echo "== a fresh virtualenv in $VENV"
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"

echo "== the crm_sync wheel, built from $REPO_ROOT"
# Built from a copy of what the wheel is made of, so that no build/ or
# *.egg-info is left in the repository and no stale build/ leaks into the wheel.
mkdir "$WORK/src" "$WORK/dist"
tar -C "$REPO_ROOT" --exclude=__pycache__ -cf - pyproject.toml setup.cfg README.md crm_sync | tar -C "$WORK/src" -xf -
"$VENV/bin/python" -m pip wheel --quiet --no-deps -w "$WORK/dist" "$WORK/src"
wheel="$(ls "$WORK"/dist/crm_sync-*.whl)"
echo "   $(basename "$wheel")"

echo "== installing the wheel, the example's requirements and pytest"
"$VENV/bin/python" -m pip install --quiet "$wheel" -r "$HERE/requirements.txt" pytest pytest-django

echo "== the example's tests (PYTHONPATH unset: only the virtualenv is importable)"
cd "$HERE"
unset PYTHONPATH
if [[ -z "${CELERY_BROKER_URL:-}" || "$CELERY_BROKER_URL" == filesystem://* ]]; then
  # A broker directory of this run's own, shared by the tests and the worker they start.
  export CELERY_FILESYSTEM_BROKER_DIR="${CELERY_FILESYSTEM_BROKER_DIR:-$WORK/broker}"
fi
status=0
"$VENV/bin/python" -m pytest "$@" || status=$?
echo "== run_e2e.sh finished in $((SECONDS - started))s (pytest exit status $status)"
exit $status
