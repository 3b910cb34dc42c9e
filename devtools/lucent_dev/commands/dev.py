"""``lucent dev``: the local API on http://127.0.0.1:$PORT (default 3000) with embedded AWS."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import threading
from pathlib import Path
from typing import Any

from lucent_dev.cli import UsageError
from lucent_dev.local_api import DEFAULT_PORT, LocalApi, LocalApiError
from lucent_dev.target import DEV_STATE_PATH


def register(subparsers: Any) -> None:
    dev = subparsers.add_parser(
        "dev", help="run every API locally with an embedded AWS (moto), seeded with demo data"
    )
    dev.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("PORT") or DEFAULT_PORT),
        help=f"port to listen on (default: $PORT or {DEFAULT_PORT})",
    )
    dev.add_argument("--host", default="127.0.0.1", help="address to listen on (default loopback)")
    dev.add_argument(
        "--function-logs",
        action="store_true",
        help="also print the functions' own JSON logs (INFO) and metrics",
    )
    # For tests and parallel checkouts: where to write the state instead of .lucent/dev.json.
    dev.add_argument("--state-file", type=Path, default=None, help=argparse.SUPPRESS)
    dev.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    print("Starting the local API: embedded AWS, tables, demo data, functions...", flush=True)
    api = LocalApi(
        args.host,
        args.port,
        state_path=args.state_file or DEV_STATE_PATH,
        log=sys.stdout,
        function_logs=args.function_logs,
    )
    try:
        api.start()
    except LocalApiError as exc:
        raise UsageError(str(exc)) from exc
    print(api.banner(), flush=True)
    if args.function_logs:
        api.serve_until_interrupted()
    else:
        with contextlib.redirect_stdout(_WithoutMetrics(sys.stdout)):
            api.serve_until_interrupted()
    print("\nLocal API stopped.", flush=True)
    return 0


class _WithoutMetrics:
    """stdout without the functions' CloudWatch EMF lines (``single_metric`` prints them even
    when metrics are disabled): one log line per request stays one line."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._local = threading.local()

    def write(self, text: str) -> int:
        if text.startswith('{"_aws"'):
            self._local.dropping = True
            return len(text)
        if getattr(self._local, "dropping", False):
            self._local.dropping = False
            if text == "\n":
                return len(text)
        written: int = self._stream.write(text)
        return written

    def flush(self) -> None:
        self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)
