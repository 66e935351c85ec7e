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
