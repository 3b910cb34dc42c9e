"""The embedded AWS of the local API: moto's server on loopback, and the storage of template.yaml.

Every table (with TTL) and bucket of the template is created from its own properties
(``lucent_dev.template.create_storage``) and seeded with the demo organizations
(``lucent_dev.demo``).
"""

from __future__ import annotations

import contextlib
from typing import Any

from lucent_dev import demo
from lucent_dev import template as tpl

REGION = "us-east-1"
LOOPBACK = "127.0.0.1"
# What the embedded AWS accepts; set so that no real profile or credential is ever consulted.
FAKE_AWS_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


class EmbeddedAws:
    """moto's HTTP server on loopback, on a free port."""

    def __init__(self, host: str = LOOPBACK, port: int = 0) -> None:
        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
        self.endpoint_url = ""

    def start(self) -> EmbeddedAws:
        import logging

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-call access log
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        # moto's state is per process: start empty even if an earlier server in this process
        # (a previous test) left tables behind, and leave nothing behind on stop.
        self._reset()
        return self

    def _reset(self) -> None:
        import urllib.request

        reset = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(reset, timeout=10):
            pass

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self._reset()
        self._server.stop()

    def client(self, service: str) -> Any:
        import boto3

        return boto3.session.Session(
            aws_access_key_id=FAKE_AWS_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_AWS_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            region_name=REGION,
        ).client(service, endpoint_url=self.endpoint_url)  # type: ignore[call-overload]


def provision(dynamodb: Any, s3: Any) -> dict[str, str]:
    """Every table and bucket of template.yaml, seeded with the demo data; logical id -> name."""
    names = tpl.create_storage(dynamodb, s3)
    demo.seed_all(dynamodb, names)
    return names
