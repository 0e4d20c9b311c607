#!/usr/bin/env bash
# Runs check.py with the official 1msg Python SDK (one-msg-sdk==1.0.2, PyPI)
# against a running waform sandbox: a client nobody here wrote.
#
#   scripts/sdk_check/run.sh BASE_URL INSTANCE TOKEN
#
# The venv is cached (default target/sdk-check-venv; WAFORM_SDK_VENV
# overrides) and built under a lock, so parallel and repeated runs are cheap.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${WAFORM_SDK_VENV:-$here/../../target/sdk-check-venv}"
python="${PYTHON:-python3}"

ready() { [ -f "$venv/.waform-ready" ] && [ -x "$venv/bin/python" ]; }

if ! ready; then
  mkdir -p "$(dirname "$venv")"
  exec 9>"$venv.lock"
  flock 9
  if ! ready; then
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check one-msg-sdk==1.0.2
    touch "$venv/.waform-ready"
  fi
  flock -u 9
fi

exec "$venv/bin/python" "$here/check.py" "$@"
