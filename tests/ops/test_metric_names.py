"""Every metric the dashboard and the alert rules read is on a real worker's or API's /metrics."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import httpx
import pytest
import yaml

from loadtest.apiproc import ApiProcess
from loadtest.workers import WorkerProcess

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
NAME = re.compile(r"\breco_[a-z0-9_]+")
SUFFIXES = {"histogram": ("_bucket", "_sum", "_count"), "summary": ("", "_sum", "_count")}


def used_in_dashboard() -> set[str]:
    """Metric names in the expressions of every panel of the committed dashboard."""
    doc = json.loads((ROOT / "ops" / "grafana" / "dashboards" / "reco.json").read_text())
    exprs = [t["expr"] for p in doc["panels"] for t in p.get("targets", [])]
    return {n for e in exprs for n in NAME.findall(e)}


def used_in_alerts() -> set[str]:
    """Metric names in the expressions of the alert rules."""
    groups = yaml.safe_load((ROOT / "ops" / "prometheus" / "alerts.yml").read_text())["groups"]
    return {n for g in groups for r in g["rules"] for n in NAME.findall(r["expr"])}


def exported(body: str) -> set[str]:
    """Series names a scrape can yield: declared families (with their histogram suffixes,
    even before a first observation) and every sample line."""
    names: set[str] = set()
    for line in body.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            names |= {name + s for s in SUFFIXES.get(kind, ("",))}
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names


def _scrape(url: str, timeout: float, alive: WorkerProcess | None = None) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            r = httpx.get(url, timeout=2)
            if r.status_code == 200:
                return r.text
        except httpx.TransportError:
            pass
        if alive is not None and not alive.alive():
            raise RuntimeError(f"worker exited:\n{alive.tail()}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not answer in {timeout:.0f} s")
        time.sleep(0.2)


def test_exported_understands_the_exposition_format() -> None:
    body = (
        "# HELP a_total x\n# TYPE a_total counter\n"
        "# HELP b_seconds y\n# TYPE b_seconds histogram\n"
        '# TYPE c gauge\nc{k="v"} 1.0\nd 2\n'
    )
    assert exported(body) == {
        "a_total",
        "b_seconds_bucket",
        "b_seconds_sum",
        "b_seconds_count",
        "c",
        "d",
    }


def test_dashboard_and_alert_metrics_exist(namespace: dict[str, str], tmp_path: Path) -> None:
    wanted = used_in_dashboard() | used_in_alerts()
    assert len(wanted) > 15  # the regex found the expressions at all
    worker = WorkerProcess(namespace, tmp_path / "worker.log").start()
    api = ApiProcess(namespace, tmp_path / "api.log")
    try:
        api.start()  # the worker starts up meanwhile
        api_names = exported(_scrape(f"{api.url}/metrics", 10))
        worker_names = exported(
            _scrape(f"http://127.0.0.1:{worker.metrics_port}/metrics", 90, worker)
        )
    finally:
        api.stop()
        worker.stop()
    missing = sorted(wanted - api_names - worker_names)
    assert not missing, f"used by ops/ but exported by neither process: {missing}"
    # Each family comes from the process the dashboard attributes it to.
    assert {n for n in wanted if n.startswith("reco_api_")} <= api_names
    assert {n for n in wanted if n.startswith("reco_worker_")} <= worker_names
    assert {n for n in wanted if n.startswith(("reco_offers_", "reco_trigger_"))} <= worker_names
