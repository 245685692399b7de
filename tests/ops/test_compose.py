"""docker-compose.yml: valid for Compose, and consistent with the settings and Prometheus."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from recommender.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
PROJECT_SERVICES = ("worker", "api", "trainer", "traffic")


def _compose() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return doc


def _compose_command() -> list[str] | None:
    """`docker compose` (v2 plugin) if it answers, else Debian's `docker-compose` (v1)."""
    if shutil.which("docker"):
        probe = subprocess.run(
            ["docker", "compose", "version"], capture_output=True, timeout=30, check=False
        )
        if probe.returncode == 0:
            return ["docker", "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


def test_compose_config_is_valid() -> None:
    cmd = _compose_command()
    if cmd is None:
        pytest.skip("no Docker Compose client (`docker compose` plugin or `docker-compose`)")
    out = subprocess.run(
        [*cmd, "--profile", "traffic", "--profile", "train", "config", "-q"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, f"{' '.join(cmd)} config -q:\n{out.stdout}\n{out.stderr}"


def test_project_services_set_only_known_settings() -> None:
    known = {f"RECO_{name.upper()}" for name in Settings.model_fields} | {
        "KAFKA_BOOTSTRAP",
        "REDIS_URL",
    }
    services = _compose()["services"]
    for name in PROJECT_SERVICES:
        env = services[name].get("environment", {})
        unknown = sorted(k for k in env if k.startswith("RECO_") and k not in known)
        assert not unknown, f"{name} sets variables no setting reads: {unknown}"


def test_worker_and_api_scale_and_are_scraped_on_their_ports() -> None:
    services = _compose()["services"]
    prom = yaml.safe_load((ROOT / "ops" / "prometheus" / "prometheus.yml").read_text())
    jobs = {j["job_name"]: j["dns_sd_configs"][0] for j in prom["scrape_configs"][:2]}
    ports = {"worker": "RECO_METRICS_PORT", "api": "RECO_API_PORT"}
    for service, job in (("worker", "reco-worker"), ("api", "reco-api")):
        spec = services[service]
        assert "container_name" not in spec, f"{service} cannot scale with a container_name"
        assert "replicas" in spec["deploy"], service
        assert jobs[job]["names"] == [service]
        assert jobs[job]["port"] == int(spec["environment"][ports[service]])
    assert services["traffic"]["profiles"] == ["traffic"]
    assert services["traffic"]["command"][:4] == ["python", "-m", "loadtest", "generate"]
