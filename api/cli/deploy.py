"""`onemap deploy nginx`: the nginx site for several API processes, rendered from the ONEMAP_* settings.

One source for the proxy's numbers: the body limit (``client_max_body_size`` = the largest body any
route accepts, ``Settings.body_limit``), the header size and time-outs, the keep-alive below
uvicorn's, the event stream's read time-out above its keep-alive — all read from the same settings
(environment or env file) the API processes run with, so nginx and the API never disagree.
The template is ``deploy/nginx/onemap.conf.in``; ``tests/deploy`` runs nginx on what this prints.

``--standalone PREFIX`` wraps the site in a whole ``nginx.conf`` whose pid, logs and temporary
files live under PREFIX (``nginx -p PREFIX -c nginx.conf -g 'daemon off;'``: no root, no
/etc/nginx), as the test and the compose file use it.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from string import Template

import click

from api.cli.common import console, friendly_errors
from spatial.config import PROJECT_ROOT, Settings
from spatial.errors import InvalidInput
from spatial.params import parse_int

TEMPLATE = PROJECT_ROOT / "deploy" / "nginx" / "onemap.conf.in"
STATIC_DIR = PROJECT_ROOT / "api" / "web" / "static"
PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")

STANDALONE = """\
# A whole nginx.conf around the onemap site: everything under the prefix $prefix
# (run: nginx -p $prefix -c $prefix/nginx.conf -g 'daemon off;')
${user}worker_processes $workers;
pid $prefix/nginx.pid;
error_log $prefix/error.log warn;
events { worker_connections 1024; }
http {
    include $mime_types;
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    server_tokens off;
    client_body_temp_path $prefix/client_body;
    proxy_temp_path $prefix/proxy;
    fastcgi_temp_path $prefix/fastcgi;
    uwsgi_temp_path $prefix/uwsgi;
    scgi_temp_path $prefix/scgi;
$site
}
"""


def address(value: str, default_host: str = "127.0.0.1") -> str:
    """``host:port`` (a bare port means loopback); InvalidInput when it is not one."""
    host, _, port = value.rpartition(":")
    try:
        number = parse_int(port, name="port", minimum=1, maximum=65535)
    except InvalidInput:
        raise InvalidInput(f"{value!r} is not host:port (or a port)") from None
    return f"{host or default_host}:{number}"


def _seconds(value: float) -> str:
    return f"{math.ceil(value)}s"


def error_json(code: str, description: str) -> str:
    """An answer of nginx's own in the one error shape (``api.errors``), quoted for nginx's ``return``."""
    body = json.dumps({"code": code, "type": code, "description": description}, ensure_ascii=False)
    return "'" + body.replace("\\", "\\\\").replace("'", "\\'") + "'"


def render_site(settings: Settings, apis: list[str], *, listen: str = "80", server_name: str = "_",
                static_dir: Path | None = None, access_log: str = "/var/log/nginx/onemap.access.log",
                proxy_bind: str | None = None) -> str:  # fmt: skip
    """The nginx site (upstream + server) for the API processes at ``apis`` (``host:port`` each)."""
    if not apis:
        raise InvalidInput("name at least one API process (--api host:port)")
    limit = settings.body_limit
    # the longest a request may take inside the API: a statement, a render or an imagery process
    slowest = max(settings.statement_timeout_s, settings.render_timeout_s, settings.process_timeout_s)
    static = ""
    if static_dir is not None:
        static = (
            "    # the pages' own files and their vendored libraries, straight from disk\n"
            "    location /static/ {\n"
            f"        alias {static_dir.resolve()}/;\n"
            "        expires 1h;\n"
            "        add_header X-Content-Type-Options nosniff always;\n"
            "    }\n"
        )
    values = {
        "servers": "".join(f"    server {a} max_fails=1 fail_timeout=5s;\n" for a in apis),
        "listen": listen,
        "server_name": server_name,
        "access_log": access_log,
        "body_limit": str(limit),
        "too_large": error_json("PayloadTooLarge", f"the request body is larger than {limit:,} bytes"),
        "unavailable": error_json("ServiceUnavailable", "no API process answered: try again in a few seconds"),
        "header_buffer": f"{max(8, math.ceil(settings.max_header_bytes / 1024))}k",
        "header_timeout": _seconds(settings.header_timeout_s),
        "body_timeout": _seconds(settings.body_timeout_s),
        # nginx closes an idle upstream connection before uvicorn does (no request on a closing socket)
        "upstream_idle": _seconds(max(1.0, settings.keepalive_timeout_s - 1)),
        "read_timeout": _seconds(slowest + 10),
        "stream_timeout": _seconds(max(60.0, settings.stream_keepalive_s * 3)),
        "proxy_bind": f"    proxy_bind {proxy_bind};\n" if proxy_bind else "",
        "static": static,
    }
    return fill(TEMPLATE.read_text(), values)


def fill(template: str, values: dict[str, str]) -> str:
    """``template`` with each ``{{name}}`` replaced (nginx's own ``$variables`` stay as they are)."""
    missing = set(PLACEHOLDER.findall(template)) - set(values)
    if missing:
        raise InvalidInput(f"the nginx template names unknown values: {sorted(missing)}")
    return PLACEHOLDER.sub(lambda match: values[match[1]], template)


def render_standalone(site: str, prefix: Path, *, workers: int = 1, worker_account: str | None = None) -> str:
    """A whole nginx.conf around ``site`` with every path under ``prefix``.

    ``worker_account``: the OS account nginx's worker processes run as when nginx starts as root
    (nginx's default is ``nobody``, which may not read the prefix or the static files).
    """
    indented = "".join(f"    {line}" if line.strip() else line for line in site.splitlines(keepends=True))
    return Template(STANDALONE).substitute(prefix=str(prefix.resolve()), workers=workers, site=indented,
                                           mime_types="/etc/nginx/mime.types",
                                           user=f"user {worker_account};\n" if worker_account else "")  # fmt: skip


@click.group()
def deploy() -> None:
    """Deployment files rendered from the ONEMAP_* settings (see deploy/README.md)."""


@deploy.command("nginx")
@click.option("--api", "apis", multiple=True, required=True, help="an API process, host:port (repeat per process)")
@click.option("--listen", default="80", show_default=True, help="nginx's listen address (port or host:port)")
@click.option("--server-name", default="_", show_default=True)
@click.option("--static/--no-static", default=True, show_default=True,
              help="serve /static (pages, vendored libraries) from api/web/static directly")  # fmt: skip
@click.option("--access-log", default=None, help="access log path (default /var/log/nginx/onemap.access.log)")
@click.option("--proxy-bind", default=None, help="source address nginx connects to the API from")
@click.option("--standalone", "prefix", type=click.Path(path_type=Path), default=None,
              help="print a whole nginx.conf with pid, logs and temporary files under this folder")  # fmt: skip
@click.pass_obj
@friendly_errors
def nginx(settings: Settings, apis: tuple[str, ...], listen: str, server_name: str, static: bool,
          access_log: str | None, proxy_bind: str | None, prefix: Path | None) -> None:  # fmt: skip
    """Print the nginx site for the API processes (ONEMAP_* settings give the limits)."""
    log = access_log or (f"{prefix.resolve()}/access.log" if prefix else "/var/log/nginx/onemap.access.log")
    site = render_site(settings, [address(a) for a in apis], listen=listen, server_name=server_name,
                       static_dir=STATIC_DIR if static else None, access_log=log, proxy_bind=proxy_bind)  # fmt: skip
    click.echo(render_standalone(site, prefix) if prefix else site, nl=False)


@deploy.command("run")
@click.option("--apis", type=click.IntRange(1, 16), default=2, show_default=True, help="API processes behind nginx")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="nginx's port (default: a free one)")
@click.option("--redis/--no-redis", default=True, show_default=True, help="a Redis of its own as the tile cache")
@click.pass_obj
@friendly_errors
def run(settings: Settings, apis: int, port: int | None, redis: bool) -> None:
    """Try the deployment here: Redis, several API processes and nginx in front (Ctrl-C stops them all)."""
    import signal
    import time

    from api.local_stack import LocalStack
    from spatial.db import database_url

    root = settings.var_dir / "deploy"
    stack = LocalStack(root, database_url(settings), apis=apis, redis=redis, nginx_port=port or 0,
                       env={"ONEMAP_VAR_DIR": str(settings.var_dir)})  # fmt: skip
    def interrupted(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)  # `systemctl stop`, `timeout`: stop the stack too
    with stack:
        direct = ", ".join(f"127.0.0.1:{p.port}" for p in stack.api_processes)
        console.print(f"nginx on {stack.url} in front of {direct}; tile cache {stack.redis_url or 'as configured'}; "
                      f"configuration and logs in {root}", highlight=False)  # fmt: skip
        try:
            while all(process.alive() for process in stack.processes):
                time.sleep(1)
            gone = [process.name for process in stack.processes if not process.alive()]
            console.print(f"stopped: {', '.join(gone)} exited (see its log in {root})")
        except KeyboardInterrupt:
            pass
