"""The files in deploy/ agree with the settings and with the rendered nginx site (no processes here)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from api.cli.deploy import address, render_site
from spatial.config import PROJECT_ROOT, Settings
from spatial.errors import InvalidInput

DEPLOY = PROJECT_ROOT / "deploy"
FIELDS = {f"ONEMAP_{name.upper()}" for name in Settings.model_fields}


def test_the_env_example_names_only_real_settings() -> None:
    pairs = [line.split("=", 1) for line in (DEPLOY / "systemd" / "onemap.env.example").read_text().splitlines()
             if line.strip() and not line.startswith("#")]  # fmt: skip
    assert {name for name, _ in pairs} <= FIELDS, {name for name, _ in pairs} - FIELDS
    Settings.model_validate({name.removeprefix("ONEMAP_").lower(): value for name, value in pairs})


def test_the_systemd_unit_serves_one_process_per_port() -> None:
    unit = (DEPLOY / "systemd" / "onemap@.service").read_text()
    assert "EnvironmentFile=/etc/onemap/onemap.env" in unit and "--port %i" in unit
    assert "WantedBy=onemap.target" in unit and "PartOf=onemap.target" in unit


def test_every_command_the_systemd_units_run_is_a_real_onemap_command() -> None:
    """ExecStart lines name `onemap …` commands and options that exist (--help parses them)."""
    from click.testing import CliRunner

    from api.cli.main import main

    commands = [line.split("/bin/onemap ", 1)[1] for unit in sorted((DEPLOY / "systemd").glob("*.service"))
                for line in unit.read_text().splitlines() if line.startswith("ExecStart=")]  # fmt: skip
    assert any(c.startswith("incidents partitions create") for c in commands), commands
    for command in commands:
        words = command.replace("%i", "8001").split()
        names = [w for w in words if not w.startswith("-")]
        path = [w for w in names if not w[0].isdigit() and "." not in w]
        result = CliRunner().invoke(main, [*path, "--help"])
        assert result.exit_code == 0, (command, result.output)
        for option in (w for w in words if w.startswith("--")):
            assert option in result.output, (command, option)


def test_compose_api_settings_are_real_and_its_nginx_site_is_the_rendered_one() -> None:
    compose = yaml.safe_load((DEPLOY / "compose" / "docker-compose.yml").read_text())
    api = compose["x-api"]["environment"]
    assert set(api) <= FIELDS, set(api) - FIELDS
    assert {"db", "db-replica", "redis", "api1", "api2", "nginx"} <= set(compose["services"])
    nginx_ip = compose["services"]["nginx"]["networks"]["onemap"]["ipv4_address"]
    assert api["ONEMAP_TRUSTED_PROXIES"] == nginx_ip
    settings = Settings(max_body_bytes=int(api["ONEMAP_MAX_BODY_BYTES"]))
    rendered = render_site(settings, ["api1:8000", "api2:8000"], listen="80", access_log="/dev/stdout")
    shipped = (DEPLOY / "compose" / "nginx" / "onemap.conf").read_text()
    assert shipped == rendered, "re-render deploy/compose/nginx/onemap.conf (command in deploy/README.md)"


def test_helm_values_name_real_settings() -> None:
    values = yaml.safe_load((DEPLOY / "helm" / "onemap" / "values.yaml").read_text())
    assert set(values["settings"]) | set(values["secrets"]) <= FIELDS
    assert yaml.safe_load((DEPLOY / "helm" / "onemap" / "Chart.yaml").read_text())["apiVersion"] == "v2"


@pytest.mark.parametrize("bad", ["", "x", "host:", "host:0", "host:70000", ":port"])
def test_bad_api_addresses_are_refused(bad: str) -> None:
    with pytest.raises(InvalidInput):
        address(bad)


def test_the_cli_refuses_bad_input_in_one_line() -> None:
    run = subprocess.run([sys.executable, "-m", "api.cli", "deploy", "nginx", "--api", "nowhere"],
                         capture_output=True, text=True, timeout=60, cwd=PROJECT_ROOT)  # fmt: skip
    assert run.returncode != 0 and "not host:port" in run.stderr and "Traceback" not in run.stderr


def test_the_site_fits_debians_own_nginx_conf(tmp_path) -> None:  # noqa: ANN001
    """The systemd recipe: the rendered site in Debian's stock nginx.conf (which has gzip on, logs, mime
    types of its own) passes `nginx -t` — paths moved into tmp, nothing under /etc touched."""
    import os
    import re
    import shutil
    from pathlib import Path

    stock = Path("/etc/nginx/nginx.conf")
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not stock.exists() or not Path(nginx).exists():
        if os.environ.get("CI"):
            pytest.fail("nginx is missing on CI (.ci/os-packages.sh installs it)")
        pytest.skip("nginx is not installed here")
    site = tmp_path / "onemap"
    site.write_text(render_site(Settings(), ["127.0.0.1:8001", "127.0.0.1:8002"], listen="127.0.0.1:8080",
                                access_log=str(tmp_path / "onemap.access.log"),
                                static_dir=PROJECT_ROOT / "api" / "web" / "static"))  # fmt: skip
    conf = stock.read_text()
    conf = re.sub(r"(?m)^\s*user\s+[^;]+;", "", conf)
    conf = re.sub(r"(?m)^(\s*)pid\s+[^;]+;", rf"\1pid {tmp_path}/nginx.pid;", conf)
    conf = re.sub(r"(?m)^(\s*)(error_log|access_log)\s+/var/log/nginx/([^;\s]+)", rf"\1\2 {tmp_path}/\3", conf)
    conf = conf.replace("include /etc/nginx/sites-enabled/*;", f"include {site};")
    conf = conf.replace("include /etc/nginx/conf.d/*.conf;", "")
    for temp in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        conf = conf.replace("http {", f"http {{\n\t{temp}_temp_path {tmp_path}/{temp};", 1)
    (tmp_path / "nginx.conf").write_text(conf)
    checked = subprocess.run([nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"),
                              "-e", str(tmp_path / "error.log")], capture_output=True, text=True, timeout=30)  # fmt: skip
    assert checked.returncode == 0, checked.stderr
