"""A second, private Docker engine for the fault and transport tests, and an sshd in front of it.

These tests stop and restart an engine mid-session and talk to one over TCP+TLS and over
ssh://. Doing that to the machine's own engine would break every other test (and the developer's
containers), so this starts a dockerd of its own:

- its own unix socket, ``--data-root``, ``--exec-root``, ``--pidfile`` and ``--config-file``, all
  in one temporary directory, ``--iptables=false --ip6tables=false`` so it leaves the firewall
  alone, and a bridge of its own that the rig creates (``--bridge=tpe…``). Not ``--bridge=none``:
  with it dockerd *deletes* the host's ``docker0`` at start-up (moby's
  ``removeDefaultBridgeInterface``) and the main engine can no longer start containers;
- ``--tlsverify`` on a loopback TCP port, with a CA, a server and a client certificate made here
  with ``openssl``;
- an ``sshd`` (``openssh-server`` is installed with apt when missing, as root on Debian) on a
  loopback port, with a throwaway host key and client key; ``SetEnv DOCKER_HOST`` makes the remote
  ``docker system dial-stdio`` reach the private engine. The client side never touches ``~/.ssh``:
  paramiko reads a private HOME while the client is made, and the ``ssh`` command is a wrapper put
  first on PATH that passes ``-F`` with the rig's own config.

The test image is copied over with ``docker save | docker load`` (no registry). ``stop()`` ends
everything the rig started, by pid (dockerd, its containerd and shims, sshd), unmounts what the
engine left mounted and removes the directory.

It can also be used by hand::

    .venv/bin/python tests/private_engine.py   # starts it, prints the DOCKER_HOSTs, waits for ^C
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from typing import Any, Dict, Iterator, List, Optional

IMAGE = os.environ.get("THREADPTY_TEST_IMAGE", "threadpty-test/busybox:latest")
START_WAIT = 60.0
# Why the tests that use this rig carry the own_engine marker (conftest.py).
OWN_ENGINE_WHY = (
    "starts a dockerd of its own from the machine's docker.io (tests/private_engine.py) and tests "
    "that, whatever DOCKER_HOST names"
)


class RigError(RuntimeError):
    """The private engine (or its sshd) could not be set up."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(args: List[str], **kwargs: Any) -> subprocess.CompletedProcess:
    kwargs.setdefault("check", True)
    kwargs.setdefault("capture_output", True)
    kwargs.setdefault("timeout", 300)
    try:
        return subprocess.run(args, **kwargs)
    except subprocess.CalledProcessError as exc:
        raise RigError(
            f"{' '.join(args)} failed ({exc.returncode}): {exc.stderr!r}"[:2000]
        ) from None


def ensure_sshd() -> str:
    """The path of sshd, installing Debian's openssh-server when it is missing (root only)."""
    path = shutil.which("sshd") or ("/usr/sbin/sshd" if os.path.exists("/usr/sbin/sshd") else "")
    if path:
        return path
    if os.geteuid() != 0 or not os.path.exists("/etc/debian_version"):
        raise RigError("sshd is missing and cannot be installed here (needs root on Debian)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    # Installing must not start the system's sshd on port 22: policy-rc.d says no to services.
    policy = "/usr/sbin/policy-rc.d"
    had_policy = os.path.exists(policy)
    if not had_policy:
        with open(policy, "w") as f:
            f.write("#!/bin/sh\nexit 101\n")
        os.chmod(policy, 0o755)
    try:
        install = ["apt-get", "install", "-y", "-qq", "openssh-server"]
        if _run(install, env=env, check=False).returncode:
            _run(["apt-get", "update", "-qq"], env=env)
            _run(install, env=env)
    finally:
        if not had_policy:
            os.unlink(policy)
    return "/usr/sbin/sshd"


class PrivateEngine:
    """One private dockerd (unix socket + TLS port) and optionally an sshd in front of it."""

    def __init__(self, tls: bool = True, ssh: bool = True) -> None:
        # A short path: a unix socket's path must stay under 108 bytes.
        cleanup_stale()
        self.base = tempfile.mkdtemp(prefix="tpe-", dir="/tmp")
        with open(os.path.join(self.base, "owner"), "w") as f:
            f.write(str(os.getpid()))
        self.sock = os.path.join(self.base, "docker.sock")
        self.unix_url = f"unix://{self.sock}"
        self.tls = tls
        self.ssh = ssh
        self.tls_port = free_port() if tls else 0
        self.ssh_port = free_port() if ssh else 0
        self.certs = os.path.join(self.base, "certs")
        self.home = os.path.join(self.base, "home")
        self.bin = os.path.join(self.base, "bin")
        self.log_path = os.path.join(self.base, "dockerd.log")
        self.bridge = "tpe" + os.path.basename(self.base)[-8:].replace("_", "0")
        self._bridge_made = False
        self.proc: Optional[subprocess.Popen] = None
        self.sshd: Optional[subprocess.Popen] = None
        self._clients: List[Any] = []

    # Setting up ---------------------------------------------------------------------------------

    def setup(self) -> "PrivateEngine":
        try:
            if self.tls:
                self._make_certs()
            self._make_bridge()
            self.start()
            self._load_image()
            if self.ssh:
                self._start_sshd()
        except BaseException:
            self.teardown()
            raise
        return self

    def _make_bridge(self) -> None:
        """A bridge for the private engine's default network, on an unused 10.x /24."""
        routes = _run(["ip", "-4", "route"]).stdout.decode()
        for third in range(200, 250):
            net = f"10.213.{third}."
            if net not in routes:
                break
        else:
            raise RigError("no free 10.213.x.0/24 for the private engine's bridge")
        _run(["ip", "link", "add", "name", self.bridge, "type", "bridge"])
        self._bridge_made = True
        _run(["ip", "addr", "add", f"{net}1/24", "dev", self.bridge])
        _run(["ip", "link", "set", self.bridge, "up"])

    def _make_certs(self) -> None:
        os.makedirs(self.certs)
        d = self.certs

        def ssl(*args: str) -> None:
            _run(["openssl", *args], cwd=d)

        ssl("genrsa", "-out", "ca-key.pem", "2048")
        ssl(
            "req",
            "-new",
            "-x509",
            "-days",
            "2",
            "-key",
            "ca-key.pem",
            "-sha256",
            "-subj",
            "/CN=threadpty test CA",
            "-out",
            "ca.pem",
        )
        for name, ext in (
            ("server", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"),
            ("client", "extendedKeyUsage=clientAuth\n"),
        ):
            ssl("genrsa", "-out", f"{name}-key.pem", "2048")
            ssl(
                "req",
                "-new",
                "-key",
                f"{name}-key.pem",
                "-subj",
                f"/CN={name}",
                "-out",
                f"{name}.csr",
            )
            with open(os.path.join(d, f"{name}.ext"), "w") as f:
                f.write(ext)
            ssl(
                "x509",
                "-req",
                "-days",
                "2",
                "-sha256",
                "-in",
                f"{name}.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca-key.pem",
                "-CAcreateserial",
                "-out",
                f"{name}.pem",
                "-extfile",
                f"{name}.ext",
            )

    def start(self) -> None:
        """Start dockerd (again, after ``stop_engine``) and wait until it answers."""
        if self.proc is not None and self.proc.poll() is None:
            return
        self._clear_stale_containerd()
        with open(os.path.join(self.base, "daemon.json"), "w") as f:
            f.write("{}\n")
        args = [
            shutil.which("dockerd") or "/usr/sbin/dockerd",
            "--host",
            self.unix_url,
            "--data-root",
            os.path.join(self.base, "data"),
            "--exec-root",
            os.path.join(self.base, "exec"),
            "--pidfile",
            os.path.join(self.base, "docker.pid"),
            "--config-file",
            os.path.join(self.base, "daemon.json"),
            "--iptables=false",
            "--ip6tables=false",
            f"--bridge={self.bridge}",
            "--shutdown-timeout",
            "2",
        ]
        if self.tls:
            c = self.certs
            args += [
                "--host",
                f"tcp://127.0.0.1:{self.tls_port}",
                "--tlsverify",
                "--tlscacert",
                f"{c}/ca.pem",
                "--tlscert",
                f"{c}/server.pem",
                "--tlskey",
                f"{c}/server-key.pem",
            ]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                args, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True
            )
        self.wait_up()

    def ensure_up(self) -> None:
        """The engine answering: as it is, or (re)started, also after a stop still in progress."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.wait_up(timeout=2)
                return
            except RigError:
                self.stop_engine()
        self.start()

    def _clear_stale_containerd(self) -> None:
        """After a SIGKILL, dockerd's containerd dies too but its pid file stays; a zombie or a
        reused pid then makes the next dockerd wait for a containerd that is not there."""
        pidfile = os.path.join(self.base, "exec", "containerd", "containerd.pid")
        try:
            with open(pidfile) as f:
                pid = int(f.read().strip() or 0)
        except (OSError, ValueError):
            return
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                alive = self.base.encode() in f.read()
        except OSError:
            alive = False
        if not alive:
            os.unlink(pidfile)

    def wait_up(self, timeout: float = START_WAIT) -> None:
        import docker

        deadline = time.monotonic() + timeout
        last: Optional[BaseException] = None
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                break
            try:
                c = docker.APIClient(base_url=self.unix_url, version="auto", timeout=5)
                try:
                    c.ping()
                    return
                finally:
                    c.close()
            except Exception as exc:  # noqa: BLE001 - not up yet
                last = exc
                time.sleep(0.1)
        raise RigError(f"the private dockerd did not come up ({last}); log:\n{self.log_tail()}")

    def log_tail(self, n: int = 30) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def _load_image(self) -> None:
        save = subprocess.Popen(["docker", "save", IMAGE], stdout=subprocess.PIPE)
        try:
            _run(
                ["docker", "load", "-q"],
                stdin=save.stdout,
                env=dict(os.environ, DOCKER_HOST=self.unix_url),
            )
        finally:
            assert save.stdout is not None
            save.stdout.close()
            if save.wait(timeout=60):
                raise RigError(f"docker save {IMAGE} failed: is the main engine up with the image?")

    def _start_sshd(self) -> None:
        sshd = ensure_sshd()
        os.makedirs(self.home + "/.ssh", mode=0o700)
        os.makedirs(self.bin)
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege separation dir
        hostkey = os.path.join(self.base, "ssh_host_ed25519_key")
        userkey = os.path.join(self.home, ".ssh", "id_ed25519")
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", hostkey])
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", userkey])
        shutil.copy(userkey + ".pub", os.path.join(self.base, "authorized_keys"))
        with open(hostkey + ".pub") as f:
            host_pub = " ".join(f.read().split()[:2])
        known = os.path.join(self.home, ".ssh", "known_hosts")
        with open(known, "w") as f:
            f.write(f"[127.0.0.1]:{self.ssh_port} {host_pub}\n")
        config = os.path.join(self.base, "sshd_config")
        with open(config, "w") as f:
            f.write(
                f"Port {self.ssh_port}\n"
                "ListenAddress 127.0.0.1\n"
                f"HostKey {hostkey}\n"
                f"PidFile {self.base}/sshd.pid\n"
                f"AuthorizedKeysFile {self.base}/authorized_keys\n"
                "PermitRootLogin prohibit-password\n"
                "PasswordAuthentication no\n"
                "KbdInteractiveAuthentication no\n"
                "UsePAM no\n"
                "StrictModes no\n"
                "MaxSessions 200\n"
                "MaxStartups 200\n"
                "LogLevel ERROR\n"
                f"SetEnv DOCKER_HOST={self.unix_url}\n"
            )
        # The client side: a private config for the `ssh` command, through a wrapper on PATH.
        client_config = os.path.join(self.home, ".ssh", "config")
        with open(client_config, "w") as f:
            f.write(
                "Host 127.0.0.1\n"
                f"  IdentityFile {userkey}\n"
                "  IdentitiesOnly yes\n"
                f"  UserKnownHostsFile {known}\n"
                "  StrictHostKeyChecking yes\n"
                "  BatchMode yes\n"
                "  LogLevel ERROR\n"
            )
        wrapper = os.path.join(self.bin, "ssh")
        with open(wrapper, "w") as f:
            f.write(
                f'#!/bin/sh\nexec {shutil.which("ssh") or "/usr/bin/ssh"} -F {client_config} "$@"\n'
            )
        os.chmod(wrapper, 0o755)
        with open(os.path.join(self.base, "sshd.log"), "ab") as log:
            self.sshd = subprocess.Popen(
                [sshd, "-D", "-e", "-f", config],
                stdout=log,
                stderr=log,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.sshd.poll() is not None:
                raise RigError(f"sshd exited: {open(self.base + '/sshd.log').read()[-2000:]}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.ssh_port), timeout=1),
            ):
                return
            time.sleep(0.05)
        raise RigError("sshd did not listen")

    # Clients ------------------------------------------------------------------------------------

    def _track(self, client: Any) -> Any:
        self._clients.append(client)
        return client

    def unix_client(self, **kwargs: Any) -> Any:
        import docker

        return self._track(docker.APIClient(base_url=self.unix_url, version="auto", **kwargs))

    def tls_client(self, **kwargs: Any) -> Any:
        import docker
        from docker.tls import TLSConfig

        c = self.certs
        tls = TLSConfig(
            client_cert=(f"{c}/client.pem", f"{c}/client-key.pem"),
            ca_cert=f"{c}/ca.pem",
            verify=True,
        )
        # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override the session's CA (requests
        # issue 3829), so the environment is kept out: while the client asks for the API version,
        # and for good with trust_env.
        with self._env(REQUESTS_CA_BUNDLE=None, CURL_CA_BUNDLE=None):
            client = docker.APIClient(
                base_url=f"https://127.0.0.1:{self.tls_port}", tls=tls, version="auto", **kwargs
            )
        client.trust_env = False
        return self._track(client)

    @property
    def ssh_url(self) -> str:
        return f"ssh://root@127.0.0.1:{self.ssh_port}"

    def ssh_client(self, use_ssh_client: bool = False, **kwargs: Any) -> Any:
        """A client over ssh://: paramiko, or the ``ssh`` command (needs :meth:`ssh_env`)."""
        import docker

        with self._env(HOME=self.home, PATH=self.bin + os.pathsep + os.environ.get("PATH", "")):
            return self._track(
                docker.APIClient(
                    base_url=self.ssh_url,
                    version="auto",
                    use_ssh_client=use_ssh_client,
                    **kwargs,
                )
            )

    def ssh_env(self) -> Dict[str, str]:
        """Environment under which the ``ssh`` command the SDK runs uses the rig's config."""
        return {"PATH": self.bin + os.pathsep + os.environ.get("PATH", "")}

    @staticmethod
    @contextlib.contextmanager
    def _env(**values: Optional[str]) -> Iterator[None]:
        old = {k: os.environ.get(k) for k in values}
        for k, v in values.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        try:
            yield
        finally:
            for k, v in old.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    # Ending -------------------------------------------------------------------------------------

    def _descendants_and_strays(self) -> List[int]:
        """Processes that belong to this rig: anything whose command line names its directory."""
        pids = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    cmd = f.read()
            except OSError:
                continue
            if self.base.encode() in cmd and int(entry) != os.getpid():
                pids.append(int(entry))
        return pids

    def stop_engine(self, sig: int = signal.SIGTERM, wait: bool = True) -> None:
        """Stop dockerd (SIGTERM: an orderly shutdown; SIGKILL: it just vanishes)."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        if wait:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)

    def restart_engine(self) -> None:
        self.stop_engine()
        self.start()

    def teardown(self) -> None:
        for c in self._clients:
            with contextlib.suppress(Exception):
                c.close()
        self._clients.clear()
        if self.sshd is not None and self.sshd.poll() is None:
            self.sshd.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.sshd.wait(timeout=10)
            if self.sshd.poll() is None:
                self.sshd.kill()
                self.sshd.wait(timeout=10)
        if self.proc is not None and self.proc.poll() is None:
            # Remove our containers first, so shutdown has nothing to wait for.
            with contextlib.suppress(Exception):
                _run(
                    ["docker", "rm", "-f", "-v", *self._all_containers()],
                    env=dict(os.environ, DOCKER_HOST=self.unix_url),
                    timeout=60,
                    check=False,
                )
        self.stop_engine()
        # containerd (started by dockerd with our exec-root) and its shims, if any outlived it.
        for sig in (signal.SIGTERM, signal.SIGKILL):
            pids = self._descendants_and_strays()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            deadline = time.monotonic() + 5
            while pids and time.monotonic() < deadline:
                pids = [p for p in pids if os.path.exists(f"/proc/{p}")]
                time.sleep(0.05)
        # Whatever the engine left mounted under its roots (overlay, shm, netns) must go first.
        with open("/proc/self/mounts") as f:
            mounts = [line.split()[1] for line in f if self.base in line.split()[1]]
        for mount in sorted(mounts, key=len, reverse=True):
            subprocess.run(["umount", "-l", mount], capture_output=True, check=False)
        if self._bridge_made:
            subprocess.run(["ip", "link", "del", self.bridge], capture_output=True, check=False)
        shutil.rmtree(self.base, ignore_errors=True)

    def _all_containers(self) -> List[str]:
        out = (
            _run(
                ["docker", "ps", "-aq"], env=dict(os.environ, DOCKER_HOST=self.unix_url), timeout=30
            )
            .stdout.decode()
            .split()
        )
        return out


def cleanup_stale() -> None:
    """Tear down the rigs of test runs that were killed before their teardown (owner gone)."""
    for name in os.listdir("/tmp"):
        base = os.path.join("/tmp", name)
        if not name.startswith("tpe-") or not os.path.isdir(base):
            continue
        try:
            with open(os.path.join(base, "owner")) as f:
                owner = int(f.read().strip())
        except (OSError, ValueError):
            owner = 0
        if owner and os.path.exists(f"/proc/{owner}"):
            continue
        if not owner and time.time() - os.path.getmtime(base) < 60:
            continue  # another run between making the directory and writing its owner
        stale = PrivateEngine.__new__(PrivateEngine)
        stale.base = base
        stale.bridge = "tpe" + name[-8:].replace("_", "0")
        stale._bridge_made = True
        stale._clients, stale.proc, stale.sshd = [], None, None
        stale.teardown()


def main() -> None:
    engine = PrivateEngine().setup()
    print(f"DOCKER_HOST={engine.unix_url}")
    print(
        f"TLS: DOCKER_HOST=tcp://127.0.0.1:{engine.tls_port} DOCKER_TLS_VERIFY=1 "
        f"DOCKER_CERT_PATH={engine.certs} (client.pem: copy to cert.pem/key.pem)"
    )
    print(f"SSH: {engine.ssh_url} (PATH={engine.bin}:$PATH)")
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        engine.teardown()


if __name__ == "__main__":
    main()
