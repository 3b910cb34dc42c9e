"""The ingest function, warm, with AWS answered at the botocore layer; and the batches it gets.

``IngestRig`` records one real round of answers from moto (UpdateItem on the counter table,
PutObject on the bucket), then serves every later call from those bytes with ``Replayer``: no
moto, no sockets, nothing of ours stubbed. Events are built by the local gateway from raw HTTP
requests, as API Gateway would (binary media types: the body arrives base64). ``bare_clients``
gives a floor the same two services through the same Replayer, with no code of ours around them.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from bench import common, payloads
from bench.awsstub import Canned, Recorder, Replayer
from bench.common import NothingMeasured
from lucent.auth.credentials import CredentialKind, Principal, issue_credential
from lucent_dev.gateway import Gateway, HttpRequest, LocalContext

INGEST_PATH = "/api/sdk/replay"
ORG = "org_bench"
_recorded: dict[str, Canned] = {}  # moto's answers to one accepted batch: the same every time


@dataclass(frozen=True)
class Batch:
    name: str
    events: int
    body: bytes  # as sent
    json_bytes: int  # decompressed
    gzip: bool


@functools.cache  # slow to build: once per process (sections 1 and 7 both use it)
def largest_accepted() -> Batch:
    """The largest batch ingest accepts: MAX_EVENTS events, a DOM snapshot filling the rest of
    MAX_DECOMPRESSED_BYTES, gzip (within MAX_BODY_BYTES as sent)."""
    from lucent.ingest import batch as limits

    nodes = 2_000
    for _ in range(6):  # grow the snapshot until the JSON is just under the decompressed cap
        events = payloads.rrweb_events(limits.MAX_EVENTS, snapshot_nodes=nodes)
        raw = payloads.batch_bytes(events)
        room = limits.MAX_DECOMPRESSED_BYTES - len(raw)
        if 0 <= room < limits.MAX_DECOMPRESSED_BYTES // 50:
            break
        per_node = len(payloads.batch_bytes(events[:2])) / nodes
        nodes = max(10, int(nodes + room / per_node * 0.97))
    body = payloads.gzipped(raw)
    assert len(body) <= limits.MAX_BODY_BYTES, len(body)
    return Batch("largest", len(events), body, len(raw), True)


def batches(*, largest: bool = True) -> list[Batch]:
    small = payloads.rrweb_events(22)[2:]  # a later flush: incremental events only
    typical = payloads.rrweb_events(200)  # the first flush: meta, full snapshot, incrementals
    out = []
    for name, events, gz in (
        ("small", small, True),
        ("typical", typical, True),
        ("typical, plain JSON", typical, False),
    ):
        raw = payloads.batch_bytes(events)
        out.append(Batch(name, len(events), payloads.gzipped(raw) if gz else raw, len(raw), gz))
    if largest:
        out.append(largest_accepted())
    return out


class IngestRig:
    def __init__(self, rate_limit: int = 1_000_000) -> None:
        common.apply_env()
        self.gateway = Gateway({})
        self.context = LocalContext("IngestFunction")
        issued = issue_credential(CredentialKind.PUBLIC, ORG, rate_limit=rate_limit)
        self.principal = Principal.from_record(issued.record)
        self.answers: dict[str, Canned] = {}
        self.replayer: Replayer | None = None  # while warm() runs

    def event(self, body: bytes, content_type: str = "application/json") -> dict[str, Any]:
        route, params, _ = self.gateway.match("POST", INGEST_PATH)
        assert route is not None
        request = HttpRequest(
            "POST",
            INGEST_PATH,
            headers=[
                ("Content-Type", content_type),
                ("X-Lucent-Api-Key", "luc_pk_redacted"),
                ("Origin", "https://shop.example"),
            ],
            body=body,
        )
        context = {k: str(v) for k, v in self.principal.to_context().items()}
        context["principalId"] = self.principal.credential_id
        return self.gateway.proxy_event(route, request, params, "bench-request", context)

    def record(self) -> None:
        """One accepted batch through moto, to record real answers (once per process)."""
        if not _recorded:
            body = payloads.batch_bytes(payloads.rrweb_events(5))
            with common.moto_storage(), Recorder() as recorder, common.quiet():
                handler = common.handler("IngestFunction")
                result = handler(self.event(body), self.context)
                assert result["statusCode"] == 200, result
            _recorded.update(recorder.answers)
        self.answers = dict(_recorded)

    @contextlib.contextmanager
    def warm(self) -> Iterator[Any]:
        """A warm container (handler loaded, clients built) answering from the recording."""
        if not self.answers:
            self.record()
        with Replayer(self.answers) as replayer, common.quiet():
            self.replayer = replayer
            handler = common.handler("IngestFunction")
            warmup = self.event(payloads.batch_bytes(payloads.rrweb_events(3)))
            served, result = replayer.calls_of(lambda: handler(warmup, self.context))
            assert result["statusCode"] == 200, result
            if served != {"dynamodb.UpdateItem": 1, "s3.PutObject": 1}:
                raise NothingMeasured(
                    f"the warm-up batch was answered by the Replayer with {served}, not one "
                    "UpdateItem and one PutObject: its hooks are not on the function's clients"
                )
            try:
                yield handler
            finally:
                self.replayer = None

    def bare_clients(self) -> tuple[Any, Any]:
        """DynamoDB and S3 clients of a new boto3 session, configured like the function's, for a
        floor: inside ``warm()`` their calls go through the same Replayer."""
        import boto3

        from lucent.aws import CLIENT_CONFIG

        if self.replayer is None:
            raise RuntimeError("bare_clients() answers from the recording only inside warm()")
        session = boto3.session.Session()
        return (
            session.client("dynamodb", region_name=common.REGION, config=CLIENT_CONFIG),
            session.client("s3", region_name=common.REGION, config=CLIENT_CONFIG),
        )
