#!/usr/bin/env bash
# `make web-demo`: a demo container and `threadpty web` serving it on 127.0.0.1; open the URL it
# prints. Ctrl-C stops the server, and the demo container is removed.
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE="${THREADPTY_TEST_IMAGE:-threadpty-test/busybox:latest}"
NAME="threadpty-web-demo-$$"
PORT="${PORT:-8022}"
docker run -d --name "$NAME" --network none --label io.threadpty.demo=1 "$IMAGE" sleep infinity >/dev/null
trap 'docker rm -f "$NAME" >/dev/null 2>&1 || true' EXIT
echo "web-demo: container $NAME; the index lists it, the link opens its shell" >&2
.venv/bin/threadpty web --port "$PORT" "$@"
