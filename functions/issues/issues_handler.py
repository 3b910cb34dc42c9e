"""issues function: issues, signals and insights (docs/data-api.md, docs/openapi-data.yaml).

Thin: a route is what API Gateway already matched, the event's ``resource`` and method, looked up
in ``ROUTES`` (template.yaml is the route table; ``tests/unit/test_openapi.py`` holds the two
equal), with its path parameters from the event. ``lucent.issues.service.DataService`` decides,
the pydantic models of ``lucent.issues.models`` validate the request and shape the response, and
every ``LucentError`` becomes a reply through ``lucent.http.Reply.error``, the one mapping.

Order of checks on every route: method (405) -> authorizer context (500 if absent) -> rate limit
(429) and scope (403) -> Content-Type of a body (415) -> parameters and body (400) -> data (404).
Each route validates after its scope check: validation before the routes would give a token
without ``write:issues`` sending a bad body a 400 about the body instead of its 403.
Bodies are read by ``lucent.json_body``, the reader ingest uses. Why pydantic and this routing,
and their cold start: docs/decisions/028-data-api-on-its-models.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ValidationError

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
from lucent.http import Reply, Request
from lucent.issues.models import (
    IssueListParams,
    IssueStatusUpdate,
    PageParams,
    SignalListParams,
    TimelineParams,
)
from lucent.issues.service import DataService
from lucent.issues.store import DataStore
from lucent.observability import get_tracer, logger, metrics
from lucent.ratelimit.bearer import BearerRateLimit
from lucent.ratelimit.limiter import RateLimiter
from lucent.ratelimit.store import RateLimitStore
from lucent.settings import get_settings

BODY_NOT_OBJECT = "Request body must be a JSON object"
JSON_MEDIA_TYPE = "application/json"
_SHOWN_MEDIA_TYPE_CHARS = 100
# The only body (PATCH) is one flat object; 32 levels leave room for bodies to come.
MAX_BODY_DEPTH = 32

tracer = get_tracer()

M = TypeVar("M", bound=BaseModel)
Route = Callable[[Request], BaseModel]


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


def principal(request: Request, scope: str) -> Principal:
    """The caller, from the authorizer context only, holding ``scope`` (else MissingScope)."""
    found = Principal.from_context(request.authorizer)
    if found is None:
        # The route is deployed behind the authorizer: no context means a misconfiguration.
        raise ConfigurationError("authorizer context missing or malformed")
    rate_limit().admit(found)  # every authenticated request counts; 429 before the scope check
    require_scope(found, scope)
    return found


def _validated(model: type[M], data: Mapping[str, Any], where: str) -> M:
    """``data`` as ``model``, or a 400 naming the first field pydantic refuses, in its words."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"])
        raise BadRequest(f"Invalid {where} '{field}': {error['msg']}") from None


def query(request: Request, model: type[M]) -> M:
    return _validated(model, request.query_values(), "query parameter")


def require_json_body(request: Request) -> None:
    """A body is sent as application/json (parameters ignored, any letter case), else 415.

    Called after the scope check: a token that may not write gets its 403 whatever it sends.
    """
    value = json_body.media_type(request.header("content-type"))
    if value is None:
        raise UnsupportedMediaType(f"Missing Content-Type: send {JSON_MEDIA_TYPE}")
    if value != JSON_MEDIA_TYPE:
        shown = value[:_SHOWN_MEDIA_TYPE_CHARS]
        raise UnsupportedMediaType(f"Unsupported content type: {shown}; send {JSON_MEDIA_TYPE}")


def body(request: Request, model: type[M]) -> M:
    raw = request.body
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
    return _validated(model, data, "body field")


# --- routes --------------------------------------------------------------------------------------


def list_issues(request: Request) -> BaseModel:
    caller = principal(request, READ_SCOPE)
    return service().list_issues(caller, query(request, IssueListParams))


def get_issue(request: Request) -> BaseModel:
    caller = principal(request, READ_SCOPE)
    return service().get_issue(caller, request.path_parameters.get("issue_id", ""))


def update_issue(request: Request) -> BaseModel:
    caller = principal(request, WRITE_ISSUES_SCOPE)
    require_json_body(request)
    update = body(request, IssueStatusUpdate)
    issue_id = request.path_parameters.get("issue_id", "")
    issue = service().update_issue_status(caller, issue_id, update.status)
    logger.info(
        "issue status updated",
        extra={"issue_id": issue.id, "status": issue.status.value, "by": caller.credential_id},
    )
    metrics.add_metric(name="IssueStatusUpdated", unit=MetricUnit.Count, value=1)
    return issue


def list_signals(request: Request) -> BaseModel:
    caller = principal(request, READ_SCOPE)
    return service().list_signals(caller, query(request, SignalListParams))


def list_insights(request: Request) -> BaseModel:
    caller = principal(request, READ_SCOPE)
    return service().list_insights(caller, query(request, PageParams))


def session_timeline(request: Request) -> BaseModel:
    caller = principal(request, READ_SCOPE)
    session_id = request.path_parameters.get("session_id", "")
    return service().session_timeline(caller, session_id, query(request, TimelineParams))


# The template's resources of the Data API, each with the methods it answers; any other method
# on one of them (API Gateway sends it here through ANY) is a 405 with that Allow list.
ROUTES: dict[str, dict[str, Route]] = {
    "/api/v1/issues": {"GET": list_issues},
    "/api/v1/issues/{issue_id}": {"GET": get_issue, "PATCH": update_issue},
    "/api/v1/signals": {"GET": list_signals},
    "/api/v1/insights": {"GET": list_insights},
    "/api/v1/sessions/{session_id}/timeline": {"GET": session_timeline},
}


def answer(request: Request) -> Reply:
    """The reply to one request; a typed error is its reply, anything else a generic 500."""
    methods = ROUTES.get(request.resource)
    if methods is None:
        return Reply.error(NotFound(NOT_FOUND))
    route = methods.get(request.method)
    if route is None:
        return Reply.error(MethodNotAllowed(list(methods)))
    try:
        return Reply.json(200, route(request).model_dump(mode="json"))
    except LucentError as exc:
        if exc.status >= 500:
            logger.warning("request failed", extra={"status": exc.status, "error": exc.message})
        return Reply.error(exc)
    except Exception as exc:
        # ConfigurationError (no authorizer context, no table name) and bugs: a generic 500.
        logger.exception("unhandled error", extra={"error_type": type(exc).__name__})
        metrics.add_metric(name="IssuesInternalError", unit=MetricUnit.Count, value=1)
        return Reply.internal_error()


# --- entry point ---------------------------------------------------------------------------------


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
# Responses carry customer data: keep them out of X-Ray metadata.
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = Request.from_event(event)
    reply = answer(request)
    authorizer = request.authorizer or {}
    # Method, route and caller only: headers (Authorization) and bodies are never logged.
    logger.info(
        "data api request",
        extra={
            "method": event.get("httpMethod"),
            "resource": event.get("resource"),
            "status": reply.status,
            "org_id": authorizer.get("org_id"),
            "credential_id": authorizer.get("credential_id"),
        },
    )
    metrics.add_metric(name=f"Issues{reply.status // 100}xx", unit=MetricUnit.Count, value=1)
    return reply.to_proxy()
