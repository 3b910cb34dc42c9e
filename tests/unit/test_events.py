"""events/: every file is in the manifest, and invoking it in-process gives its documented outcome.

Each event runs through its function as loaded from template.yaml, in a fresh module, against
moto holding the template's tables and bucket with the demo organizations and data seeded, the
way `lucent invoke` runs it when no local API is up.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lucent.canary.engine import EventSpec, check_invoke, load_manifest
from lucent_dev import demo
from lucent_dev import template as tpl
from lucent_dev.gateway import LocalContext
from tests.conftest import load_function

EVENTS = tpl.PROJECT_ROOT / "events"
MANIFEST = load_manifest(EVENTS)
SPECS = {spec.name: spec for spec in MANIFEST.events}


def test_every_event_file_is_in_the_manifest_once() -> None:
    files = sorted(p.name for p in EVENTS.glob("*.json") if p.name != "manifest.json")
    listed = [spec.file for spec in MANIFEST.events]
    assert sorted(listed) == files
    assert len(set(listed)) == len(listed)


def test_manifest_credentials_are_the_demo_values() -> None:
    assert dict(MANIFEST.credentials) == demo.roles()


def test_every_event_names_a_function_and_api_of_the_template() -> None:
    functions = tpl.functions()
    routes = tpl.routes()
    for spec in MANIFEST.events:
        assert spec.function in functions, spec.file
        assert spec.api in ("ingest", "data", "mcp"), spec.file
        event = MANIFEST.event(spec)
        api_id = {"ingest": "IngestApi", "data": "DataApi", "mcp": "McpApi"}[spec.api]
        matching = [
            r
            for r in routes
            if r.api == api_id
            and r.path == event["resource"]
            and r.method in (event["httpMethod"], "ANY")
        ]
        assert matching, f"{spec.file}: no route {event['httpMethod']} {event['resource']}"
        if spec.is_authorizer:
            # Each API has its own authorizer function (same code): the event names that one.
            assert tpl.apis()[api_id].authorizer_function == spec.function, spec.file
        else:
            assert matching[0].function == spec.function, spec.file


def _route_is_authorized(event: dict[str, Any]) -> bool:
    """Whether API Gateway runs the authorizer before this event (exact method before ANY)."""
    routes = [r for r in tpl.routes() if r.path == event["resource"]]
    exact = [r for r in routes if r.method == event["httpMethod"]]
    [route] = exact or [r for r in routes if r.method == "ANY"]
    return route.authorized


def test_proxy_events_carry_the_authorizer_context_of_their_credential() -> None:
    by_secret = {c.secret: c for c in demo.CREDENTIALS}
    for spec in MANIFEST.events:
        event = MANIFEST.event(spec)
        if spec.is_authorizer:
            continue
        if not _route_is_authorized(event):
            # the preflight and other methods of the ingest path: no credential, no context
            assert "authorizer" not in event["requestContext"], spec.file
            continue
        if spec.api == "mcp":
            # No authorizer in front of MCP: the function authenticates the header itself.
            assert "authorizer" not in event["requestContext"], spec.file
            continue
        context = event["requestContext"]["authorizer"]
        headers = {k.lower(): v for k, v in event["headers"].items()}
        secret = (
            headers.get("x-lucent-api-key")
            or (event.get("queryStringParameters") or {}).get("api_key")
            or headers["authorization"].split()[1]
        )
        credential = by_secret[secret]
        assert context["credential_id"] == demo.credential_id(credential.role), spec.file
        assert context["principalId"] == context["credential_id"], spec.file
        assert context["org_id"] == credential.org_id, spec.file
        assert context["kind"] == credential.kind.value, spec.file
        assert all(isinstance(v, str | int) for v in context.values()), spec.file


def test_binary_media_types_decide_base64_as_api_gateway_would() -> None:
    media = tpl.apis()["IngestApi"].binary_media_types
    for spec in MANIFEST.events:
        event = MANIFEST.event(spec)
        if spec.is_authorizer or not event.get("body"):
            continue
        content_type = event["headers"].get("Content-Type", "").split(";")[0]
        binary = spec.api == "ingest" and content_type in media
        assert event["isBase64Encoded"] is binary, spec.file


def test_demo_issue_is_in_the_demo_data_set(dynamodb: Any, aws: dict[str, str]) -> None:
    demo.seed_all(dynamodb, aws)
    items = dynamodb.scan(TableName=aws["DataTable"])["Items"]
    assert any(demo.DEMO_ISSUE_ID in json.dumps(item) for item in items), (
        f"lucent_dev.demo_data no longer seeds {demo.DEMO_ISSUE_ID}: update DEMO_ISSUE_ID "
        "in lucent_dev/demo.py and the events that use it"
    )


@pytest.fixture
def seeded(dynamodb: Any, aws: dict[str, str]) -> dict[str, str]:
    demo.seed_all(dynamodb, aws)
    return aws


@pytest.mark.parametrize("name", sorted(SPECS))
def test_invoking_the_event_gives_its_documented_outcome(name: str, seeded: dict[str, str]) -> None:
    spec: EventSpec = SPECS[name]
    handler = load_function(spec.function)
    event = json.loads((EVENTS / spec.file).read_text())
    try:
        output, error = handler(event, LocalContext(spec.function)), None
    except Exception as exc:
        output, error = None, exc
    assert check_invoke(spec.invoke, output, error) == []


def test_a_stored_string_in_a_difference_is_shown_escaped() -> None:
    # A title is page content: its line break and terminal escape must not reach the terminal.
    output = {"statusCode": 200, "headers": {}, "body": json.dumps({"title": "x\n\x1b[2Jy"})}
    assert check_invoke({"json": {"title": "ok"}}, output, None) == [
        'JSON \'title\' is "x\\n\\u001b[2Jy", expected "ok"'
    ]


def test_check_invoke_reports_every_difference() -> None:
    expected = {
        "status": 200,
        "json": {"a": 1},
        "json_keys": ["b"],
        "headers": {"X-One": "1"},
        "absent_headers": ["X-Two"],
    }
    output = {
        "statusCode": 201,
        "headers": {"x-one": "2", "X-Two": "y"},
        "body": '{"a": 2}',
    }
    assert check_invoke(expected, output, None) == [
        "status 201, expected 200",
        "JSON 'a' is 2, expected 1",
        "JSON key 'b' missing",
        "header X-One: '2', expected '1'",
        "header X-Two present, expected absent",
    ]
    assert check_invoke({"effect": "Allow"}, None, Exception("Unauthorized")) == [
        "outcome Unauthorized, expected Allow"
    ]
    assert check_invoke({"effect": "Unauthorized"}, None, Exception("Unauthorized")) == []
    denied = {"policyDocument": {"Statement": [{"Effect": "Deny"}]}, "context": {}}
    assert check_invoke({"effect": "Deny", "context": {"org_id": "o"}}, denied, None) == [
        "context org_id: None, expected 'o'"
    ]


def test_events_dir_is_what_the_canary_packs() -> None:
    # functions/canary/events is a symlink to events/: what the canary packs is what is tested.
    assert (tpl.PROJECT_ROOT / "functions/canary/events").resolve() == EVENTS.resolve()
    assert Path(EVENTS / "manifest.json").is_file()
    assert all(p.suffix == ".json" for p in EVENTS.iterdir())


def test_lucent_invoke_without_a_local_api_uses_in_process_moto(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from lucent_dev.cli import main
    from lucent_dev.commands import invoke

    monkeypatch.setattr(invoke, "DEV_STATE_PATH", tmp_path / "no-dev.json")
    assert main(["invoke", "IssuesFunction", str(EVENTS / "issues-get-issue.json")]) == 0
    out = capsys.readouterr()
    response = json.loads(out.out)
    assert response["statusCode"] == 200
    assert json.loads(response["body"])["id"] == demo.DEMO_ISSUE_ID
    assert "backed by an in-process moto with the demo data" in out.err
    assert "issues-get-issue.json: as documented (events/manifest.json)" in out.err


def test_lucent_invoke_prints_a_raised_error_like_lambda(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from lucent_dev.cli import main
    from lucent_dev.commands import invoke

    monkeypatch.setattr(invoke, "DEV_STATE_PATH", tmp_path / "no-dev.json")
    assert main(["invoke", "authorizer", str(EVENTS / "ingest-missing-key.json")]) == 1
    out = capsys.readouterr()
    assert json.loads(out.out) == {"errorMessage": "Unauthorized", "errorType": "Exception"}
    assert "ingest-missing-key.json: as documented" in out.err


def test_lucent_invoke_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from lucent_dev.cli import main

    assert main(["invoke", "NoSuchFunction", str(EVENTS / "issues-get-issue.json")]) == 2
    assert "unknown function 'NoSuchFunction'; template.yaml has: " in capsys.readouterr().err
    assert main(["invoke", "IngestFunction", str(tmp_path / "missing.json")]) == 2
    assert "missing.json not found" in capsys.readouterr().err


def test_lucent_invoke_ignores_a_stale_dev_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    from lucent_dev.cli import main
    from lucent_dev.commands import invoke

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    state = tmp_path / "dev.json"
    state.write_text(json.dumps({"aws_endpoint_url": dead, "tables": {}, "bucket": "b"}))
    monkeypatch.setattr(invoke, "DEV_STATE_PATH", state)
    assert main(["invoke", "AuthorizerFunction", str(EVENTS / "authorizer-ingest-valid.json")]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    assert "backed by an in-process moto with the demo data" in out.err


def test_demo_credentials_seed_idempotently_with_their_documented_state(
    dynamodb: Any, aws: dict[str, str]
) -> None:
    from lucent.auth.credentials import hash_secret, kind_of
    from lucent.auth.store import CredentialStore

    demo.seed_all(dynamodb, aws, now=1_800_000_000)
    demo.seed_all(dynamodb, aws, now=1_800_000_100)  # a second seed changes nothing
    store = CredentialStore(dynamodb, aws["CredentialsTable"])
    for credential in demo.CREDENTIALS:
        assert kind_of(credential.secret) is credential.kind, credential.role
        record = store.get(hash_secret(credential.secret))
        assert record is not None, credential.role
        assert record.org_id == credential.org_id
        assert (record.revoked_at is not None) is credential.revoked, credential.role
        assert record.created_at == 1_800_000_000
    oauth = store.get(hash_secret(demo.BY_ROLE["oauth_token"].secret))
    assert oauth is not None
    assert oauth.expires_at == 1_800_000_000 + demo.TEN_YEARS_SECONDS
    assert oauth.scopes == frozenset({"read:lucent"})
    write = store.get(hash_secret(demo.BY_ROLE["api_key_write"].secret))
    assert write is not None
    assert write.scopes == frozenset({"read:lucent", "write:issues"})
    assert {c.org_id for c in demo.CREDENTIALS} == {demo.DEMO_ORG_ID, demo.OTHER_ORG_ID}
