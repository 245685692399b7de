"""``python -m streams worker``: run one worker process."""

from __future__ import annotations

import argparse
import sys

from recommender.errors import ConfigError
from recommender.settings import load_settings


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, validate settings, run the worker until stopped."""
    parser = argparse.ArgumentParser(prog="python -m streams")
    sub = parser.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("worker", help="consume events and keep profiles in Redis")
    w.add_argument("--engine", choices=["batch", "faust"], help="overrides RECO_ENGINE")
    w.add_argument("--loglevel", default="info")
    args = parser.parse_args(argv)
    overrides = {"engine": args.engine} if args.engine else {}
    try:
        settings = load_settings(**overrides)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from streams.preflight import wait_for_dependencies

    problems = wait_for_dependencies(settings, settings.startup_wait_s)
    if problems:
        for p in problems:
            print(f"error: {p}", file=sys.stderr)
        return 2
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - optional speed-up
        pass
    import faust

    from recommender.logs import configure, logging_config
    from streams.app import create_app

    configure(settings.log_format, args.loglevel)
    app, runtime = create_app(settings)
    worker = faust.Worker(
        app,
        runtime,
        loglevel=args.loglevel,
        # Faust sets logging up again when it starts: hand it the same configuration.
        logging_config=logging_config(settings.log_format, args.loglevel),
    )
    worker.execute_from_commandline()
    return 0


if __name__ == "__main__":
    sys.exit(main())
