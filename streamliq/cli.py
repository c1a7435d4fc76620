"""The `streamliq` command line."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from . import __version__
from .allocator import keep_freed_memory
from .errors import InputError

EXIT_BAD_INPUT = 2
SUBCOMMANDS = ("replay", "run", "serve", "plot", "labels", "report")  # modules of `commands/`


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every subcommand, or of `command` alone: a replay then never loads the
    live daemon's and the server's modules (a tenth of its start-up)."""
    parser = argparse.ArgumentParser(prog="streamliq", description=__doc__)
    parser.add_argument("--version", action="version", version=f"streamliq {__version__}")
    parser.add_argument("--log-level", default="WARNING", help="logging level (default: %(default)s)")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in [command] if command in SUBCOMMANDS else SUBCOMMANDS:
        importlib.import_module(f"{__package__}.commands.{name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `streamliq` console script."""
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(next((word for word in argv if word in SUBCOMMANDS), None)).parse_args(argv)
    keep_freed_memory()
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        return args.run(args)
    except InputError as exc:
        print(f"streamliq: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("streamliq: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
