"""`python -m loadtest {stack,generate,demo,bench}`: tools around the product."""

from __future__ import annotations

import argparse
import signal
import sys
import time

import orjson


def _stack(args: argparse.Namespace) -> int:
    from loadtest.stack import Stack

    with Stack() as st:
        print(f"export KAFKA_BOOTSTRAP={st.kafka_bootstrap}")
        print(f"export REDIS_URL={st.redis_url}", flush=True)
        print("# embedded stack running; Ctrl-C stops it", file=sys.stderr, flush=True)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return 0


def _bench(args: argparse.Namespace) -> int:
    from loadtest import bench_ingest

    report = bench_ingest.run(
        bench_ingest.Plan(
            events=args.events,
            users=args.users,
            items=args.items,
            seed=args.seed,
            faust_baselines=not args.no_faust,
        )
    )
    return _emit(report, args.json)


def _emit(report: object, path: str | None) -> int:
    text = orjson.dumps(report, option=orjson.OPT_INDENT_2).decode()
    print(text)
    if path:
        with open(path, "w") as f:
            f.write(text + "\n")
    return 0


def _bench_freshness(args: argparse.Namespace) -> int:
    from loadtest import bench_freshness

    return _emit(bench_freshness.run(trials=args.trials, seed=args.seed), args.json)


def _bench_api(args: argparse.Namespace) -> int:
    from loadtest import bench_api

    report = bench_api.run(
        items=args.items,
        rps=args.rps,
        duration_s=args.duration,
        seed=args.seed,
        api_workers=args.api_workers,
        connections=args.connections,
    )
    return _emit(report, args.json)


def _bench_index(args: argparse.Namespace) -> int:
    from loadtest import bench_index

    report = bench_index.run(args.items, args.dim, args.queries, args.k, args.seed)
    return _emit(report, args.json)


def _bench_price_drop(args: argparse.Namespace) -> int:
    from loadtest import bench_price_drop

    return _emit(bench_price_drop.run(args.watchers), args.json)


def _soak(args: argparse.Namespace) -> int:
    from loadtest import soak

    if args.find_capacity:
        from loadtest import capacity

        return _emit(capacity.run(events=args.capacity_events), args.json)
    report = soak.run(
        minutes=args.minutes,
        rate=args.rate,
        api_rps=args.api_rps,
        sample_s=args.sample_s,
        fetch_max_wait_ms=args.fetch_max_wait_ms,
        redis_pool=args.redis_pool,
    )
    return _emit(report, args.json)


def _demo(args: argparse.Namespace) -> int:
    import loadtest.demo

    return loadtest.demo.run(
        duration=args.duration, rate=args.rate, users=args.users, seed=args.seed
    )


def main(argv: list[str] | None = None) -> int:
    """Dispatch to a subcommand."""
    from loadtest import eval_cli, generate, push_sim, simulate

    ap = argparse.ArgumentParser(prog="python -m loadtest")
    sub = ap.add_subparsers(dest="cmd", required=True)
    st = sub.add_parser("stack", help="run the embedded broker + Redis until Ctrl-C")
    st.set_defaults(fn=_stack)
    generate.add_parser(sub)
    eval_cli.add_parser(sub)
    push_sim.add_parser(sub)
    simulate.add_parser(sub)
    so = sub.add_parser("soak", help="the product at a steady rate for long: memory, lag, errors")
    so.add_argument("--minutes", type=float, default=30)
    so.add_argument("--rate", type=float, default=6000, help="synthetic events/s")
    so.add_argument("--api-rps", type=float, default=100, help="recommendation requests/s")
    so.add_argument("--sample-s", type=float, default=10)
    so.add_argument("--json", help="also write the report to this file")
    so.add_argument(
        "--find-capacity",
        action="store_true",
        help="instead: time one whole worker draining a backlog of the soak's traffic",
    )
    so.add_argument("--capacity-events", type=int, default=300_000, help="backlog size")
    so.add_argument(
        "--fetch-max-wait-ms", type=int, help="override RECO_FETCH_MAX_WAIT_MS (default 20)"
    )
    so.add_argument("--redis-pool", type=int, help="redis-py max_connections (default 100)")
    so.set_defaults(fn=_soak)
    d = sub.add_parser("demo", help="the product live on the embedded stack")
    d.add_argument("--duration", type=float, default=0, help="seconds; 0 = until Ctrl-C")
    d.add_argument("--rate", type=float, default=300, help="synthetic events/s")
    d.add_argument("--users", type=int, default=2000)
    d.add_argument("--seed", type=int, default=1)
    d.set_defaults(fn=_demo)
    b = sub.add_parser("bench", help="benchmarks that print JSON")
    bsub = b.add_subparsers(dest="bench", required=True)
    bi = bsub.add_parser("ingest", help="events/s Kafka -> Redis vs raw aiokafka and bare faust")
    bi.add_argument("--events", type=int, default=200_000)
    bi.add_argument("--users", type=int, default=20_000)
    bi.add_argument("--items", type=int, default=5_000)
    bi.add_argument("--seed", type=int, default=1)
    bi.add_argument("--json", help="also write the report to this file")
    bi.add_argument("--no-faust", action="store_true", help="skip the slow Faust baselines")
    bi.set_defaults(fn=_bench)
    bf = bsub.add_parser("freshness", help="click -> that user's recommendations, p50/p99")
    bf.add_argument("--trials", type=int, default=200)
    bf.add_argument("--seed", type=int, default=1)
    bf.add_argument("--json", help="also write the report to this file")
    bf.set_defaults(fn=_bench_freshness)
    ba = bsub.add_parser("api", help="recommendation latency at a steady rate, large catalog")
    ba.add_argument("--items", type=int, default=1_000_000)
    ba.add_argument("--rps", type=float, default=1000)
    ba.add_argument("--duration", type=float, default=30, help="seconds of measured load")
    ba.add_argument("--seed", type=int, default=1)
    ba.add_argument("--api-workers", type=int, default=1, help="API processes (RECO_API_WORKERS)")
    ba.add_argument("--connections", type=int, default=32, help="persistent client connections")
    ba.add_argument("--json", help="also write the report to this file")
    ba.set_defaults(fn=_bench_api)
    bx = bsub.add_parser("index", help="ItemIndex vs exact search: build, latency, recall")
    bx.add_argument("--items", type=int, default=100_000)
    bx.add_argument("--dim", type=int, default=32)
    bx.add_argument("--queries", type=int, default=1000)
    bx.add_argument("--k", type=int, default=50)
    bx.add_argument("--seed", type=int, default=1)
    bx.add_argument("--json", help="also write the report to this file")
    bx.set_defaults(fn=_bench_index)
    bp = bsub.add_parser("price-drop", help="one price drop -> an offer to each of N watchers")
    bp.add_argument("--watchers", type=int, default=100_000)
    bp.add_argument("--json", help="also write the report to this file")
    bp.set_defaults(fn=_bench_price_drop)
    args = ap.parse_args(argv)
    if args.cmd == "generate":
        return int(generate.run(args))
    return int(args.fn(args))


if __name__ == "__main__":
    sys.exit(main())
