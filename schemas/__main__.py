"""Command line: `python -m schemas export` writes the JSON Schemas, `check` verifies them."""

from __future__ import annotations

import argparse
import sys

from schemas.export import JSON_DIR, stale_schemas, write_schemas


def main(argv: list[str] | None = None) -> int:
    """Run the export or check command and return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m schemas", description=__doc__)
    parser.add_argument("command", choices=["export", "check"])
    args = parser.parse_args(argv)
    if args.command == "export":
        for path in write_schemas():
            print(f"wrote {path}")
        return 0
    stale = stale_schemas()
    if stale:
        print(
            f"stale JSON Schema files in {JSON_DIR}: {', '.join(stale)}; "
            "run `python -m schemas export` and commit the result",
            file=sys.stderr,
        )
        return 1
    print(f"JSON Schema files in {JSON_DIR} are current")
    return 0


if __name__ == "__main__":
    sys.exit(main())
