"""The ``tensorblocks`` command line: ``edit`` (Qt), ``run`` and ``check`` (headless, no Qt).

Placeholder until the engine issue lands the full command line.
"""

from __future__ import annotations

import sys

from blocks import __version__


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in ("--version", "-V"):
        print(f"tensorblocks {__version__}")
        return 0
    print("usage: tensorblocks [edit [GRAPH] | run GRAPH | check GRAPH | --version]")
    return 0 if not args or args[0] in ("-h", "--help") else 2


if __name__ == "__main__":
    sys.exit(main())
