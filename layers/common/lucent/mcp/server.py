"""The MCP endpoint's order of work, from one HTTP request to one HTTP answer (docs/mcp.md).

``POST /mcp``, in this order (each step can end the request, nothing is read or written before
the step that needs it):

1. method: anything but POST is 405 with ``Allow: POST`` (no SSE stream is offered, and there is
   no session to DELETE);
2. ``Origin``: present and not allowed is 403 (DNS-rebinding protection);
3. the bearer token, through the same credential core as the Data API's authorizer: absent,
   unusable or granted for another resource (RFC 8707) is 401 with a challenge naming the
   resource metadata;
4. the per-token rate limit (shared with the Data API): 429 with ``Retry-After``;
5. size, media type and ``Accept``: 413, 415, 406;
6. the JSON-RPC envelope and the revision's rules (``lucent.mcp.protocol``): 400s with JSON-RPC
   errors; notifications are acknowledged (202) and never acted upon;
7. the method: ``initialize``, ``server/discover``, ``ping``, ``tools/list``, ``tools/call``;
   a tool needing a scope the token lacks is 403 with the step-up challenge.

``GET /.well-known/oauth-protected-resource/mcp`` answers the RFC 9728 metadata, without a token.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from lucent.auth.authenticator import Authenticator
from lucent.auth.credentials import Principal
from lucent.contract import (
    INVALID_BEARER_TOKEN,
    KNOWN_SCOPES,
    MCP_BEARER_METHODS,
    MCP_PATH,
    MCP_RESOURCE_METADATA_PATH,
    METHOD_NOT_ALLOWED,
    NOT_FOUND,
    RATE_LIMIT_EXCEEDED,
    READ_SCOPE,
    REQUEST_TOO_LARGE,
    SERVICE_UNAVAILABLE,
    mcp_bearer_challenge,
    mcp_insufficient_scope_challenge,
    missing_scope_message,
)
from lucent.errors import InvalidBearerToken, MissingScope, RateLimited, ServiceUnavailable
from lucent.http import Reply, Request
from lucent.issues.service import DataService
from lucent.mcp import protocol as rpc
from lucent.mcp.tools import DOMAIN_ERRORS, TOOLS_BY_NAME, run_tool, tool_definitions
from lucent.ratelimit.bearer import BearerRateLimit

SERVER_NAME = "lucent"
SERVER_TITLE = "Lucent"
SERVER_VERSION = "1.0.0"
INSTRUCTIONS = (
    "Lucent records user sessions on the web and detects problems in them. Start with "
    "list_issues (open issues first), then get_issue and list_signals for the evidence of one "
    "issue (each signal names a session and a replay timestamp); get_session_timeline tells "
    "what happened in that session around the replay timestamp; list_insights summarises "
    "across issues. update_issue_status needs a token with write:issues. Every tool acts on the "
    "organization of your token."
)
# Tool arguments are a few ids and filters: a body past this is not a legitimate call.
MAX_BODY_BYTES = 64 * 1024
JSON_TYPE = "application/json"
# tools/list is the same for every caller until the next deployment.
TOOLS_LIST_TTL_MS = 300_000


def endpoint(request: Request) -> str:
    """The endpoint a request is for: the route API Gateway matched, else its path (a
    request the gateway did not route answers 404)."""
    matched = request.resource or request.path
    return matched if matched in (MCP_PATH, MCP_RESOURCE_METADATA_PATH) else request.path


def resource_url(request: Request) -> str:
    """This MCP server as the client reaches it: the audience its tokens must name."""
    return request.base_url + MCP_PATH


def resource_metadata_url(request: Request) -> str:
    return request.base_url + MCP_RESOURCE_METADATA_PATH


class Telemetry(Protocol):
    def metric(self, name: str) -> None: ...


class NullTelemetry:
    def metric(self, name: str) -> None:
        return None


@dataclass
class Outcome:
    """What happened, for the handler's one log line (never arguments or tokens)."""

    rpc_method: str | None = None
    tool: str | None = None
    principal: Principal | None = None
    protocol_version: str | None = None
    error: str | None = None


def resource_metadata(request: Request, authorization_server: str = "") -> dict[str, Any]:
    """RFC 9728 protected-resource metadata of this MCP server.

    ``authorization_servers`` names the OAuth issuer: the configured one (a deployed stack
    passes its OAuth API's issuer), else this API's base URL, right wherever the MCP and OAuth APIs answer on
    one origin (the local API). The field is never empty: RFC 9728 allows it, but the official
    Python SDK refuses metadata without an authorization server.
    """
    return {
        "resource": resource_url(request),
        "authorization_servers": [authorization_server or request.base_url],
        "scopes_supported": list(KNOWN_SCOPES),
        "bearer_methods_supported": list(MCP_BEARER_METHODS),
        "resource_name": "Lucent MCP server",
        "resource_documentation": "https://docs.lucenthq.com/mcp",
    }


class McpServer:
    def __init__(
        self,
        authenticator: Authenticator,
        service_factory: Callable[[], DataService],
        rate_limit: BearerRateLimit | None,
        *,
        allowed_origins: frozenset[str] = frozenset(),
        authorization_server: str = "",
        telemetry: Telemetry | None = None,
        retry_after_seconds: int = 5,
    ) -> None:
        self._authenticator = authenticator
        self._service_factory = service_factory
        self._rate_limit = rate_limit
        self._allowed_origins = allowed_origins
        self._authorization_server = authorization_server
        self._telemetry: Telemetry = telemetry or NullTelemetry()
        self._retry_after = retry_after_seconds

    # --- HTTP ---------------------------------------------------------------------------------

    def handle(self, request: Request, outcome: Outcome | None = None) -> Reply:
        outcome = outcome if outcome is not None else Outcome()
        refusal = _route(request, outcome, self._allowed_origins, self._authorization_server)
        if refusal is not None:
            return refusal
        admitted = self._admit(request, outcome)
        if isinstance(admitted, Reply):
            return admitted
        refusal = _refuse_body(request, outcome)
        if refusal is not None:
            return refusal
        return self._rpc(request, request.body or b"", admitted, outcome)

    def _admit(self, request: Request, outcome: Outcome) -> Principal | Reply:
        """The caller, authenticated and within its rate limit; or the answer refusing it."""
        try:
            # The audience too (RFC 8707): an OAuth token granted for another resource is
            # refused here with the same 401 as an unknown one (lucent.auth.audience).
            principal = self._authenticator.authenticate_bearer(
                request.headers.get("authorization"), READ_SCOPE, resource_url(request)
            )
        except InvalidBearerToken:
            outcome.error = "unauthorized"
            challenge = mcp_bearer_challenge(READ_SCOPE, resource_metadata_url(request))
            return Reply.json(401, {"error": INVALID_BEARER_TOKEN}, {"WWW-Authenticate": challenge})
        except ServiceUnavailable as exc:
            outcome.error = "credential_store_unavailable"
            return self._unavailable(exc.retry_after_seconds)
        outcome.principal = principal
        if self._rate_limit is not None:
            try:
                self._rate_limit.admit(principal)
            except RateLimited as exc:
                outcome.error = "rate_limited"
                return Reply.json(
                    429,
                    {"error": RATE_LIMIT_EXCEEDED},
                    {"Retry-After": str(exc.retry_after_seconds)},
                )
        return principal

    def _unavailable(self, retry_after: int | None = None) -> Reply:
        seconds = retry_after or self._retry_after
        return Reply.json(503, {"error": SERVICE_UNAVAILABLE}, {"Retry-After": str(seconds)})

    # --- JSON-RPC -----------------------------------------------------------------------------

    def _rpc(self, request: Request, body: bytes, principal: Principal, outcome: Outcome) -> Reply:
        modern = rpc.is_modern(request.headers)
        message: rpc.Message | None = None
        try:
            message = rpc.parse_message(body)
            outcome.rpc_method = message.method
            rpc.check_routing_headers(request.headers)
            if message.is_notification:
                # Never acted upon, whatever the method says (a "tools/call" without an id
                # included): only the version is checked, as for a request.
                version = request.headers.get(rpc.PROTOCOL_VERSION_HEADER)
                if modern and version not in rpc.MODERN_VERSIONS:
                    raise rpc.unsupported_version(version)
                if not modern:
                    rpc.check_handshake_version(message, request.headers)
                return Reply(202)
            if modern:
                version = rpc.check_modern_envelope(message, request.headers)
            else:
                version = rpc.check_handshake_version(message, request.headers)
            outcome.protocol_version = version
            result = self._dispatch(message, modern=modern, principal=principal, outcome=outcome)
        except rpc.RpcError as error:
            outcome.error = f"rpc_{error.code}"
            status = error.http_status or (
                rpc.ERROR_HTTP_STATUS.get(error.code, 200)
                if modern or message is None
                # The 2025 transports answer method-level errors with 200 (a 4xx with a JSON-RPC
                # body is lost on some of their clients); envelope errors stay 400.
                else (200 if error.code in rpc.METHOD_LEVEL_ERRORS else 400)
            )
            request_id = message.id if message is not None else None
            return Reply.json(status, rpc.error_message(request_id, error))
        except MissingScope as missing:
            outcome.error = "insufficient_scope"
            assert message is not None
            assert message.id is not None
            refusal = rpc.RpcError(
                rpc.INSUFFICIENT_SCOPE,
                missing_scope_message(missing.scope),
                {"required_scope": missing.scope},
            )
            return Reply.json(
                403,
                rpc.error_message(message.id, refusal),
                {
                    "WWW-Authenticate": mcp_insufficient_scope_challenge(
                        missing.scope, resource_metadata_url(request)
                    )
                },
            )
        except ServiceUnavailable as exc:
            outcome.error = "data_unavailable"
            return self._unavailable(exc.retry_after_seconds)
        assert message.id is not None
        return Reply.json(200, rpc.result_message(message.id, result))

    def _dispatch(
        self, message: rpc.Message, *, modern: bool, principal: Principal, outcome: Outcome
    ) -> dict[str, Any]:
        method = message.method
        if method == "initialize" and not modern:
            result: dict[str, Any] = {
                "protocolVersion": rpc.negotiate(message.params.get("protocolVersion")),
                "capabilities": {"tools": {"listChanged": False}},
                "serverInfo": _server_info(),
                "instructions": INSTRUCTIONS,
            }
            return result
        if method == "server/discover" and modern:
            return _modern(
                {
                    "supportedVersions": list(rpc.SUPPORTED_VERSIONS),
                    "capabilities": {"tools": {"listChanged": False}},
                    "instructions": INSTRUCTIONS,
                    "ttlMs": TOOLS_LIST_TTL_MS,
                    "cacheScope": "public",
                }
            )
        if method == "ping" and not modern:
            return {}
        if method == "tools/list":
            tools = {"tools": list(tool_definitions())}
            if not modern:
                return tools
            return _modern({**tools, "ttlMs": TOOLS_LIST_TTL_MS, "cacheScope": "public"})
        if method == "tools/call":
            result = self._call_tool(message, principal, outcome)
            return _modern(result) if modern else result
        raise rpc.RpcError(rpc.METHOD_NOT_FOUND, f"Method not found: {method}")

    def _call_tool(
        self, message: rpc.Message, principal: Principal, outcome: Outcome
    ) -> dict[str, Any]:
        name = message.params.get("name")
        if not isinstance(name, str):
            raise rpc.RpcError(rpc.INVALID_PARAMS, 'Invalid params: "name" must be a string')
        outcome.tool = name[:64]
        tool = TOOLS_BY_NAME.get(name)
        if tool is None:
            raise rpc.RpcError(
                rpc.INVALID_PARAMS,
                f"Unknown tool: {name[:64]!r} (tools: {', '.join(TOOLS_BY_NAME)})",
            )
        arguments = message.params.get("arguments", {})
        if arguments is None:
            arguments = {}
        if not isinstance(arguments, dict):
            raise rpc.RpcError(rpc.INVALID_PARAMS, 'Invalid params: "arguments" must be an object')
        # The scope first, as on the Data API: a read token learns nothing about its arguments.
        if tool.scope not in principal.scopes:
            raise MissingScope(tool.scope)
        try:
            output = run_tool(tool, self._service_factory(), principal, arguments)
        except DOMAIN_ERRORS as exc:
            outcome.error = f"tool_error:{type(exc).__name__}"
            text = exc.message if hasattr(exc, "message") else str(exc)
            return {"content": [{"type": "text", "text": text}], "isError": True}
        self._telemetry.metric("McpToolCall")
        return {
            "content": [{"type": "text", "text": output.text}],
            "structuredContent": output.structured,
            "isError": False,
        }


def _route(
    request: Request,
    outcome: Outcome,
    allowed_origins: frozenset[str],
    authorization_server: str,
) -> Reply | None:
    """The answers that need no caller: metadata, unknown path, 405, refused Origin."""
    path = endpoint(request)
    if path == MCP_RESOURCE_METADATA_PATH:
        if request.method not in ("GET", "HEAD"):
            return _method_not_allowed("GET")
        return Reply.json(
            200,
            resource_metadata(request, authorization_server),
            {"Cache-Control": "public, max-age=3600"},
        )
    if path != MCP_PATH:
        return Reply.json(404, {"error": NOT_FOUND})
    if request.method != "POST":
        return _method_not_allowed("POST")
    origin = request.headers.get("origin")
    if origin is not None and origin.rstrip("/") not in allowed_origins:
        outcome.error = "origin_refused"
        return Reply.json(403, {"error": f"Origin not allowed: {origin[:200]}"})
    return None


def _refuse_body(request: Request, outcome: Outcome) -> Reply | None:
    """413, 415 or 406 for a body this endpoint cannot take or answer; None if it can."""
    if len(request.body or b"") > MAX_BODY_BYTES:
        outcome.error = "too_large"
        return Reply.json(413, {"error": REQUEST_TOO_LARGE})
    content_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if content_type != JSON_TYPE:
        outcome.error = "unsupported_media_type"
        return Reply.json(
            415, {"error": "Unsupported Media Type: Content-Type must be application/json"}
        )
    if not _accepts_json(request.headers.get("accept")):
        outcome.error = "not_acceptable"
        return Reply.json(406, {"error": "Not Acceptable: Accept must include application/json"})
    return None


def _server_info() -> dict[str, str]:
    return {"name": SERVER_NAME, "title": SERVER_TITLE, "version": SERVER_VERSION}


def _modern(result: dict[str, Any]) -> dict[str, Any]:
    """A 2026-07-28 result: tagged complete, stamped with the server's identity."""
    return {**result, "resultType": "complete", "_meta": {rpc.SERVER_INFO_META: _server_info()}}


def _method_not_allowed(allowed: str) -> Reply:
    return Reply.json(405, {"error": METHOD_NOT_ALLOWED}, {"Allow": allowed})


def _accepts_json(accept: str | None) -> bool:
    if not accept:
        return True  # no preference stated: JSON is acceptable (RFC 9110 section 12.5.1)
    for part in accept.split(","):
        media = part.split(";")[0].strip().lower()
        if media in (JSON_TYPE, "application/*", "*/*"):
            return True
    return False
