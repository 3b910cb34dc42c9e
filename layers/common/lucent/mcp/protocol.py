"""MCP over Streamable HTTP, as far as this server needs it: JSON-RPC 2.0 envelopes, protocol
revisions and the transport's header rules (docs/mcp.md). Pure: no I/O, no AWS.

Two eras share the one endpoint, told apart by the ``MCP-Protocol-Version`` header (as the
official SDKs route):

* **2026-07-28** (modern): every request stands alone. ``params._meta`` carries the protocol
  version and client capabilities; ``MCP-Protocol-Version``, ``Mcp-Method`` and (for
  ``tools/call``) ``Mcp-Name`` must repeat the body (else -32020, HTTP 400); ``server/discover``
  tells a client what is served; an unserved version is -32022 naming the supported ones.
* **2025-11-25 and 2025-06-18** (handshake): ``initialize`` negotiates, later requests repeat the
  version in ``MCP-Protocol-Version``; an unsupported one is a 400. Stateless here: no
  ``Mcp-Session-Id`` is ever issued, so nothing needs to be remembered between invocations.

Batches (arrays), posted responses and malformed envelopes are -32600 with ``id: null``; bodies
that are not the strict JSON every API reads (``lucent.json_body``: no duplicate key, no ``NaN``,
at most ``MAX_JSON_DEPTH`` levels) are -32700, so the message validated is the message every
reader sees (``json.loads`` kept the last of two ``"name"`` members and ran that tool).
Notifications are acknowledged with 202 and never acted upon.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lucent import json_body
from lucent.http import Headers

# --- revisions -----------------------------------------------------------------------------------

MODERN_VERSIONS = ("2026-07-28",)
HANDSHAKE_VERSIONS = ("2025-11-25", "2025-06-18")
SUPPORTED_VERSIONS = (*MODERN_VERSIONS, *HANDSHAKE_VERSIONS)
LATEST_HANDSHAKE_VERSION = HANDSHAKE_VERSIONS[0]
# Revisions negotiated by ``initialize``: a header naming one of them takes the handshake path,
# where the older two are refused; any other value is the modern path's to judge (-32022).
HANDSHAKE_ERA = ("2024-11-05", "2025-03-26", *HANDSHAKE_VERSIONS)

# --- JSON-RPC error codes ------------------------------------------------------------------------

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
HEADER_MISMATCH = -32020  # 2026-07-28: headers disagree with the body, or are missing
UNSUPPORTED_PROTOCOL_VERSION = -32022  # 2026-07-28
# Implementation-defined (-32000..-32019): the HTTP 403/401/429 answers also carry a JSON-RPC
# error when the request's id is known, so that SDK clients surface a readable message.
INSUFFICIENT_SCOPE = -32003
UNAUTHORIZED = -32001
RATE_LIMITED = -32005

# HTTP status of each transport-level error, as the specification and the official SDKs map them.
ERROR_HTTP_STATUS: Mapping[int, int] = {
    PARSE_ERROR: 400,
    INVALID_REQUEST: 400,
    INVALID_PARAMS: 400,
    HEADER_MISMATCH: 400,
    UNSUPPORTED_PROTOCOL_VERSION: 400,
    METHOD_NOT_FOUND: 404,
}

# Errors about the method or its params rather than the envelope: the 2025 transports answer them
# with HTTP 200 and the JSON-RPC error.
METHOD_LEVEL_ERRORS = frozenset({METHOD_NOT_FOUND, INVALID_PARAMS, INTERNAL_ERROR})

# --- headers and _meta keys ----------------------------------------------------------------------

PROTOCOL_VERSION_HEADER = "mcp-protocol-version"
METHOD_HEADER = "mcp-method"
NAME_HEADER = "mcp-name"
SESSION_HEADER = "mcp-session-id"
ROUTING_HEADERS = (PROTOCOL_VERSION_HEADER, METHOD_HEADER, NAME_HEADER)
PROTOCOL_VERSION_META = "io.modelcontextprotocol/protocolVersion"
CLIENT_CAPABILITIES_META = "io.modelcontextprotocol/clientCapabilities"
CLIENT_INFO_META = "io.modelcontextprotocol/clientInfo"
SERVER_INFO_META = "io.modelcontextprotocol/serverInfo"
# Methods whose target is repeated in Mcp-Name, and the params member it repeats.
NAME_BEARING = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}

RequestId = str | int

# An envelope, params, _meta and client capabilities a few levels deep: 32 levels (the Data API's
# bound) leaves room for any capability object a client sends.
MAX_JSON_DEPTH = 32
PARSE_ERROR_MESSAGE = "Parse error"


class RpcError(Exception):
    """A JSON-RPC error for the request (or for no request: ``id`` null)."""

    def __init__(
        self, code: int, message: str, data: Any = None, *, http_status: int | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data
        self.http_status = http_status

    def error_object(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


def error_message(request_id: RequestId | None, error: RpcError) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": error.error_object()}


def result_message(request_id: RequestId, result: Mapping[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "result": dict(result)}


def unsupported_version(requested: Any) -> RpcError:
    return RpcError(
        UNSUPPORTED_PROTOCOL_VERSION,
        "Unsupported protocol version",
        {"supported": list(SUPPORTED_VERSIONS), "requested": requested},
    )


def parse_error_message(exc: json_body.InvalidJson) -> str:
    """-32700's message: JSON-RPC's "Parse error", naming the duplicate key or the depth (what
    the reader names on ingest and the Data API too); a syntax error stays "Parse error"."""
    if exc.reason == json_body.INVALID_JSON:
        return PARSE_ERROR_MESSAGE
    detail = exc.message.removeprefix(json_body.NOT_JSON).removeprefix(": ")
    return f"{PARSE_ERROR_MESSAGE}: {detail}"


# --- messages ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Message:
    """One decoded JSON-RPC request (``id`` set) or notification (``id`` None)."""

    method: str
    params: Mapping[str, Any]
    id: RequestId | None
    is_notification: bool


def parse_message(body: bytes | str) -> Message:
    """The single JSON-RPC request or notification of a POST body; RpcError otherwise."""
    try:
        decoded = json_body.loads(body, max_depth=MAX_JSON_DEPTH)
    except json_body.InvalidJson as exc:
        raise RpcError(PARSE_ERROR, parse_error_message(exc)) from exc
    if isinstance(decoded, list):
        raise RpcError(
            INVALID_REQUEST, "Batch requests are not supported: send one JSON-RPC message per POST"
        )
    if not isinstance(decoded, dict):
        raise RpcError(INVALID_REQUEST, "Body must be a single JSON-RPC request object")
    if "method" not in decoded and ("result" in decoded or "error" in decoded):
        raise RpcError(
            INVALID_REQUEST, "This server sends no requests: a JSON-RPC response is not expected"
        )
    if decoded.get("jsonrpc") != "2.0":
        raise RpcError(INVALID_REQUEST, 'Invalid request: "jsonrpc" must be "2.0"')
    method = decoded.get("method")
    if not isinstance(method, str) or not method:
        raise RpcError(INVALID_REQUEST, 'Invalid request: "method" must be a non-empty string')
    params = decoded.get("params", {})
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise RpcError(INVALID_REQUEST, 'Invalid request: "params" must be an object')
    if "id" not in decoded:
        return Message(method, params, None, is_notification=True)
    request_id = decoded["id"]
    # MCP narrows JSON-RPC: ids are strings or integers, never null (nor booleans or floats).
    if isinstance(request_id, bool) or not isinstance(request_id, str | int):
        raise RpcError(INVALID_REQUEST, 'Invalid request: "id" must be a string or an integer')
    return Message(method, params, request_id, is_notification=False)


# --- headers -------------------------------------------------------------------------------------


def check_routing_headers(headers: Headers) -> None:
    """Before routing by version: a repeated routing header is refused in either era (the
    version that routes must be the one every later reader sees)."""
    repeated = headers.repeated(ROUTING_HEADERS)
    if repeated is not None:
        raise RpcError(HEADER_MISMATCH, f"{repeated} header appears more than once")


def is_modern(headers: Headers) -> bool:
    """Whether the request takes the 2026-07-28 path (any version header outside the
    handshake era, so that the modern ladder can refuse it with -32022 and the versions served)."""
    version = headers.get(PROTOCOL_VERSION_HEADER)
    return version is not None and version not in HANDSHAKE_ERA


def check_modern_envelope(message: Message, headers: Headers) -> str:
    """The 2026-07-28 checks, in the specification's order; the protocol version on success."""
    meta = message.params.get("_meta")
    if not isinstance(meta, dict):
        raise RpcError(
            INVALID_PARAMS,
            f"params._meta must be an object carrying {PROTOCOL_VERSION_META!r} and "
            f"{CLIENT_CAPABILITIES_META!r}",
        )
    missing = [k for k in (PROTOCOL_VERSION_META, CLIENT_CAPABILITIES_META) if k not in meta]
    if missing:
        raise RpcError(
            INVALID_PARAMS, f"params._meta is missing the required key(s): {', '.join(missing)}"
        )
    version = meta[PROTOCOL_VERSION_META]
    if headers.get(PROTOCOL_VERSION_HEADER) != version:
        raise RpcError(
            HEADER_MISMATCH,
            "MCP-Protocol-Version header does not match params._meta's protocol version",
        )
    if headers.get(METHOD_HEADER) != message.method:
        raise RpcError(HEADER_MISMATCH, "Mcp-Method header does not match the request's method")
    name_key = NAME_BEARING.get(message.method)
    if name_key is not None:
        body_value = message.params.get(name_key)
        if body_value is not None and headers.get(NAME_HEADER) != body_value:
            raise RpcError(
                HEADER_MISMATCH, f"Mcp-Name header does not match the request's {name_key!r}"
            )
    if version not in MODERN_VERSIONS:
        raise unsupported_version(version)
    return str(version)


def check_handshake_version(message: Message, headers: Headers) -> str:
    """The 2025 rules: the version header of a non-initialize request must be one we serve.

    Absent, the specification says to assume 2025-03-26; this server answers such a request
    with the 2025-06-18 shapes rather than refuse it (tool results only gained optional members
    since), which keeps curl-by-hand working. A header we do not serve is a 400.
    """
    version = headers.get(PROTOCOL_VERSION_HEADER)
    if message.method == "initialize" or version is None:
        return version or HANDSHAKE_VERSIONS[-1]
    if version not in HANDSHAKE_VERSIONS:
        raise RpcError(
            INVALID_REQUEST,
            f"Bad Request: unsupported MCP-Protocol-Version {version!r} "
            f"(supported: {', '.join(SUPPORTED_VERSIONS)})",
            http_status=400,
        )
    return version


def negotiate(requested: Any) -> str:
    """``initialize``: the client's version when served, else the newest we speak (the client
    then decides whether to continue)."""
    return requested if requested in HANDSHAKE_VERSIONS else LATEST_HANDSHAKE_VERSION
