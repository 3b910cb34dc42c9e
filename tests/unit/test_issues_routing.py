"""lucent.issues.routing answers as Powertools' REST resolver did, request for request.

The Data API routes with its own small router (the resolver's package cost ~25-30 ms of its cold
start: docs/performance.md). Both are given the same routes and handlers here and the same
requests: methods in any case, paths with odd characters, trailing slashes and extra segments,
routes that raise, a handler for the nearest exception class, and no route at all.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response

from lucent.issues.routing import Reply, Router
from tests.helpers import proxy_event


class Refused(ValueError):
    pass


class RefusedHarder(Refused):
    pass


def _routes(get: Any, patch: Any) -> None:
    @get("/api/v1/issues")
    def issues() -> dict[str, Any]:
        return {"route": "issues", "pi": 3.5, "text": "é\u2028"}

    @get("/api/v1/issues/<issue_id>")
    def issue(issue_id: str) -> dict[str, Any]:
        if issue_id == "boom":
            raise RuntimeError("boom")
        if issue_id == "refused":
            raise RefusedHarder("no")
        return {"route": "issue", "issue_id": issue_id}

    @patch("/api/v1/issues/<issue_id>")
    def update(issue_id: str) -> dict[str, Any]:
        return {"route": "update", "issue_id": issue_id}

    @get("/api/v1/sessions/<session_id>/timeline")
    def timeline(session_id: str) -> dict[str, Any]:
        return {"route": "timeline", "session_id": session_id}


def powertools() -> Any:
    app = APIGatewayRestResolver(serializer=json.dumps)
    _routes(app.get, app.patch)

    @app.not_found
    def missing(_: Any) -> Response[str]:
        return Response(404, "application/json", '{"error": "Not found"}', {"X-Why": "none"})

    def refused(exc: Exception) -> Response[str]:
        return Response(400, "application/json", json.dumps({"error": str(exc)}), {"A": "1"})

    def unexpected(exc: Exception) -> Response[str]:
        return Response(500, "text/plain", "oops")

    app.exception_handler(Refused)(refused)
    app.exception_handler(Exception)(unexpected)
    return lambda event: app.resolve(event, None)


def ours() -> Any:
    app = Router(serializer=json.dumps)
    _routes(app.get, app.patch)

    @app.not_found
    def missing() -> Reply:
        return Reply(404, '{"error": "Not found"}', {"X-Why": "none"})

    app.exception_handler(Refused)(
        lambda exc: Reply(400, json.dumps({"error": str(exc)}), {"A": "1"})
    )
    app.exception_handler(Exception)(lambda exc: Reply(500, "oops", content_type="text/plain"))
    return app.resolve


PATHS = [
    "/api/v1/issues",
    "/api/v1/issues/",
    "/api/v1/issues//",
    "/api/v1/issues/iss_1",
    "/api/v1/issues/iss_1/",
    "/api/v1/issues/boom",
    "/api/v1/issues/refused",
    "/api/v1/issues/a b",
    '/api/v1/issues/a"b',
    "/api/v1/issues/a#b",
    "/api/v1/issues/a`b",
    "/api/v1/issues/a\\b",
    "/api/v1/issues/ü",
    "/api/v1/issues/%2F",
    "/api/v1/issues/a{b}[c]|^<>",
    "/api/v1/issues/x/y",
    "/api/v1/sessions/s1/timeline",
    "/api/v1/sessions//timeline",
    "/api/v1/sessions/s1/timeline/",
    "/API/v1/issues",
    "/api/v1/nothing",
    "/",
    "",
]
METHODS = ["GET", "get", "PATCH", "patch", "POST", "OPTIONS", "HEAD", "DELETE"]


@pytest.mark.parametrize("method", METHODS)
def test_every_answer_is_the_resolvers(method: str) -> None:
    theirs, mine = powertools(), ours()
    for path in PATHS:
        event = proxy_event("/x", method, path=path)
        expected = json.loads(json.dumps(theirs(event)))  # HTTPStatus and defaultdict as JSON
        got = mine(event)
        assert got == expected, (method, path)
        assert list(got["multiValueHeaders"]) == list(expected["multiValueHeaders"]), path


def test_what_the_resolver_raises_is_raised() -> None:
    theirs, mine = powertools(), ours()
    event = proxy_event("/x", "GET", path="/api/v1/issues")
    event["httpMethod"] = None
    with pytest.raises(AttributeError):
        theirs(event)
    with pytest.raises(AttributeError):
        mine(event)


def test_the_request_is_there_while_routing_only() -> None:
    app = Router()
    seen: list[str] = []

    @app.get("/p/<name>")
    def route(name: str) -> dict[str, str]:
        seen.append(f"{app.current_event.http_method} {app.current_event.path} {name}")
        return {}

    app.not_found(lambda: Reply(404, "{}"))
    assert app.resolve(proxy_event("/x", "GET", path="/p/n"))["statusCode"] == 200
    assert seen == ["GET /p/n n"]
    with pytest.raises(RuntimeError):
        app.current_event  # noqa: B018
