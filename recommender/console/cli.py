"""`python -m recommender console-hash-password`: a password hash for RECO_CONSOLE_USERS."""

from __future__ import annotations

import argparse
import getpass
import re
import sys
from typing import Any

import orjson

from recommender.console.config import ROLE_ORDER, USER_NAME_PATTERN
from recommender.console.passwords import DEFAULT_N, hash_password

MIN_LENGTH = 12


def add_parser(sub: Any) -> None:
    """Register the subcommand on the main parser's subparsers."""
    p = sub.add_parser(
        "console-hash-password",
        help="print a scrypt hash of a console password (read from the terminal or stdin)",
    )
    p.add_argument("--user", help="also print a RECO_CONSOLE_USERS entry for this user name")
    p.add_argument("--role", choices=ROLE_ORDER, default="analyst", help="role for --user")
    p.add_argument("--n", type=int, default=DEFAULT_N, help="scrypt cost (power of two)")


def _read_password() -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("password: ")
    if first != getpass.getpass("again: "):
        raise ValueError("the two passwords differ")
    return first


def run(args: argparse.Namespace) -> int:
    """Read a password, print its hash (and a users entry with --user)."""
    if args.user is not None and not re.match(USER_NAME_PATTERN, args.user):
        print(f"error: user names must match {USER_NAME_PATTERN}", file=sys.stderr)
        return 2
    try:
        password = _read_password()
        if len(password) < MIN_LENGTH:
            raise ValueError(f"use at least {MIN_LENGTH} characters")
        encoded = hash_password(password, n=args.n)
    except (ValueError, EOFError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.user is None:
        print(encoded)
    else:
        entry = {args.user: {"role": args.role, "password": encoded}}
        print(orjson.dumps(entry).decode())
    return 0
