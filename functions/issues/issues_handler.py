"""issues function: issues, signals and insights (docs/data-api.md, docs/openapi-data.yaml).

Thin: ``lucent.issues.routing`` routes (what Powertools' REST resolver did, without importing
its event handler package: docs/performance.md), ``lucent.issues.service.DataService`` decides,
and every ``LucentError`` becomes a response through ``lucent.http.error_response``, the one
mapping.

Order of checks on every route: method (405) -> authorizer context (500 if absent) -> scope (403)
-> Content-Type of a body (415) -> parameters and body (400) -> data (404). Request validation
is ``lucent.issues.records``' (the pydantic models' answers and words, without importing
pydantic: docs/performance.md), called by each route after its scope check: validation before
the routes would give a token without ``write:issues`` sending a bad body a 400 about the body
instead of its 403.
Bodies are read by ``lucent.json_body``, the reader ingest uses.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from lucent import json_body
from lucent.auth.credentials import Principal, require_scope
from lucent.aws import dynamodb_client
from lucent.container import per_container
from lucent.contract import NOT_FOUND, READ_SCOPE, WRITE_ISSUES_SCOPE
from lucent.errors import (
    BadRequest,
    ConfigurationError,
    LucentError,
    MethodNotAllowed,
    NotFound,
    UnsupportedMediaType,
)
from lucent.http import dumps, error_response, header, internal_error_response
from lucent.issues.records import (
    Invalid,
    issue_list_params,
    page_params,
    signal_list_params,
    status_update,
    timeline_params,
)
from lucent.issues.routing import Reply, Router
from lucent.issues.service import DataService
from lucent.issues.store import DataStore
from lucent.observability import get_tracer, logger, metrics
from lucent.ratelimit.bearer import BearerRateLimit
from lucent.ratelimit.limiter import RateLimiter
from lucent.ratelimit.store import RateLimitStore
from lucent.settings import get_settings

ISSUES = "/api/v1/issues"
ISSUE = "/api/v1/issues/<issue_id>"
SIGNALS = "/api/v1/signals"
INSIGHTS = "/api/v1/insights"
TIMELINE = "/api/v1/sessions/<session_id>/timeline"

# The methods each resource answers; any other method on it is a 405 with this Allow list.
RESOURCES: dict[str, tuple[re.Pattern[str], tuple[str, ...]]] = {
    "/api/v1/issues": (re.compile(r"^/api/v1/issues$"), ("GET",)),
    "/api/v1/issues/{issue_id}": (re.compile(r"^/api/v1/issues/[^/]+$"), ("GET", "PATCH")),
    "/api/v1/signals": (re.compile(r"^/api/v1/signals$"), ("GET",)),
    "/api/v1/insights": (re.compile(r"^/api/v1/insights$"), ("GET",)),
    "/api/v1/sessions/{session_id}/timeline": (
        re.compile(r"^/api/v1/sessions/[^/]+/timeline$"),
        ("GET",),
    ),
}
BODY_NOT_OBJECT = "Request body must be a JSON object"
JSON_MEDIA_TYPE = "application/json"
_SHOWN_MEDIA_TYPE_CHARS = 100
# The only body (PATCH) is one flat object; 32 levels leave room for bodies to come.
MAX_BODY_DEPTH = 32

tracer = get_tracer()
app = Router(serializer=dumps)

P = TypeVar("P")


@per_container
def service() -> DataService:
    """One per container: the client and table name come from the settings once."""
    settings = get_settings()
    return DataService(DataStore(dynamodb_client(settings), settings.require("data_table")))


def _limiter_unavailable(caller: Principal, exc: Exception) -> None:
    # Fail open (docs/data-api.md): the request goes on, the metric alarms.
    logger.warning(
        "rate limiter unavailable: request admitted (fail open)",
        extra={"credential_id": caller.credential_id, "error": str(exc)},
    )
    metrics.add_metric(name="RateLimiterUnavailable", unit=MetricUnit.Count, value=1)


@per_container
def rate_limit() -> BearerRateLimit:
    """The per-token limit shared with MCP: one budget per token (docs/data-api.md)."""
    settings = get_settings()
    store = RateLimitStore(dynamodb_client(settings), settings.require("rate_limit_table"))
    return BearerRateLimit(RateLimiter(store), _limiter_unavailable)


# --- request helpers -----------------------------------------------------------------------------


def principal(scope: str) -> Principal:
    """The caller, from the authorizer context only, holding ``scope`` (else MissingScope)."""
    context = (app.current_event.raw_event.get("requestContext") or {}).get("authorizer")
    found = Principal.from_context(context)
    if found is None:
        # The route is deployed behind the authorizer: no context means a misconfiguration.
        raise ConfigurationError("authorizer context missing or malformed")
    rate_limit().admit(found)  # every authenticated request counts; 429 before the scope check
    require_scope(found, scope)
    return found


def _describe(exc: Invalid, where: str) -> str:
    return f"Invalid {where} '{exc.field}': {exc.message}"


def query(parse: Callable[[Mapping[str, Any]], P]) -> P:
    params = app.current_event.query_string_parameters or {}
    try:
        return parse(dict(params))
    except Invalid as exc:
        raise BadRequest(_describe(exc, "query parameter")) from exc


def require_json_body() -> None:
    """A body is sent as application/json (parameters ignored, any letter case), else 415.

    Called after the scope check: a token that may not write gets its 403 whatever it sends.
    """
    value = json_body.media_type(header(app.current_event.raw_event, "content-type"))
    if value is None:
        raise UnsupportedMediaType(f"Missing Content-Type: send {JSON_MEDIA_TYPE}")
    if value != JSON_MEDIA_TYPE:
        shown = value[:_SHOWN_MEDIA_TYPE_CHARS]
        raise UnsupportedMediaType(f"Unsupported content type: {shown}; send {JSON_MEDIA_TYPE}")


def body(parse: Callable[[Mapping[str, Any]], P]) -> P:
    raw: str | bytes | None = app.current_event.body
    try:
        if raw and app.current_event.is_base64_encoded:
            raw = base64.b64decode(raw)
    except (ValueError, binascii.Error) as exc:
        raise BadRequest(BODY_NOT_OBJECT) from exc
    if not raw or not raw.strip():
        raise BadRequest(BODY_NOT_OBJECT)
    try:
        data = json_body.loads(raw, max_depth=MAX_BODY_DEPTH)
    except json_body.InvalidJson as exc:
        # A syntax error keeps the documented message; a duplicate key or too deep a nesting
        # is named, as ingest names it (the same reader).
        named = exc.reason != json_body.INVALID_JSON
        raise BadRequest(exc.message if named else BODY_NOT_OBJECT) from None
    if not isinstance(data, dict):
        raise BadRequest(BODY_NOT_OBJECT)
    try:
        return parse(data)
    except Invalid as exc:
        raise BadRequest(_describe(exc, "body field")) from exc


# --- routes --------------------------------------------------------------------------------------


@app.get(ISSUES)
def list_issues() -> dict[str, Any]:
    caller = principal(READ_SCOPE)
    page = service().list_issues(caller, query(issue_list_params))
    return page.to_json()


@app.get(ISSUE)
def get_issue(issue_id: str) -> dict[str, Any]:
    caller = principal(READ_SCOPE)
    return service().get_issue(caller, issue_id).to_json()


@app.patch(ISSUE)
def update_issue(issue_id: str) -> dict[str, Any]:
    caller = principal(WRITE_ISSUES_SCOPE)
    require_json_body()
    issue = service().update_issue_status(caller, issue_id, body(status_update))
    logger.info(
        "issue status updated",
        extra={"issue_id": issue.id, "status": issue.status.value, "by": caller.credential_id},
    )
    metrics.add_metric(name="IssueStatusUpdated", unit=MetricUnit.Count, value=1)
    return issue.to_json()


@app.get(SIGNALS)
def list_signals() -> dict[str, Any]:
    caller = principal(READ_SCOPE)
    return service().list_signals(caller, query(signal_list_params)).to_json()


@app.get(INSIGHTS)
def list_insights() -> dict[str, Any]:
    caller = principal(READ_SCOPE)
    return service().list_insights(caller, query(page_params)).to_json()


@app.get(TIMELINE)
def session_timeline(session_id: str) -> dict[str, Any]:
    caller = principal(READ_SCOPE)
    page = service().session_timeline(caller, session_id, query(timeline_params))
    return page.to_json()


# --- errors: all through lucent.http ------------------------------------------------------------


def _response(proxy: dict[str, Any]) -> Reply:
    headers = dict(proxy["headers"])
    content_type = headers.pop("Content-Type")
    return Reply(proxy["statusCode"], proxy["body"], headers, content_type)


def handle_lucent_error(exc: LucentError) -> Reply:
    if exc.status >= 500:
        logger.warning("request failed", extra={"status": exc.status, "error": exc.message})
    return _response(error_response(exc))


@app.not_found
def handle_not_found() -> Reply:
    path = app.current_event.path
    for pattern, allowed in RESOURCES.values():
        if pattern.match(path):
            return _response(error_response(MethodNotAllowed(list(allowed))))
    return _response(error_response(NotFound(NOT_FOUND)))


def handle_unexpected(exc: Exception) -> Reply:
    # ConfigurationError (no authorizer context, no table name) and bugs: a generic 500.
    logger.exception("unhandled error", extra={"error_type": type(exc).__name__})
    metrics.add_metric(name="IssuesInternalError", unit=MetricUnit.Count, value=1)
    return _response(internal_error_response())


app.exception_handler(LucentError)(handle_lucent_error)
app.exception_handler(Exception)(handle_unexpected)


# --- entry point ---------------------------------------------------------------------------------


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
# Responses carry customer data: keep them out of X-Ray metadata.
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = app.resolve(event)
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    status = int(result.get("statusCode", 500))
    # Method, route and caller only: headers (Authorization) and bodies are never logged.
    logger.info(
        "data api request",
        extra={
            "method": event.get("httpMethod"),
            "resource": event.get("resource"),
            "status": status,
            "org_id": authorizer.get("org_id"),
            "credential_id": authorizer.get("credential_id"),
        },
    )
    metrics.add_metric(name=f"Issues{status // 100}xx", unit=MetricUnit.Count, value=1)
    return result
