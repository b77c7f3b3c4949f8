#!/usr/bin/env bash
# Make sure a Docker engine answers and the test image exists.
#
# On a machine that already has an engine this installs nothing. Otherwise, as root on Debian, it
# installs Debian's docker.io and busybox-static, starts dockerd in the background (log in
# $THREADPTY_ENGINE_LOG) and waits for it. The test image is built from the static busybox binary with
# `docker import` (no registry is needed) and tagged under a name of this project's own.
set -euo pipefail

IMAGE="${THREADPTY_TEST_IMAGE:-threadpty-test/busybox:latest}"
LOG="${THREADPTY_ENGINE_LOG:-/tmp/threadpty-dockerd.log}"
WAIT="${THREADPTY_ENGINE_WAIT:-60}"

say() { echo "engine.sh: $*" >&2; }

engine_up() { docker info >/dev/null 2>&1; }

wait_engine() {
    local i
    for ((i = 0; i < WAIT * 4; i++)); do
        engine_up && return 0
        sleep 0.25
    done
    return 1
}

start_engine() {
    if [ "$(id -u)" != 0 ] || [ ! -f /etc/debian_version ]; then
        say "no Docker engine answers (DOCKER_HOST=${DOCKER_HOST:-unix:///var/run/docker.sock}),"
        say "and this is not root on Debian, so none can be installed here. Start an engine and retry."
        exit 1
    fi
    if ! command -v dockerd >/dev/null 2>&1 || ! command -v busybox >/dev/null 2>&1; then
        say "installing docker.io and busybox-static from Debian"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >/dev/null
        apt-get install -y -qq docker.io busybox-static >/dev/null
    fi
    if ! engine_up; then
        # A dockerd killed when an earlier session ended leaves its pid file, and the next one refuses
        # to start ("pid file found") unless the file goes.
        if [ -f /var/run/docker.pid ] && ! pgrep -x dockerd >/dev/null; then
            rm -f /var/run/docker.pid
        fi
        if ! pgrep -x dockerd >/dev/null; then
            say "starting dockerd (log: $LOG)"
            # setsid: the engine must not die with the shell or make that started it.
            setsid dockerd --iptables=false --ip6tables=false >"$LOG" 2>&1 </dev/null &
        fi
        if ! wait_engine; then
            say "dockerd did not answer within ${WAIT}s; the end of its log:"
            tail -n 30 "$LOG" >&2 || true
            exit 1
        fi
    fi
}

build_image() {
    local bb dir
    bb=$(command -v busybox || true)
    # Debian's busybox-static is the static one; a dynamic busybox would not run in an empty root.
    if [ -z "$bb" ] || ! file -L "$bb" 2>/dev/null | grep -q static; then
        [ -x /bin/busybox ] && bb=/bin/busybox
    fi
    if [ -z "$bb" ]; then
        if docker pull -q busybox:latest >/dev/null 2>&1; then
            docker tag busybox:latest "$IMAGE"
            return
        fi
        say "no static busybox here and no registry reachable: cannot build $IMAGE"
        exit 1
    fi
    dir=$(mktemp -d)
    mkdir -p "$dir/bin" "$dir/tmp" "$dir/etc" "$dir/root" "$dir/proc" "$dir/sys" "$dir/dev"
    cp "$bb" "$dir/bin/busybox"
    for applet in $("$dir/bin/busybox" --list); do
        [ "$applet" = busybox ] || ln -sf busybox "$dir/bin/$applet"
    done
    echo 'root:x:0:0:root:/root:/bin/sh' >"$dir/etc/passwd"
    echo 'root:x:0:' >"$dir/etc/group"
    tar -C "$dir" -c . | docker import \
        -c 'ENV PATH=/bin' -c 'CMD ["/bin/sh"]' - "$IMAGE" >/dev/null
    rm -rf "$dir"
    say "built $IMAGE from $bb"
}

engine_up || start_engine
docker image inspect "$IMAGE" >/dev/null 2>&1 || build_image
docker info --format 'engine.sh: engine {{.ServerVersion}} ready; test image '"$IMAGE" >&2
