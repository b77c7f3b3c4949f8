#!/usr/bin/env bash
# Unit tests and the integration smoke on each CPython 3.9+ found under pyenv (or on the PATH).
set -euo pipefail
cd "$(dirname "$0")/.."
found=0
failed=()
for minor in 9 10 11 12 13; do
    py=""
    for cand in "$HOME"/.pyenv/versions/3."$minor".*/bin/python3 "$(command -v python3."$minor" || true)"; do
        [ -x "$cand" ] && py=$cand && break
    done
    [ -n "$py" ] || continue
    found=$((found + 1))
    venv=".venv-3.$minor"
    echo "== $("$py" --version) ($py)"
    [ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
    "$venv/bin/python" -m pip install -q -e '.[test]'
    if ! "$venv/bin/python" -m pytest -q -m "not integration or smoke" -p no:cacheprovider; then
        failed+=("3.$minor")
    fi
done
[ "$found" -gt 0 ] || { echo "no CPython 3.9+ found" >&2; exit 1; }
if [ ${#failed[@]} -gt 0 ]; then
    echo "failed on: ${failed[*]}" >&2
    exit 1
fi
echo "all $found Python versions passed"
