"""`python -m recommender serve|train|console-hash-password`: API, training, console hashes."""

from __future__ import annotations

import argparse
import sys

from recommender import train_cli
from recommender.console import cli as console_cli
from recommender.errors import ConfigError
from recommender.settings import load_settings


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, validate settings, serve until stopped."""
    ap = argparse.ArgumentParser(prog="python -m recommender")
    sub = ap.add_subparsers(dest="cmd", required=True)
    srv = sub.add_parser("serve", help="serve the HTTP API")
    srv.add_argument("--host", default=None, help="overrides RECO_API_HOST")
    srv.add_argument("--port", type=int, default=None, help="overrides RECO_API_PORT")
    train_cli.add_parser(sub)
    console_cli.add_parser(sub)
    args = ap.parse_args(argv)
    if args.cmd == "train":
        return int(train_cli.run(args))
    if args.cmd == "console-hash-password":
        return console_cli.run(args)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if settings.api_auth and not (settings.api_keys_app or settings.api_keys_admin):
        print(
            "error: no API keys: set RECO_API_KEYS_APP and RECO_API_KEYS_ADMIN (JSON lists), "
            "or RECO_API_AUTH=false for local development",
            file=sys.stderr,
        )
        return 2
    import uvicorn

    from recommender.logs import logging_config

    uvicorn.run(
        # Each worker process imports the app itself (required by uvicorn for workers > 1).
        "recommender.api.factory:make_app",
        factory=True,
        workers=settings.api_workers,
        host=args.host or settings.api_host,
        port=args.port or settings.api_port,
        log_level="info",
        # uvicorn's own loggers and ours, on stderr, in the configured format.
        log_config=logging_config(settings.log_format),
        # An access-log line per request costs ~5% of CPU at 1,000 requests/s; metrics count them.
        access_log=False,
        # uvicorn drains in-flight requests on SIGTERM for up to this long.
        timeout_graceful_shutdown=10,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
