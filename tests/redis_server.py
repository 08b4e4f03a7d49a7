"""A real `redis-server` for tests: started on a free port, stopped and restarted at will.

Nothing is saved to disk and the data directory is a fresh temporary one, so each server starts
empty; with `durable=True` every write goes to an append-only file there first (fsync on each),
so the data outlives stop and start. `RedisClusterNodes` joins such servers into a Redis
Cluster. Tests never touch a Redis they did not start (not even one on 6379).
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import redis

READY_TIMEOUT = 10.0


class PortTaken(RuntimeError):
    """redis-server could not bind its port."""


def free_port() -> int:
    """A port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def redis_binary() -> str:
    found = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(found).exists():
        raise RuntimeError("redis-server is not installed; run scripts/test-prerequisites")
    return found


class RedisServer:
    """One redis-server process on 127.0.0.1; `port` stays the same across restarts."""

    def __init__(
        self, port: int | None = None, *, durable: bool = False, cluster: bool = False
    ) -> None:
        self._port_chosen = port is None
        self.port = port or free_port()
        self.durable = durable
        # A cluster node's bus port is chosen too: the default, port + 10000, may not exist.
        self.bus_port = free_port() if cluster else None
        self._dir = tempfile.TemporaryDirectory(prefix="redis-test-")
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        if self.running:
            return
        for _ in range(3):
            try:
                self._launch()
                return
            except PortTaken:
                if not self._port_chosen:
                    raise
                self.port = free_port()  # Another process took it since we looked.
                if self.bus_port is not None:
                    self.bus_port = free_port()
        self._launch()

    def _launch(self) -> None:
        log = Path(self._dir.name, "redis.log")
        log.unlink(missing_ok=True)
        aof = ["yes", "--appendfsync", "always"] if self.durable else ["no"]
        # fmt: off
        command = [
            redis_binary(),
            "--port", str(self.port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", *aof, "--dir", self._dir.name,
            "--logfile", str(log), "--daemonize", "no",
        ]
        if self.bus_port is not None:
            command += [
                "--cluster-enabled", "yes", "--cluster-port", str(self.bus_port),
                "--cluster-config-file", str(Path(self._dir.name, "nodes.conf")),
            ]
        # fmt: on
        self._process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self._wait_ready(log)

    def _wait_ready(self, log: Path) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        client = redis.Redis(port=self.port, socket_timeout=0.5, socket_connect_timeout=0.5)
        try:
            while time.monotonic() < deadline:
                if not self.running:
                    tail = _tail(log)
                    raise (PortTaken if "in use" in tail else RuntimeError)(tail)
                with contextlib.suppress(redis.ConnectionError, redis.TimeoutError):
                    # Ours, not another server that holds the port.
                    if client.info("server")["process_id"] == self._pid():
                        return
                time.sleep(0.02)
        finally:
            client.close()
        self.stop()
        raise RuntimeError(f"redis-server did not answer PING on port {self.port}")

    def _pid(self) -> int:
        return self._process.pid if self._process is not None else -1

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop the server and remove its directory."""
        self.stop()
        self._dir.cleanup()


class RedisClusterNodes:
    """A Redis Cluster of `masters` masters, each with `replicas` replicas, every node a
    RedisServer above; `redis-cli --cluster create` spreads the slots and picks the roles."""

    def __init__(self, masters: int = 3, replicas: int = 0) -> None:
        self.replicas = replicas
        self.nodes = [RedisServer(cluster=True) for _ in range(masters * (1 + replicas))]

    @property
    def url(self) -> str:
        """The first node's URL: a cluster client finds the others from it."""
        return self.nodes[0].url

    def start(self) -> None:
        try:
            for node in self.nodes:
                node.start()
            addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
            create = ["--cluster", "create", *addresses, "--cluster-replicas", str(self.replicas)]
            subprocess.run(
                [redis_cli(), *create, "--cluster-yes"],
                check=True,
                capture_output=True,
                timeout=READY_TIMEOUT,
            )
            self.wait_ok()
        except BaseException:
            self.close()
            raise

    def wait_ok(self) -> None:
        """Return once every running node knows all the others and serves its slots (a master
        that has just started waits about 2 s before it does)."""
        deadline = time.monotonic() + READY_TIMEOUT
        while not all(self._ok(node) for node in self.nodes if node.running):
            if time.monotonic() > deadline:
                raise RuntimeError("the test cluster did not reach cluster_state:ok")
            time.sleep(0.05)

    def _ok(self, node: RedisServer) -> bool:
        try:
            with redis.Redis(port=node.port, socket_timeout=0.5) as client:
                info = client.execute_command("CLUSTER INFO")  # parsed into a dict
        except (redis.ConnectionError, redis.TimeoutError):
            return False
        known = info["cluster_known_nodes"] == str(len(self.nodes))
        return bool(known and info["cluster_state"] == "ok")

    def close(self) -> None:
        for node in self.nodes:
            node.close()


def redis_cli() -> str:
    found = shutil.which("redis-cli") or str(Path(redis_binary()).with_name("redis-cli"))
    if not Path(found).exists():
        raise RuntimeError("redis-cli is not installed; run scripts/test-prerequisites")
    return found


def _tail(log: Path) -> str:
    try:
        return log.read_text()[-500:]
    except OSError:
        return "(no log)"
