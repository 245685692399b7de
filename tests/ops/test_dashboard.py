"""The committed Grafana dashboard is what ops/grafana/dashboard.py generates, and it is usable."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from ops.grafana import dashboard

PROVISIONING = Path(dashboard.__file__).parent / "provisioning"


def test_committed_json_is_generated_output() -> None:
    assert dashboard.OUT.read_text() == dashboard.render(), (
        "ops/grafana/dashboards/reco.json is out of date: run `make dashboard` and commit it"
    )


def test_panels_query_the_provisioned_datasource() -> None:
    doc = json.loads(dashboard.render())
    sources = yaml.safe_load((PROVISIONING / "datasources" / "prometheus.yml").read_text())
    uids = {d["uid"] for d in sources["datasources"]}
    panels = [p for p in doc["panels"] if p["type"] != "row"]
    assert len(panels) >= 10
    assert len({p["id"] for p in doc["panels"]}) == len(doc["panels"])
    for p in panels:
        assert p["datasource"]["uid"] in uids, p["title"]
        assert p["targets"] and all(t["expr"] and t["refId"] for t in p["targets"]), p["title"]
        assert p["description"], p["title"]


def test_provider_loads_the_dashboards_directory() -> None:
    provider = yaml.safe_load((PROVISIONING / "dashboards" / "reco.yml").read_text())
    (entry,) = provider["providers"]
    # docker-compose.yml mounts ops/grafana/dashboards at this path.
    assert entry["options"]["path"] == "/var/lib/grafana/dashboards"
