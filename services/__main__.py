"""`python -m orderscope.services up|down|status` — prints JSON, exits non-zero on failure."""

from __future__ import annotations

import argparse
import json
import sys

from orderscope.config import load_settings

from . import ServiceError, down, status, up


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m orderscope.services", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(argv)
    settings = load_settings()

    def progress(message: str) -> None:
        if not args.quiet:
            print(message, file=sys.stderr, flush=True)

    try:
        if args.command == "up":
            result = up(settings, progress)
        elif args.command == "down":
            result = down(settings)
        else:
            result = status(settings)
    except ServiceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2, default=str))
    if args.command == "status" and not result["all_up"]:
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
