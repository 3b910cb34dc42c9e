"""make dev's detection pipeline over real sockets: POST a batch to the local API, and its signals
are in the Data API within 5 s, through moto's S3 notification, moto's SQS and the event source
mapping of template.yaml (lucent_dev.pipeline)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lucent.auth.credentials import CredentialKind, issue_credential
from lucent.auth.store import CredentialStore
from lucent_dev import target
from lucent_dev import template as tpl
from lucent_dev.cli import main
from lucent_dev.local_api import LocalApi
from tests.integration.live_api import LocalApis, client, ingest, public_key, send
from tests.unit.test_detection import load_events

ORG = "org_pipeline"


@pytest.fixture(scope="module")
def state_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lucent") / "dev.json"


@pytest.fixture(scope="module")
def api(state_path: Path, local_apis: LocalApis) -> Iterator[LocalApi]:
    with local_apis.exclusive(state_path=state_path) as running:
        yield running


def recorded_now(name: str) -> list[dict[str, Any]]:
    """A golden session moved to the present (insights look at the last 24 hours)."""
    events = load_events(name)
    shift = int(time.time() * 1000) - events[-1]["timestamp"]
    return [{**e, "timestamp": e["timestamp"] + shift} for e in events]


def bearer(api: LocalApi) -> str:
    issued = issue_credential(CredentialKind.API, ORG)
    CredentialStore(client(api, "dynamodb"), api.names["CredentialsTable"]).put(issued)
    return issued.secret


def data(api: LocalApi, token: str, path: str) -> Any:
    reply = send(api, "GET", path, headers=[("Authorization", f"Bearer {token}")])
    assert reply.status == 200, reply.body
    return reply.json()


def test_the_pipeline_is_the_templates(api: LocalApi) -> None:
    assert api.pipeline is not None
    sqs = client(api, "sqs")
    queue = tpl.physical_name("DetectionQueue")
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["VisibilityTimeout"] == "120"
    redrive = json.loads(attributes["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"].endswith(
        ":" + tpl.physical_name("DetectionDeadLetterQueue")
    )
    assert int(redrive["maxReceiveCount"]) == 8
    config = client(api, "s3").get_bucket_notification_configuration(
        Bucket=api.names["ReplayBucket"]
    )
    [queue_config] = config["QueueConfigurations"]
    assert queue_config["Events"] == ["s3:ObjectCreated:*"]
    assert queue_config["Filter"]["Key"]["FilterRules"] == [{"Name": "prefix", "Value": "replays/"}]
    [poller] = api.pipeline.pollers
    assert (poller.source.function, poller.source.batch_size) == ("DetectionFunction", 10)
    assert poller.source.report_batch_item_failures


def test_a_posted_batch_yields_its_signals_within_5_seconds(api: LocalApi) -> None:
    key, token = public_key(api, ORG), bearer(api)
    events = load_events("shop")
    started = time.monotonic()
    reply = ingest(api, key, {"session_id": "pipe-1", "sequence": 0, "events": events})
    assert reply.status == 200, reply.body
    kinds: list[str] = []
    while time.monotonic() - started < 5:
        kinds = sorted(s["kind"] for s in data(api, token, "/api/v1/signals?limit=100")["items"])
        if len(kinds) == 4:
            break
        time.sleep(0.05)
    elapsed = time.monotonic() - started
    assert kinds == ["dead_click", "error_click", "js_error", "rage_click"], elapsed
    print(f"signals visible {elapsed:.2f} s after the POST")
    issues = data(api, token, "/api/v1/issues?limit=100")["items"]
    assert sorted((i["kind"], i["occurrences"], i["sessions_affected"]) for i in issues) == [
        ("dead_click", 1, 1),
        ("error_click", 1, 1),
        ("js_error", 1, 1),
        ("rage_click", 1, 1),
    ]
    timeline = data(api, token, "/api/v1/sessions/pipe-1/timeline?limit=100")["items"]
    assert [e["kind"] for e in timeline].count("click") == 7
    # Nothing went around the queue: the function was invoked by the poller only.
    assert api.pipeline is not None
    assert api.pipeline.pollers[0].stats.invocations >= 1


def test_lucent_data_insights_local_fills_the_insights_list(
    api: LocalApi, state_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    org = "org_insights_cli"
    key = public_key(api, org)
    issued = issue_credential(CredentialKind.API, org)
    CredentialStore(client(api, "dynamodb"), api.names["CredentialsTable"]).put(issued)
    assert (
        ingest(
            api, key, {"session_id": "cli-1", "sequence": 0, "events": recorded_now("shop")}
        ).status
        == 200
    )
    deadline = time.monotonic() + 5
    while len(data(api, issued.secret, "/api/v1/issues")["items"]) < 4:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert (
        data(api, issued.secret, "/api/v1/insights")["items"] == []
    )  # a fresh org: nothing seeded
    monkeypatch.setattr(target, "DEV_STATE_PATH", state_path)
    assert main(["data", "insights", "--local", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["insights"][org] == 2
    insights = data(api, issued.secret, "/api/v1/insights")["items"]
    issue_ids = {i["id"] for i in data(api, issued.secret, "/api/v1/issues")["items"]}
    assert sorted(i["title"] for i in insights) == [
        "4 new issues in the last 24 hours",
        "4 open issues on /page/detection.html",
    ]
    for insight in insights:
        assert set(insight["related_issue_ids"]) == issue_ids
