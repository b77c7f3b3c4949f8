#!/usr/bin/env bash
# docker-compose 1.29.2, the main real user of dockerpty, in a venv of its own (.venv-compose) with
# threadpty (this checkout, editable) in dockerpty's place through scripts/dockerpty-shim, on the
# docker SDK 6.1.3 and requests 2.31 that compose v1 runs on. tests/compose/test_compose.py drives
# it.
#
# Python: CPython 3.9 (pyenv's, else python3.9 on the PATH): compose 1.29.2 pins PyYAML<6, whose
# wheels stop at 3.9, and threadpty needs 3.9+. Without 3.9 (Debian 12 has 3.11 only), 3.10 or 3.11,
# with PyYAML built from source under Cython<3 (Cython 3 cannot build it). Not 3.12+: compose
# imports distutils.
# Nothing is done when the venv is already up to date with this script, the shim and setup.cfg.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv-compose
stamp=$venv/.installed
want=$(cat scripts/compose.sh scripts/dockerpty-shim/pyproject.toml scripts/dockerpty-shim/dockerpty/*.py \
    setup.cfg | sha256sum | cut -c1-16)
if [ -x "$venv/bin/docker-compose" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    exit 0
fi

py=""
for minor in 9 10 11; do
    for cand in "$HOME"/.pyenv/versions/3."$minor".*/bin/python3 "$(command -v python3."$minor" || true)" \
        "$(command -v python3 || true)"; do
        # A pyenv shim may be on the PATH without that version behind it: ask the candidate itself.
        if [ -x "$cand" ] && "$cand" -c "import sys; assert sys.version_info[:2] == (3, $minor)" 2>/dev/null; then
            py=$cand
            break 2
        fi
    done
done
if [ -z "$py" ]; then
    echo "compose.sh: docker-compose 1.29.2 needs CPython 3.9, 3.10 or 3.11 (pyenv install 3.9, or" \
        "python3.9 on the PATH); set THREADPTY_SKIP_COMPOSE=1 to skip the compose tests" >&2
    exit 1
fi

echo "compose.sh: docker-compose 1.29.2 on $("$py" --version) in $venv" >&2
rm -rf "$venv"
"$py" -m venv "$venv"
# One resolution: the shim satisfies compose's dockerpty>=0.4.1,<1, so dockerpty itself never comes.
constraints=$(mktemp)
trap 'rm -f "$constraints"' EXIT
echo 'Cython<3' > "$constraints"
PIP_CONSTRAINT=$constraints "$venv/bin/python" -m pip install -q --disable-pip-version-check \
    'docker-compose==1.29.2' 'docker[ssh]==6.1.3' 'requests==2.31.0' \
    -e . ./scripts/dockerpty-shim
rm -rf scripts/dockerpty-shim/build scripts/dockerpty-shim/*.egg-info
# Fail here, not in a test, if compose would not import threadpty in dockerpty's place.
"$venv/bin/python" - <<'EOF'
import dockerpty.pty, threadpty.pty
import compose.cli.main as main
assert main.PseudoTerminal is threadpty.pty.PseudoTerminal, "compose did not get threadpty"
assert dockerpty.pty.RunOperation is threadpty.RunOperation
EOF
"$venv/bin/docker-compose" version --short >&2
echo "$want" > "$stamp"
