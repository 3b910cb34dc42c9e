"""Builders for API Gateway events of the real shapes (as `sam local generate-event` prints),
and the one way a test follows a list's ``next_cursor`` (``follow_cursor``)."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from lucent.auth.credentials import CredentialKind, IssuedCredential, issue_credential
from lucent.auth.store import CredentialStore

FIXTURES = Path(__file__).parent / "fixtures"
_AUTHORIZER_SHAPE = json.loads((FIXTURES / "sam_request_authorizer.json").read_text())
_PROXY_SHAPE = json.loads((FIXTURES / "sam_aws_proxy.json").read_text())

API_IDS = {"ingest": "ingestapi", "data": "dataapi"}


def authorizer_event(
    resource: str,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    path: str | None = None,
) -> dict[str, Any]:
    event = copy.deepcopy(_AUTHORIZER_SHAPE)
    api_id = API_IDS["ingest" if resource.startswith("/api/sdk/") else "data"]
    actual_path = path or resource
    event.update(
        methodArn=f"arn:aws:execute-api:us-east-1:123456789012:{api_id}/prod/{method}{actual_path}",
        resource=resource,
        path=actual_path,
        httpMethod=method,
        headers=headers or {},
        queryStringParameters=query,
        pathParameters={},
        stageVariables=None,
    )
    event["requestContext"].update(resourcePath=resource, httpMethod=method, apiId=api_id)
    return event


def proxy_event(
    resource: str,
    method: str,
    *,
    path: str | None = None,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    body: bytes | str | None = None,
    base64_body: bool = False,
    authorizer: dict[str, Any] | None = None,
    path_parameters: dict[str, str] | None = None,
) -> dict[str, Any]:
    event = copy.deepcopy(_PROXY_SHAPE)
    raw = body.encode() if isinstance(body, str) else body
    encoded: str | None
    if raw is None:
        encoded = None
    elif base64_body:
        encoded = base64.b64encode(raw).decode()
    else:
        encoded = raw.decode("utf-8")
    all_headers = headers or {}
    event.update(
        resource=resource,
        path=path or resource,
        httpMethod=method,
        headers=all_headers,
        multiValueHeaders={k: [v] for k, v in all_headers.items()},
        queryStringParameters=query,
        multiValueQueryStringParameters={k: [v] for k, v in query.items()} if query else None,
        pathParameters=path_parameters,
        stageVariables=None,
        body=encoded,
        isBase64Encoded=base64_body,
    )
    event["requestContext"].update(resourcePath=resource, httpMethod=method, path=path or resource)
    if authorizer is not None:
        # API Gateway passes authorizer context values through as strings.
        event["requestContext"]["authorizer"] = {k: str(v) for k, v in authorizer.items()}
    else:
        event["requestContext"].pop("authorizer", None)
    return event


def store_credential(
    dynamodb: Any, table: str, kind: CredentialKind, org_id: str, **options: Any
) -> IssuedCredential:
    issued = issue_credential(kind, org_id, **options)
    CredentialStore(dynamodb, table).put(issued)
    return issued


def follow_cursor(
    fetch: Callable[[str | None], Mapping[str, Any]], *, max_pages: int = 200
) -> list[Mapping[str, Any]]:
    """Every page of a list, in order: ``fetch(None)`` is the first page, ``fetch(cursor)`` the
    one a page's ``next_cursor`` points to; the last page has ``next_cursor: null``.

    Each page must be ``{"items": [...], "next_cursor": ...}`` (the Data API's and MCP's shape);
    a list that has not ended after ``max_pages`` fails the test.
    """
    pages: list[Mapping[str, Any]] = []
    cursor: str | None = None
    for _ in range(max_pages):
        page = fetch(cursor)
        assert set(page) == {"items", "next_cursor"}, sorted(page)
        pages.append(page)
        cursor = page["next_cursor"]
        if cursor is None:
            return pages
    raise AssertionError(f"pagination did not end within {max_pages} pages")


def all_items(pages: list[Mapping[str, Any]]) -> list[Any]:
    """The items of ``follow_cursor``'s pages, in order."""
    return [item for page in pages for item in page["items"]]


# --- what a function printed: Powertools' log lines and EMF metric lines ----------------------


def log_lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith('{"level"')]


def emf_metrics(out: str) -> list[dict[str, list[float]]]:
    """Each of Powertools' EMF lines in ``out`` (one per invocation) as {metric: values}, every
    metric a Count in the Lucent namespace with the service dimension."""
    found = []
    for doc in (json.loads(line) for line in out.splitlines() if line.startswith('{"_aws"')):
        [directive] = doc["_aws"]["CloudWatchMetrics"]
        assert (directive["Namespace"], directive["Dimensions"]) == ("Lucent", [["service"]])
        assert {m["Unit"] for m in directive["Metrics"]} == {"Count"}
        found.append({m["Name"]: doc[m["Name"]] for m in directive["Metrics"]})
    return found
