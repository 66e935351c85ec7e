"""The deployment on one machine, as processes: Redis, several `onemap serve`, nginx in front.

Used by ``onemap deploy run`` (try the deployment), the deployment test (``tests/deploy``) and the
``deployment`` benchmark. Every process runs in a folder of its own under ``root`` (nginx with
``-p root/nginx``: no root, no /etc/nginx), on free loopback ports, in its own process group, and
``stop`` ends them all — each by its own process id.

nginx's configuration is the one ``onemap deploy nginx`` renders (``api.cli.deploy``) from the
same ONEMAP_* settings the API processes get, so what runs here is the file that ships.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from spatial.config import PROJECT_ROOT, Settings
from spatial.errors import MissingDependency, OnemapError
from spatial.postgis import free_port

START_TIMEOUT_S = 60.0


def missing_programs(redis: bool = True) -> list[str]:
    """The Debian programs the local stack needs that this machine lacks."""
    wanted = ["nginx", "redis-server"] if redis else ["nginx"]
    return [name for name in wanted if not (shutil.which(name) or Path(f"/usr/sbin/{name}").exists())]


def program(name: str) -> str:
    found = shutil.which(name) or (f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists() else None)
    if not found:
        raise MissingDependency(f"{name} is not installed (apt-get install {name})")
    return found


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the process that started it dies (Linux), so a stack
    whose owner was killed leaves no orphans behind."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class Process:
    """One process of the stack: its name, port, Popen and log file."""

    name: str
    port: int
    popen: subprocess.Popen
    log: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal(self, sig: int) -> None:
        """``sig`` to this process's group (its own children: render workers), by its id."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, sig)

    def stop(self, timeout: float = 15.0) -> None:
        self.signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.popen.wait(timeout=timeout)

    def kill(self) -> None:
        """Kill at once (a crashed process, as nginx sees it)."""
        self.signal(signal.SIGKILL)
        self.popen.wait(timeout=15)

    def tail(self, chars: int = 2000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


@dataclass
class LocalStack:
    """Redis, ``apis`` API processes and nginx on this machine, for ``settings``' database.

    ``env`` adds ONEMAP_* variables for the API processes (and the rendered nginx limits).
    ``proxy_bind``: the loopback address nginx connects to the API from; it alone is the API's
    trusted proxy (ONEMAP_TRUSTED_PROXIES), so a local client talking to an API process directly
    cannot pick its address with X-Forwarded-For.
    """

    root: Path
    database_url: str
    apis: int = 2
    redis: bool = True
    env: dict[str, str] = field(default_factory=dict)
    proxy_bind: str = "127.0.0.2"
    host: str = "127.0.0.1"
    static: bool = True
    processes: list[Process] = field(default_factory=list)
    nginx_port: int = 0
    redis_url: str | None = None

    # ------------------------------------------------------------------ addresses
    @property
    def url(self) -> str:
        """The public address: nginx."""
        return f"http://{self.host}:{self.nginx_port}"

    @property
    def api_processes(self) -> list[Process]:
        return [p for p in self.processes if p.name.startswith("api")]

    def api_url(self, index: int = 0) -> str:
        """One API process directly (bypassing nginx)."""
        return f"http://127.0.0.1:{self.api_processes[index].port}"

    def process(self, name: str) -> Process:
        return next(p for p in self.processes if p.name == name)

    # ------------------------------------------------------------------ life cycle
    def __enter__(self) -> LocalStack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.nginx_port = self.nginx_port or free_port(self.host)
        if self.redis:
            self.start_redis()
        ports = [free_port() for _ in range(self.apis)]
        for index, port in enumerate(ports):
            self.start_api(index, port)
        for process in self.api_processes:
            self._wait_http(process, f"http://127.0.0.1:{process.port}/health")
        self.start_nginx()

    def stop(self) -> None:
        """Stop every process this stack started: nginx first (no new requests), then the API
        processes together (each finishes what it holds), Redis last."""
        nginx = [p for p in self.processes if p.name == "nginx"]
        redis = [p for p in self.processes if p.name == "redis"]
        for group in (nginx, self.api_processes, redis):
            for process in group:
                process.signal(signal.SIGTERM)
            for process in group:
                with contextlib.suppress(OSError, subprocess.SubprocessError):
                    process.stop()

    def api_environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({
            "ONEMAP_DATABASE_URL": self.database_url,
            "ONEMAP_PUBLIC_URL": self.url,
            "ONEMAP_TRUSTED_PROXIES": self.proxy_bind,
            "PYTHONPATH": str(PROJECT_ROOT),
        })  # fmt: skip
        if self.redis_url:
            env["ONEMAP_TILE_CACHE"] = self.redis_url
            env["ONEMAP_RATE_LIMIT_STORAGE"] = self.redis_url.rsplit("/", 1)[0] + "/1"  # one budget for all
        env.update(self.env)
        return env

    def settings(self) -> Settings:
        """The settings the API processes run with (nginx's limits come from these)."""
        given = {k.removeprefix("ONEMAP_").lower(): v for k, v in self.api_environment().items()
                 if k.startswith("ONEMAP_")}  # fmt: skip
        return Settings.model_validate(given)

    def _spawn(self, name: str, port: int, argv: list[str], env: dict[str, str] | None = None) -> Process:
        log = self.root / f"{name}.log"
        with log.open("ab") as out:
            popen = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=PROJECT_ROOT,
                                     start_new_session=True, preexec_fn=_die_with_parent)  # fmt: skip
        process = Process(name, port, popen, log)
        self.processes.append(process)
        return process

    def start_redis(self) -> None:
        port = free_port()
        folder = self.root / "redis"
        folder.mkdir(exist_ok=True)
        argv = [program("redis-server"), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", str(folder), "--daemonize", "no", "--maxmemory", "256mb",
                "--maxmemory-policy", "allkeys-lru"]  # fmt: skip
        process = self._spawn("redis", port, argv)
        self.redis_url = f"redis://127.0.0.1:{port}/0"
        import redis

        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                if redis.Redis(port=port, socket_timeout=1).ping():
                    return
            except redis.RedisError:
                pass
            if not process.alive() or time.monotonic() > deadline:
                raise OnemapError(f"redis-server did not start: {process.tail()}")
            time.sleep(0.05)

    def start_api(self, index: int, port: int | None = None) -> Process:
        port = port or free_port()
        argv = [sys.executable, "-m", "api.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
        return self._spawn(f"api{index}", port, argv, self.api_environment())

    def nginx_conf(self) -> str:
        from api.cli.deploy import STATIC_DIR, render_site, render_standalone

        prefix = self.root / "nginx"
        site = render_site(self.settings(), [f"127.0.0.1:{p.port}" for p in self.api_processes],
                           listen=f"{self.host}:{self.nginx_port}", access_log=str(prefix / "access.log"),
                           static_dir=STATIC_DIR if self.static else None, proxy_bind=self.proxy_bind)  # fmt: skip
        # started as root (a test machine, `onemap deploy run`): workers as root too, like every other
        # process of this stack, not as nobody (who may not read the tmp prefix or the checkout)
        return render_standalone(site, prefix, worker_account="root" if os.geteuid() == 0 else None)

    def start_nginx(self) -> None:
        prefix = self.root / "nginx"
        prefix.mkdir(exist_ok=True)
        conf = prefix / "nginx.conf"
        conf.write_text(self.nginx_conf())
        nginx = program("nginx")
        base = [nginx, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")]
        checked = subprocess.run([*base, "-t", "-q"], capture_output=True, text=True, timeout=30)
        if checked.returncode != 0:
            raise OnemapError(f"nginx refused the rendered configuration: {checked.stderr.strip()}")
        process = self._spawn("nginx", self.nginx_port, [*base, "-g", "daemon off;"])
        self._wait_http(process, f"{self.url}/health")

    def _wait_http(self, process: Process, url: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if not process.alive() or time.monotonic() > deadline:
                raise OnemapError(f"{process.name} did not come up on {url}: {process.tail()}")
            time.sleep(0.1)

    def access_log(self) -> list[str]:
        """nginx's access log lines so far."""
        path = self.root / "nginx" / "access.log"
        return path.read_text().splitlines() if path.exists() else []
