"""Alert rules and Prometheus config: promtool's checks and unit tests, runbooks, coverage."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROM = ROOT / "ops" / "prometheus"
OPERATIONS = ROOT / "docs" / "operations.md"


def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.skip(
            "promtool not found: install Debian's `prometheus` package "
            "(apt-get install prometheus), as .ci/run does"
        )
    return path


def _alerts() -> list[dict[str, object]]:
    groups = yaml.safe_load((PROM / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


@pytest.mark.parametrize(
    "args",
    [
        ["check", "rules", "alerts.yml"],
        ["check", "config", "prometheus.yml"],
        ["test", "rules", "alerts_test.yml"],
    ],
    ids=["check-rules", "check-config", "test-rules"],
)
def test_promtool(args: list[str]) -> None:
    out = subprocess.run(
        [_promtool(), *args], cwd=PROM, capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, f"promtool {' '.join(args)}:\n{out.stdout}\n{out.stderr}"


def test_every_alert_has_a_unit_test_and_a_runbook_section() -> None:
    tested = set(re.findall(r"alertname:\s*(\w+)", (PROM / "alerts_test.yml").read_text()))
    headings = {
        line.lstrip("#").strip().lower()
        for line in OPERATIONS.read_text().splitlines()
        if line.startswith("#")
    }
    for rule in _alerts():
        name = str(rule["alert"])
        assert name in tested, f"{name} has no case in alerts_test.yml"
        labels = rule.get("labels")
        assert isinstance(labels, dict) and labels.get("severity") in ("page", "ticket"), name
        annotations = rule.get("annotations")
        assert isinstance(annotations, dict), name
        assert annotations.get("runbook") == f"docs/operations.md#{name.lower()}", name
        assert name.lower() in headings, f"docs/operations.md has no section '{name}'"
