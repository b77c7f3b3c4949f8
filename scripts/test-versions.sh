#!/usr/bin/env bash
# Unit tests and the integration smoke on each CPython 3.9+ found under pyenv (or on the PATH), then
# once more with the oldest docker SDK supported (6.1.3) in a venv of its own.
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

# The oldest docker SDK threadpty supports, with the requests of its time: what docker-compose v1
# and other dockerpty-era programs run on (the SDK 7 dropped kwargs_from_env(ssl_version=...)).
py=${PYTHON:-python3}
venv=.venv-docker6.1
echo "== docker SDK 6.1.3 + requests 2.31 on $("$py" --version)"
[ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
"$venv/bin/python" -m pip install -q -e '.[test]' 'docker==6.1.3' 'requests==2.31.*'
"$venv/bin/python" -c 'import docker, requests; print("docker", docker.__version__, "requests", requests.__version__)'
if ! "$venv/bin/python" -m pytest -q -m "not integration or smoke" -p no:cacheprovider; then
    failed+=("docker 6.1.3")
fi
found=$((found + 1))
if [ ${#failed[@]} -gt 0 ]; then
    echo "failed on: ${failed[*]}" >&2
    exit 1
fi
echo "all $found runs passed (each Python with the newest SDK, and SDK 6.1.3)"
