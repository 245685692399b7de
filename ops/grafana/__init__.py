"""The Grafana dashboard, written with grafanalib."""
