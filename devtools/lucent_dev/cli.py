"""``lucent``: the project's command line (keys, demo data, local API, invoke, replay).

Each subcommand lives in ``lucent_dev.commands.<name>`` and registers itself; ``main`` only
dispatches. Errors a user can fix are printed as one line on stderr with exit status 2; a store
that cannot be reached (the layer's typed errors) is one line too, with exit status 1.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from lucent.errors import LucentError

COMMAND_MODULES = ("keys", "data", "dev", "invoke", "replay")


class UsageError(Exception):
    """A mistake the user can fix; printed without a traceback."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lucent", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(f"lucent_dev.commands.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.run(args)
    except UsageError as exc:
        print(f"lucent: {exc}", file=sys.stderr)
        return 2
    except LucentError as exc:
        # ServiceUnavailable and the like: the stores' typed errors, never a botocore traceback.
        cause = f" ({exc.__cause__})" if exc.__cause__ is not None else ""
        print(f"lucent: {exc.message}{cause}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return result


if __name__ == "__main__":
    sys.exit(main())
