"""The issues function, driven with API Gateway proxy events that carry the authorizer context,
against moto's DynamoDB seeded with the demo data of two organizations.

Exact statuses, body bytes and headers; pagination over many pages; validation; scopes;
organization isolation with every token kind.
"""

from __future__ import annotations

import base64
import json
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lucent import datatable
from lucent.auth.credentials import CredentialKind, Principal, issue_credential
from lucent.issues import models
from lucent.issues.models import Issue, IssueStatus
from lucent.issues.service import encode_cursor
from lucent.issues.store import (
    insight_from_item,
    insight_item,
    issue_from_item,
    issue_item,
    signal_from_item,
    signal_item,
)
from lucent_dev import demo_data
from lucent_dev import template as tpl
from lucent_dev.gateway import LocalContext
from tests.conftest import load_function
from tests.helpers import proxy_event

ORG_A, ORG_B = "org_a", "org_b"
CTX = LocalContext("IssuesFunction")
ISSUE_RESOURCE = "/api/v1/issues/{issue_id}"
RESOURCES = {
    "/api/v1/issues": ("GET",),
    ISSUE_RESOURCE: ("GET", "PATCH"),
    "/api/v1/signals": ("GET",),
    "/api/v1/insights": ("GET",),
}
GET_PATHS = ("/api/v1/issues", "/api/v1/signals", "/api/v1/insights")
FORBIDDEN_WRITE = b'{"error": "Missing required scope: write:issues"}'
FORBIDDEN_READ = b'{"error": "Missing required scope: read:lucent"}'
CHALLENGE_WRITE = 'Bearer error="insufficient_scope", scope="write:issues"'
CHALLENGE_READ = 'Bearer error="insufficient_scope", scope="read:lucent"'
ISSUE_NOT_FOUND = b'{"error": "Issue not found"}'
INTERNAL_ERROR = b'{"error": "Internal server error"}'
UNKNOWN_ISSUE = "iss_01JZZZZZZZZZZZZZZZZZZZZZZZ"
DATA_ROUTES = sorted(
    {r.path: r for r in tpl.routes() if r.api == "DataApi"}.values(),
    key=lambda r: r.path.count("{"),
)


# --- calling the function ------------------------------------------------------------------------


@dataclass
class Result:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def principal_for(
    kind: CredentialKind, org_id: str = ORG_A, **options: Any
) -> dict[str, str | int]:
    """The authorizer context a real credential of that kind and options produces."""
    record = issue_credential(kind, org_id, **options).record
    return Principal.from_record(record).to_context()


def matched_resource(path: str) -> tuple[str, dict[str, str] | None]:
    """The resource and path parameters API Gateway gives for ``path``: the template's Data API
    route it matches (a literal path before a templated one), else the path itself (a resource
    the function does not know)."""
    for route in DATA_ROUTES:
        found = route.pattern.match(path)
        if found:
            return route.path, found.groupdict() or None
    return path, None


def invoke(
    handler: Callable[..., Any],
    method: str,
    path: str,
    *,
    principal: dict[str, Any] | None,
    query: dict[str, str] | None = None,
    body: str | bytes | None = None,
    headers: dict[str, str] | None = None,
    base64_body: bool = False,
    event_changes: Callable[[dict[str, Any]], None] | None = None,
) -> Result:
    if headers is None and method == "PATCH":
        headers = {"Content-Type": "application/json"}  # as every client sends it (415 otherwise)
    resource, path_parameters = matched_resource(path)
    event = proxy_event(
        resource,
        method,
        path=path,
        query=query,
        body=body,
        headers=headers,
        base64_body=base64_body,
        authorizer=principal,
        path_parameters=path_parameters,
    )
    if event_changes:
        event_changes(event)
    raw = handler(event, CTX)
    assert set(raw) <= {"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"}
    flat = dict(raw.get("headers") or {})
    for name, values in (raw.get("multiValueHeaders") or {}).items():
        flat[name] = ", ".join(values)
    assert raw.get("isBase64Encoded", False) is False
    return Result(int(raw["statusCode"]), flat, str(raw["body"]).encode())


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture
def seeded(aws: dict[str, str], dynamodb: Any) -> dict[str, demo_data.DemoData]:
    table = aws["DataTable"]
    for org in (ORG_A, ORG_B):
        assert demo_data.seed(dynamodb, table, org) == {
            "issues": 25,
            "signals": 120,
            "insights": 8,
        }
    return {ORG_A: demo_data.generate(ORG_A), ORG_B: demo_data.generate(ORG_B)}


@pytest.fixture
def handler(aws: dict[str, str]) -> Callable[..., Any]:
    return load_function("IssuesFunction")


@pytest.fixture
def api() -> Callable[..., Result]:
    """``api(method, path, principal=..., ...)`` against a fresh function container."""
    fn = load_function("IssuesFunction")

    def call(method: str, path: str, **kwargs: Any) -> Result:
        kwargs.setdefault("principal", READ_A)
        return invoke(fn, method, path, **kwargs)

    return call


READ_A = principal_for(CredentialKind.API, ORG_A)
WRITE_A = principal_for(CredentialKind.API, ORG_A, allow_issue_status_updates=True)
OAUTH_READ_A = principal_for(CredentialKind.OAUTH, ORG_A, scopes=["read:lucent"])
OAUTH_WRITE_ONLY_A = principal_for(CredentialKind.OAUTH, ORG_A, scopes=["write:issues"])
MCP_A = principal_for(CredentialKind.MCP, ORG_A)
WRITE_B = principal_for(CredentialKind.API, ORG_B, allow_issue_status_updates=True)

# Every kind of bearer token, each for organization A.
TOKENS_A: dict[str, dict[str, Any]] = {
    "api": READ_A,
    "api_write": WRITE_A,
    "oauth_read": OAUTH_READ_A,
    "oauth_read_write": principal_for(
        CredentialKind.OAUTH, ORG_A, scopes=["read:lucent", "write:issues"]
    ),
    "mcp": MCP_A,
}


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def issue_path(issue_id: str) -> str:
    return f"/api/v1/issues/{issue_id}"


def collect(
    api: Callable[..., Result], path: str, query: dict[str, str], principal: dict[str, Any]
) -> tuple[list[dict[str, Any]], list[int]]:
    """Follow next_cursor to the end; returns all items and the size of each page."""
    items: list[dict[str, Any]] = []
    sizes: list[int] = []
    cursor: str | None = None
    for _ in range(200):
        params = dict(query, **({"cursor": cursor} if cursor else {}))
        result = api("GET", path, query=params, principal=principal)
        assert result.status == 200, result.body
        page = result.json()
        assert set(page) == {"items", "next_cursor"}
        items.extend(page["items"])
        sizes.append(len(page["items"]))
        cursor = page["next_cursor"]
        if cursor is None:
            return items, sizes
    raise AssertionError("pagination did not end")


# --- listing and pagination ----------------------------------------------------------------------


def test_issue_pages_of_three_cover_every_issue_once_newest_first(
    seeded: dict[str, demo_data.DemoData], api: Callable[..., Result]
) -> None:
    items, sizes = collect(api, "/api/v1/issues", {"limit": "3"}, READ_A)
    ids = [i["id"] for i in items]
    expected = sorted((i.id for i in seeded[ORG_A].issues), reverse=True)
    assert ids == expected  # nothing lost, nothing repeated, stable order
    assert sizes == [3] * 8 + [1]
    assert items == [
        i.model_dump(mode="json")
        for i in sorted(seeded[ORG_A].issues, key=lambda x: x.id, reverse=True)
    ]


@pytest.mark.parametrize("status", ["open", "resolved", "ignored"])
def test_status_filter_pages_cover_exactly_that_status(
    seeded: dict[str, demo_data.DemoData], api: Callable[..., Result], status: str
) -> None:
    items, _ = collect(api, "/api/v1/issues", {"status": status, "limit": "2"}, READ_A)
    expected = sorted((i.id for i in seeded[ORG_A].issues if i.status == status), reverse=True)
    assert expected, "the demo data has every status"
    assert [i["id"] for i in items] == expected
    assert {i["status"] for i in items} == {status}


def test_default_limit_is_25_and_an_exact_last_page_has_no_cursor(
    seeded: dict[str, demo_data.DemoData], api: Callable[..., Result]
) -> None:
    page = api("GET", "/api/v1/issues").json()
    assert len(page["items"]) == 25
    assert page["next_cursor"] is None
    first = api("GET", "/api/v1/issues", query={"limit": "24"}).json()
    assert len(first["items"]) == 24
    assert first["next_cursor"]
    last = api("GET", "/api/v1/issues", query={"limit": "24", "cursor": first["next_cursor"]})
    assert len(last.json()["items"]) == 1
    assert last.json()["next_cursor"] is None


def test_limit_bounds(seeded: dict[str, demo_data.DemoData], api: Callable[..., Result]) -> None:
    assert api("GET", "/api/v1/issues", query={"limit": "1"}).status == 200
    assert api("GET", "/api/v1/issues", query={"limit": "100"}).status == 200


@pytest.mark.parametrize("path", GET_PATHS)
@pytest.mark.parametrize(
    ("limit", "message"),
    [
        ("0", "Input should be greater than or equal to 1"),
        ("-5", "Input should be greater than or equal to 1"),
        ("101", "Input should be less than or equal to 100"),
        ("abc", "Input should be a valid integer, unable to parse string as an integer"),
        ("", "Input should be a valid integer, unable to parse string as an integer"),
        ("2.5", "Input should be a valid integer, unable to parse string as an integer"),
    ],
)
def test_bad_limit_is_a_400_naming_the_field(
    aws: dict[str, str], api: Callable[..., Result], path: str, limit: str, message: str
) -> None:
    result = api("GET", path, query={"limit": limit})
    assert result.status == 400
    assert (
        result.body == json.dumps({"error": f"Invalid query parameter 'limit': {message}"}).encode()
    )
    assert result.headers["Content-Type"] == "application/json"


@pytest.mark.parametrize("status", ["closed", "OPEN", "", "open,resolved"])
def test_bad_status_filter_is_a_400_naming_the_field(
    aws: dict[str, str], api: Callable[..., Result], status: str
) -> None:
    result = api("GET", "/api/v1/issues", query={"status": status})
    assert result.status == 400
    assert result.body == (
        b'{"error": "Invalid query parameter \'status\': '
        b"Input should be 'open', 'resolved' or 'ignored'\"}"
    )


def test_signals_filter_needs_a_well_formed_issue_id(
    aws: dict[str, str], api: Callable[..., Result]
) -> None:
    result = api("GET", "/api/v1/signals", query={"issue_id": "42"})
    assert result.status == 400
    assert result.json()["error"].startswith("Invalid query parameter 'issue_id': ")


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "!!!!",
        "e30",  # {}
        base64.urlsafe_b64encode(b"[1,2]").decode(),
        base64.urlsafe_b64encode(b'{"l":"issues","f":null,"p":"iss_x"}').decode(),
        # a position plus an injected organization: refused, not obeyed
        base64.urlsafe_b64encode(
            json.dumps({"l": "issues", "f": None, "p": UNKNOWN_ISSUE, "org": ORG_B}).encode()
        ).decode(),
        encode_cursor("signals", None, "sig_01JZZZZZZZZZZZZZZZZZZZZZZZ"),  # another listing's
        encode_cursor("issues", "open", UNKNOWN_ISSUE),  # made for another filter
        "x" * 600,
        "",
    ],
)
def test_invalid_cursor_is_a_400(
    aws: dict[str, str], api: Callable[..., Result], cursor: str
) -> None:
    result = api("GET", "/api/v1/issues", query={"cursor": cursor})
    assert result.status == 400
    assert result.body == b'{"error": "Invalid cursor"}'


def test_a_cursor_never_crosses_organizations(
    seeded: dict[str, demo_data.DemoData], api: Callable[..., Result]
) -> None:
    """B's cursor replayed by A is only a position: A still reads A's partition."""
    read_b = principal_for(CredentialKind.API, ORG_B)
    b_cursor = api("GET", "/api/v1/issues", query={"limit": "5"}, principal=read_b).json()[
        "next_cursor"
    ]
    result = api("GET", "/api/v1/issues", query={"limit": "100", "cursor": b_cursor})
    assert result.status == 200
    a_ids = {i.id for i in seeded[ORG_A].issues}
    assert {i["id"] for i in result.json()["items"]} <= a_ids


def test_signals_paginate_and_filter_by_issue(
    seeded: dict[str, demo_data.DemoData], api: Callable[..., Result]
) -> None:
    data = seeded[ORG_A]
    items, sizes = collect(api, "/api/v1/signals", {"limit": "7"}, READ_A)
    assert [s["id"] for s in items] == sorted((s.id for s in data.signals), reverse=True)
    assert len(sizes) == 18  # 17 pages of 7, one of 1
    busiest = max(data.issues, key=lambda i: sum(s.issue_id == i.id for s in data.signals))
    expected = sorted((s.id for s in data.signals if s.issue_id == busiest.id), reverse=True)
    assert len(expected) > 3
    items, _ = collect(api, "/api/v1/signals", {"issue_id": busiest.id, "limit": "3"}, READ_A)
    assert [s["id"] for s in items] == expected
    assert all(s["issue_id"] == busiest.id for s in items)
    # another organization's issue: an empty list, not its signals
    other = seeded[ORG_B].issues[0].id
    result = api("GET", "/api/v1/signals", query={"issue_id": other})
    assert result.json() == {"items": [], "next_cursor": None}


def test_insights_paginate(
    seeded: dict[str, demo_data.DemoData], api: Callable[..., Result]
) -> None:
    items, sizes = collect(api, "/api/v1/insights", {"limit": "3"}, READ_A)
    assert sizes == [3, 3, 2]
    assert items == [
        i.model_dump(mode="json")
        for i in sorted(seeded[ORG_A].insights, key=lambda x: x.id, reverse=True)
    ]


def test_each_page_reads_limit_plus_one_items(
    seeded: dict[str, demo_data.DemoData], handler: Callable[..., Any], monkeypatch: Any
) -> None:
    """Measured: a page of N reads N+1 items (one Query), so no trailing empty page exists."""
    from lucent import aws as lucent_aws
    from lucent.settings import get_settings

    client = lucent_aws.dynamodb_client(get_settings())
    scanned: list[int] = []
    original = client.query

    def spy(**kwargs: Any) -> Any:
        response = original(**kwargs)
        scanned.append(response["ScannedCount"])
        return response

    monkeypatch.setattr(client, "query", spy)
    cursor = None
    for _ in range(3):
        query = {"limit": "10", **({"cursor": cursor} if cursor else {})}
        page = invoke(handler, "GET", "/api/v1/issues", principal=READ_A, query=query).json()
        cursor = page["next_cursor"]
    assert scanned == [11, 11, 5]
    assert cursor is None


# --- one issue -----------------------------------------------------------------------------------


def test_get_issue(seeded: dict[str, demo_data.DemoData], api: Callable[..., Result]) -> None:
    issue = seeded[ORG_A].issues[3]
    result = api("GET", issue_path(issue.id))
    assert result.status == 200
    assert result.headers["Content-Type"] == "application/json"
    assert result.json() == issue.model_dump(mode="json")
    assert result.body == json.dumps(issue.model_dump(mode="json")).encode()


def test_another_organizations_issue_is_indistinguishable_from_an_unknown_one(
    seeded: dict[str, demo_data.DemoData], api: Callable[..., Result]
) -> None:
    theirs = seeded[ORG_B].issues[0].id
    answers = [
        api("GET", issue_path(theirs)),
        api("GET", issue_path(UNKNOWN_ISSUE)),
        api("GET", issue_path("not-an-id")),
        api("PATCH", issue_path(theirs), principal=WRITE_A, body='{"status": "resolved"}'),
        api("PATCH", issue_path(UNKNOWN_ISSUE), principal=WRITE_A, body='{"status": "resolved"}'),
    ]
    for answer in answers:
        assert answer.status == 404
        assert answer.body == ISSUE_NOT_FOUND
        assert answer.headers == answers[0].headers
    # and B's issue exists for B
    assert api("GET", issue_path(theirs), principal=WRITE_B).status == 200


def test_same_id_in_two_organizations_each_reads_its_own(
    aws: dict[str, str], dynamodb: Any, api: Callable[..., Result]
) -> None:
    base = demo_data.generate(ORG_A).issues[0]
    for org, title in ((ORG_A, "A's issue"), (ORG_B, "B's issue")):
        item = issue_item(org, base.model_copy(update={"title": title}))
        dynamodb.put_item(TableName=aws["DataTable"], Item=item)
    assert api("GET", issue_path(base.id)).json()["title"] == "A's issue"
    assert api("GET", issue_path(base.id), principal=WRITE_B).json()["title"] == "B's issue"


# --- status updates ------------------------------------------------------------------------------


def test_patch_sets_status_who_and_when(
    seeded: dict[str, demo_data.DemoData], api: Callable[..., Result]
) -> None:
    issue = next(i for i in seeded[ORG_A].issues if i.status is IssueStatus.OPEN)
    before = datetime.now(UTC).replace(microsecond=0)
    result = api(
        "PATCH",
        issue_path(issue.id),
        principal=WRITE_A,
        body='{"status": "resolved"}',
        headers={"Content-Type": "application/json"},
    )
    after = datetime.now(UTC)
    assert result.status == 200
    body = result.json()
    assert body["status"] == "resolved"
    assert body["status_updated_by"] == WRITE_A["credential_id"]
    updated_at = datetime.fromisoformat(body["status_updated_at"])
    assert before <= updated_at <= after
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["status_updated_at"])
    unchanged = {k: v for k, v in body.items() if not k.startswith("status")}
    assert unchanged == {
        k: v for k, v in issue.model_dump(mode="json").items() if not k.startswith("status")
    }
    # read back, and the status index moved with it
    assert api("GET", issue_path(issue.id)).json() == body
    resolved, _ = collect(api, "/api/v1/issues", {"status": "resolved"}, READ_A)
    opened, _ = collect(api, "/api/v1/issues", {"status": "open"}, READ_A)
    assert issue.id in {i["id"] for i in resolved}
    assert issue.id not in {i["id"] for i in opened}
    # and back to open, by an OAuth token with only write:issues
    again = api(
        "PATCH", issue_path(issue.id), principal=OAUTH_WRITE_ONLY_A, body='{"status":"open"}'
    )
    assert again.status == 200
    assert again.json()["status"] == "open"
    assert again.json()["status_updated_by"] == OAUTH_WRITE_ONLY_A["credential_id"]


def test_patch_base64_body(
    seeded: dict[str, demo_data.DemoData], api: Callable[..., Result]
) -> None:
    issue = seeded[ORG_A].issues[0]
    result = api(
        "PATCH",
        issue_path(issue.id),
        principal=WRITE_A,
        body=b'{"status": "ignored"}',
        base64_body=True,
    )
    assert result.status == 200
    assert result.json()["status"] == "ignored"


def test_patch_never_creates_a_missing_issue(
    aws: dict[str, str], dynamodb: Any, api: Callable[..., Result]
) -> None:
    result = api("PATCH", issue_path(UNKNOWN_ISSUE), principal=WRITE_A, body='{"status": "open"}')
    assert result.status == 404
    assert result.body == ISSUE_NOT_FOUND
    assert dynamodb.scan(TableName=aws["DataTable"])["Count"] == 0


@pytest.mark.parametrize("token", ["api", "oauth_read", "mcp"])
def test_patch_without_write_scope_is_403_and_changes_nothing(
    seeded: dict[str, demo_data.DemoData], api: Callable[..., Result], token: str
) -> None:
    issue = seeded[ORG_A].issues[0]
    for body in ('{"status": "resolved"}', "not json", ""):
        result = api("PATCH", issue_path(issue.id), principal=TOKENS_A[token], body=body)
        assert result.status == 403
        assert result.body == FORBIDDEN_WRITE
        assert result.headers["WWW-Authenticate"] == CHALLENGE_WRITE
    # also for an issue that does not exist: the scope is checked first
    missing = api("PATCH", issue_path(UNKNOWN_ISSUE), principal=TOKENS_A[token], body="{}")
    assert missing.status == 403
    assert api("GET", issue_path(issue.id)).json() == issue.model_dump(mode="json")


@pytest.mark.parametrize("path", [*GET_PATHS, issue_path(UNKNOWN_ISSUE)])
def test_reads_without_read_scope_are_403(
    seeded: dict[str, demo_data.DemoData], api: Callable[..., Result], path: str
) -> None:
    result = api("GET", path, principal=OAUTH_WRITE_ONLY_A, query={"limit": "0"})
    assert result.status == 403
    assert result.body == FORBIDDEN_READ
    assert result.headers["WWW-Authenticate"] == CHALLENGE_READ


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("{}", "Invalid body field 'status': Field required"),
        (
            '{"status": "closed"}',
            "Invalid body field 'status': Input should be 'open', 'resolved' or 'ignored'",
        ),
        (
            '{"status": null}',
            "Invalid body field 'status': Input should be 'open', 'resolved' or 'ignored'",
        ),
        (
            '{"status": 1}',
            "Invalid body field 'status': Input should be 'open', 'resolved' or 'ignored'",
        ),
        (
            '{"status": "resolved", "title": "x"}',
            "Invalid body field 'title': Extra inputs are not permitted",
        ),
        (
            '{"status": "resolved", "org_id": "org_b"}',
            "Invalid body field 'org_id': Extra inputs are not permitted",
        ),
        ("not json", "Request body must be a JSON object"),
        ('{"status": "resolved"', "Request body must be a JSON object"),
        ("", "Request body must be a JSON object"),
        ("   ", "Request body must be a JSON object"),
        (None, "Request body must be a JSON object"),
        ('["resolved"]', "Request body must be a JSON object"),
        ('"resolved"', "Request body must be a JSON object"),
        ("null", "Request body must be a JSON object"),
    ],
)
def test_bad_patch_bodies_are_400_naming_the_field(
    seeded: dict[str, demo_data.DemoData],
    api: Callable[..., Result],
    body: str | None,
    error: str,
) -> None:
    issue = seeded[ORG_A].issues[0]
    result = api("PATCH", issue_path(issue.id), principal=WRITE_A, body=body)
    assert result.status == 400
    assert result.body == json.dumps({"error": error}).encode()
    assert api("GET", issue_path(issue.id)).json() == issue.model_dump(mode="json")


@pytest.mark.parametrize(
    ("body", "error"),
    [
        # Issue 9: these answered 500 (json.loads' RecursionError escaped as a bug).
        ("[" * 100_000, "Body is not valid JSON: nested too deeply"),
        ('{"a":' * 5_000 + "1" + "}" * 5_000, "Body is not valid JSON: nested too deeply"),
        (
            '{"status": "open", "x": ' + "[" * 40 + "]" * 40 + "}",
            "Body is not valid JSON: nested too deeply",
        ),
        # The last "status" won: "bogus" then "resolved" was a 200 setting "resolved".
        (
            '{"status": "bogus", "status": "resolved"}',
            'Body is not valid JSON: duplicate key "status"',
        ),
        (
            '{"status": "resolved", "status": "resolved"}',
            'Body is not valid JSON: duplicate key "status"',
        ),
        ('{"status": "open", "x": {"k": 1, "k": 2}}', 'Body is not valid JSON: duplicate key "k"'),
    ],
)
def test_patch_bodies_the_parser_refuses_are_400_and_change_nothing(
    seeded: dict[str, demo_data.DemoData],
    api: Callable[..., Result],
    body: str,
    error: str,
) -> None:
    issue = seeded[ORG_A].issues[0]
    for base64_body in (False, True):
        result = api(
            "PATCH", issue_path(issue.id), principal=WRITE_A, body=body, base64_body=base64_body
        )
        assert (result.status, result.body) == (400, json.dumps({"error": error}).encode())
        assert result.headers["Content-Type"] == "application/json"
    assert api("GET", issue_path(issue.id)).json() == issue.model_dump(mode="json")


def test_patch_body_nesting_within_the_bound_reaches_validation(
    seeded: dict[str, demo_data.DemoData], api: Callable[..., Result]
) -> None:
    load_function("IssuesFunction")
    bound = sys.modules["lucent_fn_IssuesFunction"].MAX_BODY_DEPTH
    nested = "[" * (bound - 1) + "]" * (bound - 1)
    result = api(
        "PATCH",
        issue_path(seeded[ORG_A].issues[0].id),
        principal=WRITE_A,
        body='{"status": "open", "x": ' + nested + "}",
    )
    assert result.body == b'{"error": "Invalid body field \'x\': Extra inputs are not permitted"}'


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "APPLICATION/JSON",
        " Application/Json ;charset=UTF-8",
    ],
)
def test_patch_takes_application_json_with_parameters_in_any_case(
    seeded: dict[str, demo_data.DemoData], api: Callable[..., Result], content_type: str
) -> None:
    issue = seeded[ORG_A].issues[0]
    result = api(
        "PATCH",
        issue_path(issue.id),
        principal=WRITE_A,
        body='{"status": "ignored"}',
        headers={"content-type": content_type},
    )
    assert (result.status, result.json()["status"]) == (200, "ignored")


@pytest.mark.parametrize(
    ("headers", "error"),
    [
        ({}, "Missing Content-Type: send application/json"),
        ({"Content-Type": ""}, "Missing Content-Type: send application/json"),
        ({"Content-Type": "   "}, "Missing Content-Type: send application/json"),
        (
            {"Content-Type": "text/plain"},
            "Unsupported content type: text/plain; send application/json",
        ),
        (
            {"Content-Type": "application/x-www-form-urlencoded"},
            "Unsupported content type: application/x-www-form-urlencoded; send application/json",
        ),
        (
            {"Content-Type": "application/merge-patch+json"},
            "Unsupported content type: application/merge-patch+json; send application/json",
        ),
        (
            {"Content-Type": "Text/HTML; charset=utf-8"},
            "Unsupported content type: text/html; send application/json",
        ),
        (
            {"Content-Type": "x/" + "y" * 500},
            f"Unsupported content type: x/{'y' * 98}; send application/json",
        ),
    ],
)
def test_patch_without_application_json_is_415_and_changes_nothing(
    seeded: dict[str, demo_data.DemoData],
    api: Callable[..., Result],
    headers: dict[str, str],
    error: str,
) -> None:
    issue = seeded[ORG_A].issues[0]
    for body in ('{"status": "ignored"}', "not json", None):
        result = api("PATCH", issue_path(issue.id), principal=WRITE_A, body=body, headers=headers)
        assert (result.status, result.body) == (415, json.dumps({"error": error}).encode())
        assert result.headers["Content-Type"] == "application/json"
    assert api("GET", issue_path(issue.id)).json() == issue.model_dump(mode="json")


def test_the_scope_is_checked_before_the_content_type(
    seeded: dict[str, demo_data.DemoData], api: Callable[..., Result]
) -> None:
    issue = seeded[ORG_A].issues[0]
    for headers in ({}, {"Content-Type": "text/plain"}):
        result = api("PATCH", issue_path(issue.id), principal=READ_A, body="x", headers=headers)
        assert (result.status, result.body) == (403, FORBIDDEN_WRITE)
        assert result.headers["WWW-Authenticate"] == CHALLENGE_WRITE


def test_the_content_type_is_checked_before_the_issue_is_looked_up(
    seeded: dict[str, demo_data.DemoData], api: Callable[..., Result]
) -> None:
    result = api("PATCH", issue_path(UNKNOWN_ISSUE), principal=WRITE_A, body="{}", headers={})
    assert (result.status, result.body) == (
        415,
        b'{"error": "Missing Content-Type: send application/json"}',
    )


# --- methods and paths ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource", "method"),
    [
        (resource, method)
        for resource, allowed in RESOURCES.items()
        for method in ("DELETE", "PUT", "POST", "PATCH", "HEAD", "OPTIONS")
        if method not in allowed
    ],
)
def test_wrong_method_is_405_with_allow(
    aws: dict[str, str], api: Callable[..., Result], resource: str, method: str
) -> None:
    allowed = RESOURCES[resource]
    path = issue_path(UNKNOWN_ISSUE) if resource == ISSUE_RESOURCE else resource
    for principal in (READ_A, WRITE_A, None):
        result = api(method, path, principal=principal, body='{"status": "open"}')
        assert result.status == 405
        assert result.body == b'{"error": "Method not allowed"}'
        assert result.headers["Allow"] == ", ".join(allowed)


@pytest.mark.parametrize(
    "path", ["/api/v1/nothing", "/api/v1/issues/a/b", "/api/v2/issues", "/", "/api/v1/signals/x"]
)
def test_unknown_path_is_404_json(
    aws: dict[str, str], api: Callable[..., Result], path: str
) -> None:
    result = api("GET", path)
    assert result.status == 404
    assert result.body == b'{"error": "Not found"}'
    assert result.headers["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    "issue_id", ['a"b', "a b", "%22", "<iss>", "\u00e4", "iss_" + "0" * 26 + "\n"]
)
def test_an_issue_id_no_issue_can_have_is_the_unknown_issue_404(
    aws: dict[str, str], api: Callable[..., Result], issue_id: str
) -> None:
    """Issue 18: ``GET /api/v1/issues/a"b`` answered 405 ``Allow: GET, PATCH`` (a hand router
    refused the segment API Gateway had matched). What API Gateway routes to the resource is
    answered as any unknown issue id is, for both methods."""
    for method, principal, body in (
        ("GET", READ_A, None),
        ("PATCH", WRITE_A, '{"status": "open"}'),
    ):
        unknown = api(method, issue_path(UNKNOWN_ISSUE), principal=principal, body=body)
        result = api(method, issue_path(issue_id), principal=principal, body=body)
        assert (result.status, result.body) == (404, ISSUE_NOT_FOUND)
        assert result.headers == unknown.headers
        assert (unknown.status, unknown.body) == (404, ISSUE_NOT_FOUND)


def test_a_query_parameter_is_read_as_pydantic_reads_an_integer(
    seeded: dict[str, demo_data.DemoData], api: Callable[..., Result]
) -> None:
    """Lax integers (white space, underscores, a ``.0`` tail) and unknown parameters ignored."""
    result = api("GET", "/api/v1/issues", query={"limit": " 1_0.0 ", "org_id": ORG_B})
    assert result.status == 200
    page = result.json()
    assert len(page["items"]) == 10
    assert {i["id"] for i in page["items"]} <= {i.id for i in seeded[ORG_A].issues}


# --- isolation -----------------------------------------------------------------------------------


@pytest.mark.parametrize("token", list(TOKENS_A))
def test_org_only_comes_from_the_authorizer_context(
    seeded: dict[str, demo_data.DemoData], api: Callable[..., Result], token: str
) -> None:
    principal = TOKENS_A[token]
    spoof_query = {"org_id": ORG_B, "organization": ORG_B, "org": ORG_B, "limit": "100"}
    spoof_headers = {"X-Org-Id": ORG_B, "X-Lucent-Org": ORG_B, "X-Organization-Id": ORG_B}
    a, b = seeded[ORG_A], seeded[ORG_B]
    for path, expected in (
        ("/api/v1/issues", {i.id for i in a.issues}),
        ("/api/v1/signals", {s.id for s in a.signals[-100:]}),
        ("/api/v1/insights", {i.id for i in a.insights}),
    ):
        result = api("GET", path, principal=principal, query=spoof_query, headers=spoof_headers)
        assert result.status == 200
        assert {i["id"] for i in result.json()["items"]} == expected
    theirs = b.issues[0]
    got = api(
        "GET", issue_path(theirs.id), principal=principal, query=spoof_query, headers=spoof_headers
    )
    assert got.body == ISSUE_NOT_FOUND
    # writes: B's issue cannot be touched, whatever the request says
    patch = api(
        "PATCH",
        issue_path(theirs.id),
        principal=principal,
        query=spoof_query,
        headers={**spoof_headers, "Content-Type": "application/json"},
        body='{"status": "ignored"}',
    )
    assert patch.status == (404 if "write:issues" in str(principal["scopes"]) else 403)
    assert api("GET", issue_path(theirs.id), principal=WRITE_B).json() == theirs.model_dump(
        mode="json"
    )


def test_org_in_a_patch_body_is_refused_and_writes_nothing(
    seeded: dict[str, demo_data.DemoData], api: Callable[..., Result]
) -> None:
    theirs = seeded[ORG_B].issues[0]
    for body in (
        {"status": "ignored", "org_id": ORG_B},
        {"status": "ignored", "organization": ORG_B},
    ):
        result = api("PATCH", issue_path(theirs.id), principal=WRITE_A, body=json.dumps(body))
        assert result.status == 400
    assert api("GET", issue_path(theirs.id), principal=WRITE_B).json() == theirs.model_dump(
        mode="json"
    )


# --- misconfiguration and failures ---------------------------------------------------------------


def _break_context(change: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    def apply(event: dict[str, Any]) -> None:
        change(event["requestContext"])

    return apply


@pytest.mark.parametrize(
    "change",
    [
        lambda rc: rc.pop("authorizer", None),
        lambda rc: rc.update(authorizer={}),
        lambda rc: rc.update(authorizer=None),
        lambda rc: rc["authorizer"].pop("org_id"),
        lambda rc: rc["authorizer"].update(org_id=""),
        lambda rc: rc["authorizer"].pop("credential_id"),
        lambda rc: rc["authorizer"].update(kind="superuser"),
    ],
)
def test_missing_or_malformed_authorizer_context_is_a_500_and_reads_nothing(
    seeded: dict[str, demo_data.DemoData],
    handler: Callable[..., Any],
    monkeypatch: Any,
    change: Callable[[dict[str, Any]], None],
) -> None:
    from lucent import aws as lucent_aws
    from lucent.settings import get_settings

    client = lucent_aws.dynamodb_client(get_settings())
    calls: list[str] = []
    for name in ("query", "get_item", "update_item"):
        monkeypatch.setattr(client, name, lambda _n=name, **_kw: calls.append(_n))
    issue = seeded[ORG_A].issues[0].id
    for method, path, body in (
        ("GET", "/api/v1/issues", None),
        ("GET", issue_path(issue), None),
        ("PATCH", issue_path(issue), '{"status": "resolved"}'),
        ("GET", "/api/v1/signals", None),
        ("GET", "/api/v1/insights", None),
    ):
        result = invoke(
            handler,
            method,
            path,
            principal=WRITE_A,
            body=body,
            event_changes=_break_context(change),
        )
        assert result.status == 500
        assert result.body == INTERNAL_ERROR
    assert calls == []


def test_unexpected_error_is_a_generic_500_without_traceback(
    aws: dict[str, str],
    dynamodb: Any,
    handler: Callable[..., Any],
    seeded: dict[str, demo_data.DemoData],
) -> None:
    # A real fault, not a patched one: an issue item written by something else, missing fields.
    valid = seeded[ORG_A].issues[0].id
    corrupt = valid[:-1] + ("0" if valid[-1] != "0" else "1")
    dynamodb.put_item(
        TableName=aws["DataTable"],
        Item={
            **datatable.key(ORG_A, datatable.issue_sk(corrupt)),
            "entity": {"S": "issue"},
            "title": {"S": "secret internals /var/task/x.py"},
        },
    )
    result = invoke(handler, "GET", issue_path(corrupt), principal=READ_A)
    assert result.status == 500
    assert result.body == INTERNAL_ERROR
    assert "secret internals" not in result.body.decode()
    assert "Traceback" not in result.body.decode()


def test_table_unavailable_is_503_with_retry_after(
    aws: dict[str, str], dynamodb: Any, monkeypatch: Any
) -> None:
    from lucent import container

    monkeypatch.setenv("DATA_TABLE", "no-such-table")
    container.reset()
    fn = load_function("IssuesFunction")
    for method, path, body in (
        ("GET", "/api/v1/issues", None),
        ("GET", issue_path(UNKNOWN_ISSUE), None),
        ("PATCH", issue_path(UNKNOWN_ISSUE), '{"status": "open"}'),
    ):
        result = invoke(fn, method, path, principal=WRITE_A, body=body)
        assert result.status == 503
        assert result.body == b'{"error": "Service temporarily unavailable"}'
        assert result.headers["Retry-After"] == "5"


def test_authorization_header_is_never_logged(
    seeded: dict[str, demo_data.DemoData],
    handler: Callable[..., Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    token = "luc_api_" + "S3cr3tT0kenValue0123456789abcd" + "XYZ123"
    for method, path in (("GET", "/api/v1/issues"), ("DELETE", "/api/v1/issues")):
        invoke(
            handler, method, path, principal=READ_A, headers={"Authorization": f"Bearer {token}"}
        )
    invoke(
        handler,
        "GET",
        "/api/v1/issues",
        principal=READ_A,
        headers={"Authorization": f"Bearer {token}"},
        event_changes=_break_context(lambda rc: rc.pop("authorizer")),
    )
    out = capsys.readouterr().out
    assert "data api request" in out
    assert "S3cr3tT0kenValue" not in out


def test_correlation_id_is_the_request_id(
    seeded: dict[str, demo_data.DemoData],
    handler: Callable[..., Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    def set_id(event: dict[str, Any]) -> None:
        event["requestContext"]["requestId"] = "req-1234"

    invoke(handler, "GET", "/api/v1/issues", principal=READ_A, event_changes=set_id)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"level"' in line]
    request_line = next(line for line in lines if line["message"] == "data api request")
    assert request_line["correlation_id"] == "req-1234"
    assert request_line["org_id"] == ORG_A
    assert request_line["status"] == 200


# --- demo data -----------------------------------------------------------------------------------


def test_demo_data_is_deterministic_per_org_and_consistent() -> None:
    a1, a2, b = demo_data.generate(ORG_A), demo_data.generate(ORG_A), demo_data.generate(ORG_B)
    assert a1 == a2
    assert not {i.id for i in a1.issues} & {i.id for i in b.issues}
    assert a1.counts() == {"issues": 25, "signals": 120, "insights": 8}
    by_id: dict[str, Issue] = {i.id: i for i in a1.issues}
    assert len(by_id) == 25
    assert {i.status for i in a1.issues} == set(IssueStatus)
    assert len({i.kind for i in a1.issues}) >= 6
    assert len({i.severity for i in a1.issues}) == 4
    for issue in a1.issues:
        mine = [s for s in a1.signals if s.issue_id == issue.id]
        assert len(mine) >= 2
        assert issue.occurrences >= issue.sessions_affected >= issue.users_affected >= 1
        assert issue.sessions_affected >= len({s.session_id for s in mine})
        assert issue.first_seen <= issue.last_seen <= demo_data.DEMO_ANCHOR
        assert all(issue.first_seen <= s.occurred_at <= issue.last_seen for s in mine)
        assert all(s.kind == issue.kind for s in mine)
        assert (issue.status is IssueStatus.OPEN) == (issue.status_updated_at is None)
    for insight in a1.insights:
        assert insight.related_issue_ids
        assert set(insight.related_issue_ids) <= set(by_id)
    # ids are time-ordered
    assert sorted(a1.issues, key=lambda i: i.id) == sorted(
        a1.issues, key=lambda i: (i.first_seen, i.id)
    )
    assert a1.issues[0].first_seen >= demo_data.DEMO_ANCHOR - timedelta(days=30)


def test_seeding_twice_does_not_duplicate(
    aws: dict[str, str], dynamodb: Any, api: Callable[..., Result]
) -> None:
    demo_data.seed(dynamodb, aws["DataTable"], ORG_A)
    demo_data.seed(dynamodb, aws["DataTable"], ORG_A)
    assert dynamodb.scan(TableName=aws["DataTable"], Select="COUNT")["Count"] == 25 + 120 + 8


def test_cli_data_seed(
    aws: dict[str, str], dynamodb: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from lucent_dev import cli

    assert cli.main(["data", "seed", "--org", "org_cli", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == {
        "org_id": "org_cli",
        "table": aws["DataTable"],
        "issues": 25,
        "signals": 120,
        "insights": 8,
    }
    response = dynamodb.query(
        TableName=aws["DataTable"],
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": datatable.org_pk("org_cli")}},
        Select="COUNT",
    )
    assert response["Count"] == 153
    assert cli.main(["data", "seed", "--org", " "]) == 2


# --- end to end: real tokens through the authorizer and API Gateway's rules ----------------------


def test_every_token_kind_end_to_end_sees_only_its_organization(
    seeded: dict[str, demo_data.DemoData], aws: dict[str, str], dynamodb: Any
) -> None:
    from lucent.auth.store import CredentialStore
    from lucent_dev.gateway import Gateway, HttpRequest, body_bytes
    from tests.helpers import store_credential

    table = aws["CredentialsTable"]
    kinds: dict[str, tuple[CredentialKind, dict[str, Any]]] = {
        "api": (CredentialKind.API, {}),
        "api_write": (CredentialKind.API, {"allow_issue_status_updates": True}),
        "oauth": (CredentialKind.OAUTH, {"scopes": ["read:lucent"]}),
        "oauth_write": (CredentialKind.OAUTH, {"scopes": ["read:lucent", "write:issues"]}),
        "mcp": (CredentialKind.MCP, {}),
    }
    tokens = {
        (org, name): store_credential(dynamodb, table, kind, org, **options)
        for org in (ORG_A, ORG_B)
        for name, (kind, options) in kinds.items()
    }
    gateway = Gateway(
        {
            "DataAuthorizerFunction": load_function("DataAuthorizerFunction"),
            "IssuesFunction": load_function("IssuesFunction"),
        }
    )

    def send(method: str, path: str, token: str | None, body: str = "", **headers: str) -> Any:
        all_headers = [(k.replace("_", "-"), v) for k, v in headers.items()]
        if token:
            all_headers.append(("Authorization", f"Bearer {token}"))
        path, _, query = path.partition("?")
        reply = gateway.handle(HttpRequest(method, path, all_headers, query, body.encode()))
        return Result(reply.status, dict(reply.headers), body_bytes(reply))

    for (org, name), issued in tokens.items():
        other = ORG_B if org == ORG_A else ORG_A
        mine, theirs = seeded[org], seeded[other]
        listing = send(
            "GET", f"/api/v1/issues?limit=100&org_id={other}", issued.secret, X_Org_Id=other
        )
        assert listing.status == 200, (org, name)
        assert {i["id"] for i in listing.json()["items"]} == {i.id for i in mine.issues}
        their_issue = theirs.issues[1].id
        got = send("GET", f"/api/v1/issues/{their_issue}", issued.secret, X_Org_Id=other)
        assert (got.status, got.body) == (404, ISSUE_NOT_FOUND)
        patch = send(
            "PATCH",
            f"/api/v1/issues/{their_issue}",
            issued.secret,
            '{"status": "ignored"}',
            Content_Type="application/json",
        )
        can_write = name in ("api_write", "oauth_write")
        assert (patch.status, patch.body) == (
            (404, ISSUE_NOT_FOUND) if can_write else (403, FORBIDDEN_WRITE)
        ), (org, name)
        own = mine.issues[1].id
        patch = send(
            "PATCH",
            f"/api/v1/issues/{own}",
            issued.secret,
            '{"status": "ignored"}',
            Content_Type="application/json",
        )
        assert patch.status == (200 if can_write else 403), (org, name)
        if can_write:
            assert patch.json()["status_updated_by"] == issued.record.credential_id
    # B's issues were only ever changed by B's tokens
    for issue in seeded[ORG_B].issues:
        got = send("GET", f"/api/v1/issues/{issue.id}", tokens[(ORG_B, "api")].secret).json()
        assert got["status_updated_by"] in (
            None,
            demo_data.DEMO_UPDATER,
            tokens[(ORG_B, "api_write")].record.credential_id,
            tokens[(ORG_B, "oauth_write")].record.credential_id,
        )
    # no token, or a revoked one: API Gateway's 401s, the function never runs
    CredentialStore(dynamodb, table).revoke(tokens[(ORG_A, "api_write")].key_hash, now=1)
    # (a new authorizer container: a warm one trusts its lookups for AUTH_CACHE_TTL_SECONDS)
    gateway.handlers = {
        **gateway.handlers,
        "DataAuthorizerFunction": load_function("DataAuthorizerFunction"),
    }
    for method, token, scope in (
        ("GET", None, "read:lucent"),
        ("PATCH", None, "write:issues"),
        ("PATCH", tokens[(ORG_A, "api_write")].secret, "write:issues"),
    ):
        answer = send(method, f"/api/v1/issues/{UNKNOWN_ISSUE}", token, '{"status": "open"}')
        assert answer.status == 401
        assert answer.body == b'{"error": "Missing or invalid bearer token"}'
        assert answer.headers["WWW-Authenticate"] == f'Bearer scope="{scope}"'


@given(st.one_of(st.text(max_size=600), st.binary(max_size=400).map(_b64)))
@settings(max_examples=300, deadline=None)
def test_any_cursor_is_a_position_or_invalid_cursor(cursor: str) -> None:
    """Garbage never escapes as another exception (which would be a 500)."""
    from lucent.errors import InvalidCursor
    from lucent.issues.service import ISSUE_ID, decode_cursor

    try:
        position = decode_cursor(cursor, "issues", None, ISSUE_ID)
    except InvalidCursor:
        return
    assert ISSUE_ID.fullmatch(position)


def test_cursor_round_trip() -> None:
    from lucent.issues.service import SIGNAL_ID, decode_cursor

    sig = demo_data.generate(ORG_A).signals[0].id
    issue = demo_data.generate(ORG_A).issues[0].id
    assert decode_cursor(encode_cursor("signals", issue, sig), "signals", issue, SIGNAL_ID) == sig


# --- stored items --------------------------------------------------------------------------------

ULID_CHARS = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
offsets = st.one_of(
    st.just(UTC),
    st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m))),
    st.integers(-50_000, 50_000).map(lambda s: timezone(timedelta(seconds=s))),
)
moments = st.builds(
    lambda naive, tz: naive.replace(tzinfo=tz),
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    offsets,
)
texts = st.text(max_size=20)
counts = st.integers(0, 2**40)


def _ids(prefix: str) -> st.SearchStrategy[str]:
    return st.text(alphabet=ULID_CHARS, min_size=26, max_size=26).map(lambda u: prefix + u)


issues = st.builds(
    models.Issue,
    id=_ids("iss_"),
    title=texts,
    kind=st.sampled_from(models.IssueKind),
    severity=st.sampled_from(models.Severity),
    status=st.sampled_from(models.IssueStatus),
    occurrences=counts,
    sessions_affected=counts,
    users_affected=counts,
    first_seen=moments,
    last_seen=moments,
    url=texts,
    status_updated_at=st.none() | moments,
    status_updated_by=st.none() | texts,
    selector=st.none() | texts,
    regressed_at=st.none() | moments,
)
signals = st.builds(
    models.Signal,
    id=_ids("sig_"),
    issue_id=_ids("iss_"),
    kind=st.sampled_from(models.IssueKind),
    session_id=texts,
    replay_timestamp_ms=counts,
    occurred_at=moments,
    url=texts,
    selector=st.none() | texts,
    text=st.none() | texts,
    detail=texts,
)
insights = st.builds(
    models.Insight,
    id=_ids("ins_"),
    title=texts,
    summary=texts,
    category=st.sampled_from(models.InsightCategory),
    impact=st.sampled_from(models.Impact),
    related_issue_ids=st.lists(_ids("iss_"), max_size=3),
    created_at=moments,
)


def _item_text(model: type[models.BaseModel], item: Mapping[str, Any]) -> Any:
    """A stored item read by pydantic from its text: the model's fields, numbers as ints."""
    return model.model_validate(
        {
            name: int(value["N"])
            if "N" in value
            else [v["S"] for v in value["L"]]
            if "L" in value
            else value["S"]
            for name, value in item.items()
            if name in model.model_fields
        }
    )


@settings(max_examples=300, deadline=None)
@given(issues, signals, insights)
def test_stored_items_read_back_as_pydantic_reads_their_text(
    issue: models.Issue, signal: models.Signal, insight: models.Insight
) -> None:
    """The store's readers give what the models make of the stored text, byte for byte."""
    for item, read in (
        (issue_item("org_1", issue), issue_from_item),
        (signal_item("org_1", signal), signal_from_item),
        (insight_item("org_1", insight), insight_from_item),
    ):
        expected = _item_text(type(read(item)), item).model_dump(mode="json")
        assert json.dumps(read(item).model_dump(mode="json")) == json.dumps(expected)


def test_a_stored_time_without_an_offset_is_refused() -> None:
    item = issue_item("org_1", demo_data.generate(ORG_A).issues[0])
    item["first_seen"] = {"S": "2026-11-29T16:20:00"}
    with pytest.raises(ValueError, match="without an offset"):
        issue_from_item(item)
