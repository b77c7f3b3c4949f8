#!/usr/bin/env bash
# Extra engines for `make test-engines`: Docker 26.1.5 (Debian 13's docker.io) and Podman 4.3.1
# (Debian 12) as private engines beside the machine's own Docker, each with the test image.
#
#   scripts/engines.sh up   [docker26|podman4 ...]   provision (first time) and start; prints NAME SOCKET
#   scripts/engines.sh down [docker26|podman4 ...]   stop what `up` started (by pid files only)
#   scripts/engines.sh host NAME                      prints the DOCKER_HOST of a started engine
#
# Nothing of the machine's is touched: no `apt-get install`, no apt state, no dockerd, containerd,
# runc, docker0 or firewall rule. Packages come through a private apt state (its own source list,
# lists, status file and cache) and are unpacked with `dpkg -x` into trees under $CACHE. Each engine
# runs in a network namespace of its own (a `sleep` holds it): `--bridge=none` makes dockerd delete
# any interface called docker0, and netavark could otherwise meet the machine's bridge or firewall.
# A unix socket works across namespaces, so the tests reach the engine by its socket alone.
#
# $CACHE (downloads, unpacked trees) and $STATE (images, containers of the engines) survive between
# runs, so a second `up` only starts the processes (a few seconds). Root on Debian 12 is required.
set -euo pipefail

CACHE="${THREADPTY_ENGINES_CACHE:-/var/cache/threadpty-engines}"
STATE="${THREADPTY_ENGINES_STATE:-/var/lib/threadpty-engines}"
# Podman refuses a runroot of 50 characters or more, and the shims' sockets have a length limit too.
RUN="${THREADPTY_ENGINES_RUN:-/run/tpe}"
IMAGE="${THREADPTY_TEST_IMAGE:-threadpty-test/busybox:latest}"
WAIT="${THREADPTY_ENGINE_WAIT:-90}"
ALL=(docker26 podman4)

say() { echo "engines.sh: $*" >&2; }
die() { say "$*"; exit 1; }

# ---------------------------------------------------------------------------------------------------
# Packages through a private apt state: the machine's own Debian mirror line, another suite.

mirror() {
    # The mirror the machine already uses for Debian (deb822 or one-line sources).
    local m
    m=$(grep -hsE '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list \
        /etc/apt/sources.list.d/*.list 2>/dev/null | grep -oE 'https?://[^ ]*/debian/?( |$)' \
        | head -n1 | tr -d ' ')
    echo "${m:-http://deb.debian.org/debian}"
}

apt_private() {
    # apt-get with every file of its own: the machine's sources, lists, status and cache are unread
    # and unchanged.
    local suite=$1
    shift
    local dir="$CACHE/apt-$suite"
    apt-get -q \
        -o Dir::Etc::sourcelist="$dir/sources.list" -o Dir::Etc::sourceparts=/nonexistent \
        -o Dir::Etc::preferencesparts=/nonexistent -o Dir::Etc::preferences=/nonexistent \
        -o Dir::State::Lists="$dir/lists" -o Dir::State::status="$dir/status" \
        -o Dir::Cache="$dir/cache" -o Dir::State="$dir/state" \
        -o APT::Architecture=amd64 "$@"
}

fetch_debs() {
    # fetch_debs SUITE DEST PACKAGE... : the .debs of PACKAGEs from SUITE into DEST (once).
    local suite=$1 dest=$2
    shift 2
    local dir="$CACHE/apt-$suite"
    mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial" "$dir/state" "$dest"
    touch "$dir/status"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $(mirror) $suite main" \
        >"$dir/sources.list"
    if [ ! -f "$dir/lists/.updated" ]; then
        say "private apt state for Debian $suite: apt-get update"
        apt_private "$suite" update >"$dir/update.log" 2>&1 || {
            tail -n 20 "$dir/update.log" >&2
            die "apt-get update for $suite failed"
        }
        touch "$dir/lists/.updated"
    fi
    (cd "$dest" && apt_private "$suite" download "$@" >"$dest/download.log" 2>&1) || {
        tail -n 20 "$dest/download.log" >&2
        die "apt-get download from $suite failed: $*"
    }
}

unpack_all() {
    # unpack_all DEBDIR TREE : dpkg -x every .deb of DEBDIR into TREE.
    local deb
    mkdir -p "$2"
    for deb in "$1"/*.deb; do dpkg -x "$deb" "$2"; done
}

patchelf_bin() {
    # Debian 12's patchelf, unpacked (not installed), for runc.
    local tree="$CACHE/tools"
    if [ ! -x "$tree/usr/bin/patchelf" ]; then
        fetch_debs bookworm "$CACHE/debs/tools" patchelf
        unpack_all "$CACHE/debs/tools" "$tree"
    fi
    echo "$tree/usr/bin/patchelf"
}

provision_docker26() {
    local tree="$CACHE/docker26"
    [ -f "$tree/.ready" ] && return 0
    say "provisioning Docker 26 (Debian 13's docker.io, unpacked into $tree)"
    rm -rf "$tree" "$CACHE/debs/trixie"
    fetch_debs trixie "$CACHE/debs/trixie" docker.io docker-cli containerd runc tini libc6 libseccomp2
    unpack_all "$CACHE/debs/trixie" "$tree"
    # runc needs glibc 2.38 (Debian 12 has 2.36). It re-executes /proc/self/exe as `runc init`, so a
    # wrapper setting the loader cannot work: its own ELF interpreter and rpath point into the tree.
    "$(patchelf_bin)" --set-interpreter "$tree/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" \
        --set-rpath "$tree/usr/lib/x86_64-linux-gnu" "$tree/usr/sbin/runc"
    ln -sf "$tree/usr/bin/tini-static" "$tree/usr/sbin/docker-init"
    "$tree/usr/sbin/runc" --version >/dev/null || die "the unpacked runc does not run"
    touch "$tree/.ready"
}

provision_podman4() {
    local tree="$CACHE/podman4"
    [ -f "$tree/.ready" ] && return 0
    say "provisioning Podman 4.3.1 (Debian 12's podman, unpacked into $tree)"
    rm -rf "$tree" "$CACHE/debs/podman"
    # Debian 12's own runc: the same build as the machine's, but the tree's, so nothing of the
    # machine's is used. libsubid4/libgpgme11/libassuan0 are podman's libraries not on a base system.
    fetch_debs bookworm "$CACHE/debs/podman" podman conmon runc golang-github-containers-common \
        golang-github-containers-image libgpgme11 libassuan0 libsubid4 catatonit \
        containernetworking-plugins
    unpack_all "$CACHE/debs/podman" "$tree"
    # Its libraries not on a base system come from the tree, through its rpath: conmon starts the
    # exit command with a bare environment, so LD_LIBRARY_PATH would not reach it.
    "$(patchelf_bin)" --set-rpath "$tree/usr/lib/x86_64-linux-gnu" "$tree/usr/bin/podman"
    "$tree/usr/bin/podman" --version >/dev/null || die "the unpacked podman does not run"
    touch "$tree/.ready"
}

# ---------------------------------------------------------------------------------------------------
# Processes: each one's pid in a file; stopping reads only those.

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

netns_up() {
    # A network namespace of its own, held by a sleep whose pid is in $1.
    local pidfile=$1
    alive "$pidfile" && return 0
    setsid unshare --net sleep infinity </dev/null >/dev/null 2>&1 &
    echo $! >"$pidfile"
    local i
    for ((i = 0; i < 100; i++)); do
        [ "$(readlink "/proc/$(cat "$pidfile")/ns/net")" != "$(readlink /proc/self/ns/net)" ] && break
        sleep 0.05
    done
    nsenter --net="/proc/$(cat "$pidfile")/ns/net" ip link set lo up
}

in_netns() { nsenter --net="/proc/$(cat "$1")/ns/net" -- "${@:2}"; }

wait_socket() {
    # wait_socket SOCKET LOG NAME : until the engine answers /_ping.
    local i
    for ((i = 0; i < WAIT * 4; i++)); do
        if curl -sf --unix-socket "$1" http://engine/_ping >/dev/null 2>&1; then return 0; fi
        sleep 0.25
    done
    say "$3 did not answer within ${WAIT}s; the end of its log ($2):"
    tail -n 30 "$2" >&2 || true
    return 1
}

start_docker26() {
    local tree="$CACHE/docker26" st="$STATE/docker26" run="$RUN/docker26"
    mkdir -p "$st/data" "$st/containerd" "$run"
    local sock="$st/docker.sock"
    if alive "$run/dockerd.pid" && curl -sf --unix-socket "$sock" http://engine/_ping >/dev/null; then
        return 0
    fi
    netns_up "$run/netns.pid"
    cat >"$run/containerd.toml" <<EOF
version = 2
root = "$st/containerd"
state = "$run/containerd"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$run/containerd.sock"
[ttrpc]
  address = "$run/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
EOF
    echo '{}' >"$run/daemon.json"
    local path="$tree/usr/sbin:$tree/usr/bin:$PATH"
    if ! alive "$run/containerd.pid"; then
        PATH="$path" setsid nsenter --net="/proc/$(cat "$run/netns.pid")/ns/net" -- \
            "$tree/usr/bin/containerd" --config "$run/containerd.toml" \
            </dev/null >"$run/containerd.log" 2>&1 &
        echo $! >"$run/containerd.pid"
        local i
        for ((i = 0; i < 200; i++)); do [ -S "$run/containerd.sock" ] && break; sleep 0.1; done
    fi
    rm -f "$run/dockerd.pid.own"
    PATH="$path" setsid nsenter --net="/proc/$(cat "$run/netns.pid")/ns/net" -- \
        "$tree/usr/sbin/dockerd" -H "unix://$sock" \
        --containerd "$run/containerd.sock" --containerd-namespace threadpty-docker26 \
        --data-root "$st/data" --exec-root "$run/exec" --pidfile "$run/dockerd.pid.own" \
        --config-file "$run/daemon.json" --cgroup-parent /threadpty-docker26 \
        --iptables=false --ip6tables=false --bridge=none --userland-proxy=false \
        --shutdown-timeout 2 </dev/null >"$run/dockerd.log" 2>&1 &
    echo $! >"$run/dockerd.pid"
    wait_socket "$sock" "$run/dockerd.log" "dockerd 26"
}

podman_conf() {
    local tree="$CACHE/podman4" st="$STATE/podman4" run="$RUN/podman4"
    mkdir -p "$st/graph" "$st/home/.config/containers" "$st/cni" "$run/root" "$run/tmp"
    # Own containers.conf: Podman's default ulimits and pids limit are refused here ("setrlimit
    # NPROC"); cgroupfs and file events need no systemd; runc is the tree's.
    cat >"$run/containers.conf" <<EOF
[containers]
default_ulimits = []
pids_limit = 0
netns = "none"
log_driver = "k8s-file"
seccomp_profile = "$tree/usr/share/containers/seccomp.json"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$run/events.log"
runtime = "runc"
# conmon runs the exit command (\`podman container cleanup\`, which also does AutoRemove) with this
# environment only: without these it would read the machine's configuration, or none.
conmon_env_vars = ["PATH=$tree/usr/sbin:$tree/usr/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=$st/home", "CONTAINERS_CONF=$run/containers.conf", "CONTAINERS_STORAGE_CONF=$run/storage.conf"]
conmon_path = ["$tree/usr/bin/conmon"]
helper_binaries_dir = ["$tree/usr/lib/podman", "$tree/usr/libexec/podman"]
static_dir = "$st/graph/libpod"
tmp_dir = "$run/tmp"
volume_path = "$st/graph/volumes"
[engine.runtimes]
runc = ["$tree/usr/sbin/runc"]
# A container made without a network mode gets Podman's default bridge network: the tree's CNI
# plugins, a configuration directory of its own, inside the engine's own network namespace.
[network]
network_backend = "cni"
cni_plugin_dirs = ["$tree/usr/lib/cni"]
network_config_dir = "$st/cni"
EOF
    cat >"$run/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$st/graph"
runroot = "$run/root"
EOF
    # Image policy and registries are read from HOME; a private one keeps /etc/containers unread.
    echo '{"default":[{"type":"insecureAcceptAnything"}]}' >"$st/home/.config/containers/policy.json"
    echo 'unqualified-search-registries = []' >"$st/home/.config/containers/registries.conf"
}

podman_wrapper() {
    # $RUN/podman4/podman: the tree's podman with its own configuration, storage, HOME and helpers.
    local tree="$CACHE/podman4" st="$STATE/podman4" run="$RUN/podman4"
    cat >"$run/podman" <<EOF
#!/bin/sh
exec env HOME="$st/home" CONTAINERS_CONF="$run/containers.conf" \\
    CONTAINERS_STORAGE_CONF="$run/storage.conf" \\
    CONTAINERS_REGISTRIES_CONF="$st/home/.config/containers/registries.conf" \\
    PATH="$tree/usr/sbin:$tree/usr/bin:\$PATH" \\
    "$tree/usr/bin/podman" --root "$st/graph" --runroot "$run/root" --tmpdir "$run/tmp" \\
    --cgroup-manager cgroupfs --events-backend file --runtime "$tree/usr/sbin/runc" \\
    --conmon "$tree/usr/bin/conmon" "\$@"
EOF
    chmod +x "$run/podman"
}

podman_cmd() { "$RUN/podman4/podman" "$@"; }

start_podman4() {
    local st="$STATE/podman4" run="$RUN/podman4"
    mkdir -p "$st" "$run"
    local sock="$st/docker.sock"
    podman_conf
    podman_wrapper
    if alive "$run/podman.pid" && curl -sf --unix-socket "$sock" http://engine/_ping >/dev/null; then
        return 0
    fi
    netns_up "$run/netns.pid"
    rm -f "$sock"
    setsid nsenter --net="/proc/$(cat "$run/netns.pid")/ns/net" -- \
        "$run/podman" system service --time=0 "unix://$sock" </dev/null >"$run/podman.log" 2>&1 &
    echo $! >"$run/podman.pid"
    wait_socket "$sock" "$run/podman.log" "podman system service"
}

# ---------------------------------------------------------------------------------------------------
# The test image, copied from the machine's engine when the engine lacks it (compared by id: Podman's
# short-name lookup would answer for any */busybox:latest).

load_image() {
    local name=$1 sock=$2 want have
    want=$(docker image inspect --format '{{.Id}}' "$IMAGE") \
        || die "the machine's engine has no $IMAGE (run scripts/engine.sh first)"
    have=$(DOCKER_HOST="unix://$sock" docker image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null \
        || true)
    [ "$have" = "$want" ] && return 0
    say "$name: loading $IMAGE"
    if [ "$name" = podman4 ]; then
        docker save "$IMAGE" | podman_cmd load >/dev/null
    else
        docker save "$IMAGE" | DOCKER_HOST="unix://$sock" docker load >/dev/null
    fi
}

# ---------------------------------------------------------------------------------------------------
# Stopping: the engine's own containers through its API, then each process by its pid file.

stop_pidfile() {
    local f=$1 pid i
    [ -f "$f" ] || return 0
    pid=$(cat "$f")
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$f"
}

stop_netns() {
    # Whatever still runs in the engine's own network namespace (a conmon of an exec whose
    # container is gone, a shim), found by that namespace, never by name; then its holder.
    local holder=$1 ns p
    alive "$holder" || { rm -f "$holder"; return 0; }
    ns=$(readlink "/proc/$(cat "$holder")/ns/net")
    for p in /proc/[0-9]*; do
        [ "${p#/proc/}" = "$(cat "$holder")" ] && continue
        [ "$(readlink "$p/ns/net" 2>/dev/null)" = "$ns" ] && kill -KILL "${p#/proc/}" 2>/dev/null
    done
    stop_pidfile "$holder"
}

remove_containers() {
    local sock=$1 ids
    [ -S "$sock" ] || return 0
    ids=$(DOCKER_HOST="unix://$sock" timeout 30 docker ps -aq 2>/dev/null || true)
    # shellcheck disable=SC2086
    [ -z "$ids" ] || DOCKER_HOST="unix://$sock" timeout 60 docker rm -f $ids >/dev/null 2>&1 || true
}

stop_docker26() {
    local st="$STATE/docker26" run="$RUN/docker26" shim
    alive "$run/dockerd.pid" && remove_containers "$st/docker.sock"
    stop_pidfile "$run/dockerd.pid"
    stop_pidfile "$run/containerd.pid"
    # The shims outlive containerd (they are re-parented to init); each leaves its pid file.
    for shim in "$run"/containerd/io.containerd.runtime.v2.task/*/*/shim.pid; do
        [ -f "$shim" ] && stop_pidfile "$shim"
    done
    stop_netns "$run/netns.pid"
}

stop_podman4() {
    local st="$STATE/podman4" run="$RUN/podman4" conmon
    alive "$run/podman.pid" && remove_containers "$st/docker.sock"
    stop_pidfile "$run/podman.pid"
    # A container's conmon outlives the service; each leaves its pid file.
    for conmon in "$run"/root/overlay-containers/*/userdata/conmon.pid; do
        [ -f "$conmon" ] && stop_pidfile "$conmon"
    done
    stop_netns "$run/netns.pid"
}

# ---------------------------------------------------------------------------------------------------

names() { if [ $# -eq 0 ]; then echo "${ALL[@]}"; else echo "$@"; fi; }

cmd=${1:-}
shift || true
case "$cmd" in
up)
    [ "$(id -u)" = 0 ] && [ -f /etc/debian_version ] || die "needs root on Debian"
    command -v docker >/dev/null || die "the docker CLI is missing (run scripts/engine.sh first)"
    for n in $(names "$@"); do
        case "$n" in docker26 | podman4) ;; *) die "unknown engine $n (one of: ${ALL[*]})" ;; esac
        "provision_$n"
        "start_$n"
        load_image "$n" "$STATE/$n/docker.sock"
        echo "$n unix://$STATE/$n/docker.sock"
    done
    ;;
down)
    for n in $(names "$@"); do "stop_$n"; done
    ;;
host)
    echo "unix://$STATE/${1:?engine name}/docker.sock"
    ;;
*)
    sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
