"""API Gateway (REST, v1) behaviour, as read from template.yaml, for the local API and tests.

What it reproduces: route matching (exact method, then ANY), the REQUEST authorizer with its
policy and context, gateway responses (status, static headers, body template), binaryMediaTypes
and base64 bodies, the 10 MB request limit and Lambda's 6 MB event limit, and unknown routes.
What it does not: stage throttling, usage plans, custom domains.

A request comes in as an ``HttpRequest`` (raw body bytes, repeated headers kept); every answer,
a function's or the gateway's own, is the one reply type, ``lucent.http.Reply``.
"""

from __future__ import annotations

import base64
import fnmatch
import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from lucent.http import Reply
from lucent_dev import template as tpl

MAX_REQUEST_BYTES = 10 * 1024 * 1024  # API Gateway REST payload quota
MAX_LAMBDA_EVENT_BYTES = 6 * 1024 * 1024  # synchronous Invoke request limit (6,291,456 bytes)
ACCOUNT_ID = "123456789012"
# What an ANY method of a REST API stands for: the HTTP methods API Gateway supports.
ANY_METHODS = frozenset({"DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"})

# API Gateway's own answers where a response type is not customised in the template.
DEFAULT_RESPONSES: Mapping[str, tuple[int, str]] = {
    "UNAUTHORIZED": (401, '{"message":"Unauthorized"}'),
    "ACCESS_DENIED": (
        403,
        '{"Message":"User is not authorized to access this resource with an explicit deny"}',
    ),
    "AUTHORIZER_CONFIGURATION_ERROR": (500, '{"message": null}'),
    "AUTHORIZER_FAILURE": (500, '{"message": null}'),
    "MISSING_AUTHENTICATION_TOKEN": (403, '{"message":"Missing Authentication Token"}'),
    "REQUEST_TOO_LARGE": (413, '{"message":"Request Too Long"}'),
    "INTEGRATION_FAILURE": (502, '{"message": "Internal server error"}'),
}
_MESSAGES = {
    "UNAUTHORIZED": "Unauthorized",
    "ACCESS_DENIED": "User is not authorized to access this resource with an explicit deny",
    "MISSING_AUTHENTICATION_TOKEN": "Missing Authentication Token",
    "REQUEST_TOO_LARGE": "Request Too Long",
    "INTEGRATION_FAILURE": "Internal server error",
}
_FAMILY = {  # which DEFAULT_* a response type inherits from
    "AUTHORIZER_CONFIGURATION_ERROR": "DEFAULT_5XX",
    "AUTHORIZER_FAILURE": "DEFAULT_5XX",
    "INTEGRATION_FAILURE": "DEFAULT_5XX",
}


@dataclass
class HttpRequest:
    method: str
    path: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    query: str = ""
    body: bytes = b""
    source_ip: str = "127.0.0.1"


class Gateway:
    """Serves HTTP requests the way the deployed REST APIs would, calling handlers in-process."""

    def __init__(
        self,
        handlers: Mapping[str, Callable[[dict[str, Any], Any], Any]],
        template: Mapping[str, Any] | None = None,
        stage: str = "local",
        region: str = "us-east-1",
    ) -> None:
        self.template = template or tpl.load_template()
        self.apis = tpl.apis(self.template)
        self.routes = tpl.routes(self.template)
        self.handlers = handlers
        self.stage = stage
        self.region = region

    # --- routing ---------------------------------------------------------------------------

    def match(self, method: str, path: str) -> tuple[tpl.Route | None, dict[str, str], str]:
        """The route for a request, its path parameters, and the API that answers.

        Methods are compared exactly (HTTP methods are case-sensitive: ``post`` is not ``POST``);
        ``ANY`` takes the seven methods API Gateway routes (``ANY_METHODS``), not ``TRACE``,
        ``FOO`` or ``post``: those match no route, whatever the path.
        """
        candidates = [(r, m) for r in self.routes if (m := r.pattern.match(path))]
        api = self._api_for(path, candidates)
        if not candidates:
            return None, {}, api
        # API Gateway prefers a literal path over a templated one, then the exact method over ANY.
        candidates.sort(key=lambda c: (c[0].path.count("{"), c[0].method == "ANY"))
        for route, found in candidates:
            if route.method == method or (route.method == "ANY" and method in ANY_METHODS):
                return route, found.groupdict(), route.api
        return None, {}, api

    def api_for(self, path: str) -> str:
        """The API whose gateway responses answer for ``path``, whatever the method."""
        return self._api_for(path, [(r, m) for r in self.routes if (m := r.pattern.match(path))])

    def _api_for(self, path: str, candidates: list[tuple[tpl.Route, Any]]) -> str:
        if candidates:
            return candidates[0][0].api

        def shared(route: tpl.Route) -> int:
            n = 0
            for a, b in zip(route.path, path, strict=False):
                if a != b:
                    break
                n += 1
            return n

        return max(self.routes, key=shared).api

    # --- gateway responses -----------------------------------------------------------------

    def gateway_response(
        self, api: str, kind: str, context: Mapping[str, Any] | None = None
    ) -> Reply:
        spec = self.apis[api].gateway_responses
        default_status, default_body = DEFAULT_RESPONSES.get(kind, (500, '{"message": null}'))
        family = _FAMILY.get(kind) or ("DEFAULT_5XX" if default_status >= 500 else "DEFAULT_4XX")
        own = spec.get(kind)
        inherited = spec.get(family)
        status = (own.status if own and own.status else None) or default_status
        headers: dict[str, str] = {"Content-Type": "application/json"}
        body = default_body
        # Customised types do not inherit DEFAULT_* headers (platform-facts.md): only one applies.
        chosen = own or inherited
        if chosen is not None:
            headers.update(chosen.headers)
            if chosen.template is not None:
                body = _render(chosen.template, _MESSAGES.get(kind, ""), context or {})
        headers["x-amzn-ErrorType"] = _error_type(kind)
        return Reply(status, headers, body)

    def malformed_request(self, path: str, status: int, message: str) -> Reply:
        """The answer to a request the HTTP layer cannot take (bad framing, bad request line...).

        API Gateway never sees such a request (its front door refuses it); locally it gets the
        documented error shape all the same: the API's DEFAULT_4XX gateway response, its static
        headers (the ingest API's CORS headers) and its body template with ``message`` as
        ``$context.error.messageString``. DEFAULT_4XX even for a 505: the fault is the
        client's, and DEFAULT_5XX's fixed body would hide the message. ``message`` must not
        echo the request.
        """
        spec = self.apis[self.api_for(path)].gateway_responses.get("DEFAULT_4XX")
        headers: dict[str, str] = {"Content-Type": "application/json"}
        body = json.dumps({"error": message})
        if spec is not None:
            headers.update(spec.headers)
            if spec.template is not None:
                body = _render(spec.template, message, {})
        return Reply(status, headers, body)

    # --- requests --------------------------------------------------------------------------

    def handle(self, request: HttpRequest) -> Reply:
        """What the API answers to ``request``."""
        return self.serve(request)[0]

    def serve(self, request: HttpRequest) -> tuple[Reply, str]:
        """The answer and who gave it, for the local API's log line and for tests: "function"
        or the gateway response type that answered instead (such as "ACCESS_DENIED")."""
        route, path_params, api = self.match(request.method, request.path)
        if route is None:
            return self._gateway(api, "MISSING_AUTHENTICATION_TOKEN")
        if len(request.body) > MAX_REQUEST_BYTES:
            return self._gateway(api, "REQUEST_TOO_LARGE")
        request_id = str(uuid.uuid4())
        authorizer_context: dict[str, Any] | None = None
        if route.authorized:
            outcome = self._authorize(route, request, path_params, request_id)
            if isinstance(outcome, tuple):
                return outcome
            authorizer_context = outcome
        event = self.proxy_event(route, request, path_params, request_id, authorizer_context)
        if len(json.dumps(event)) > MAX_LAMBDA_EVENT_BYTES:
            # Lambda refuses the invoke; API Gateway answers 413 (reported, docs/limits.md).
            return self._gateway(api, "REQUEST_TOO_LARGE")
        try:
            result = self.handlers[route.function](event, LocalContext(route.function))
            return reply_from_proxy(result), "function"
        except Exception:  # a crashed or malformed function: API Gateway answers 502
            return self._gateway(api, "INTEGRATION_FAILURE")

    def _gateway(
        self, api: str, kind: str, context: Mapping[str, Any] | None = None
    ) -> tuple[Reply, str]:
        return self.gateway_response(api, kind, context), kind

    def _authorize(
        self,
        route: tpl.Route,
        request: HttpRequest,
        path_params: dict[str, str],
        request_id: str,
    ) -> dict[str, Any] | tuple[Reply, str]:
        api = self.apis[route.api]
        assert api.authorizer_function is not None
        event = self.authorizer_event(route, request, path_params, request_id)
        try:
            output = self.handlers[api.authorizer_function](event, LocalContext("authorizer"))
        except Exception as exc:
            kind = (
                "UNAUTHORIZED" if str(exc) == "Unauthorized" else "AUTHORIZER_CONFIGURATION_ERROR"
            )
            return self._gateway(route.api, kind)
        try:
            effect, context = _evaluate_policy(output, event["methodArn"])
        except (KeyError, TypeError, ValueError):
            return self._gateway(route.api, "AUTHORIZER_CONFIGURATION_ERROR")
        if effect != "Allow":
            return self._gateway(route.api, "ACCESS_DENIED", context)
        return context

    # --- events ----------------------------------------------------------------------------

    def method_arn(self, route: tpl.Route, request: HttpRequest) -> str:
        api_id = route.api.lower()
        return (
            f"arn:aws:execute-api:{self.region}:{ACCOUNT_ID}:{api_id}/{self.stage}/"
            f"{request.method}{request.path}"
        )

    def _request_parts(self, request: HttpRequest) -> dict[str, Any]:
        headers: dict[str, str] = {}
        multi_headers: dict[str, list[str]] = {}
        for name, value in request.headers:
            headers[name] = value
            multi_headers.setdefault(name, []).append(value)
        query: dict[str, str] = {}
        multi_query: dict[str, list[str]] = {}
        for name, value in parse_qsl(request.query, keep_blank_values=True):
            query[name] = value
            multi_query.setdefault(name, []).append(value)
        return {
            "headers": headers,
            "multiValueHeaders": multi_headers,
            "queryStringParameters": query or None,
            "multiValueQueryStringParameters": multi_query or None,
        }

    def _request_context(
        self, route: tpl.Route, request: HttpRequest, request_id: str
    ) -> dict[str, Any]:
        now = time.time()
        return {
            "resourceId": "local",
            "resourcePath": route.path,
            "httpMethod": request.method,
            "extendedRequestId": request_id,
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "path": f"/{self.stage}{request.path}",
            "accountId": ACCOUNT_ID,
            "protocol": "HTTP/1.1",
            "stage": self.stage,
            "domainPrefix": "localhost",
            "requestTimeEpoch": int(now * 1000),
            "requestId": request_id,
            "identity": {
                "sourceIp": request.source_ip,
                "userAgent": _header(request, "user-agent"),
            },
            "domainName": "localhost",
            "apiId": route.api.lower(),
        }

    def authorizer_event(
        self, route: tpl.Route, request: HttpRequest, path_params: dict[str, str], request_id: str
    ) -> dict[str, Any]:
        return {
            "type": "REQUEST",
            "methodArn": self.method_arn(route, request),
            "resource": route.path,
            "path": request.path,
            "httpMethod": request.method,
            **self._request_parts(request),
            "pathParameters": path_params or {},
            "stageVariables": {},
            "requestContext": self._request_context(route, request, request_id),
        }

    def proxy_event(
        self,
        route: tpl.Route,
        request: HttpRequest,
        path_params: dict[str, str],
        request_id: str,
        authorizer_context: dict[str, Any] | None,
    ) -> dict[str, Any]:
        context = self._request_context(route, request, request_id)
        if authorizer_context is not None:
            context["authorizer"] = authorizer_context
        is_binary = self._is_binary(route.api, _header(request, "content-type"))
        if not request.body:
            body: str | None = None
        elif is_binary:
            body = base64.b64encode(request.body).decode("ascii")
        else:
            # Treated as UTF-8 text, as API Gateway does: non-UTF-8 bytes do not survive.
            body = request.body.decode("utf-8", errors="replace")
        return {
            "resource": route.path,
            "path": request.path,
            "httpMethod": request.method,
            **self._request_parts(request),
            "pathParameters": path_params or None,
            "stageVariables": None,
            "requestContext": context,
            "body": body,
            "isBase64Encoded": bool(body) and is_binary,
        }

    def _is_binary(self, api: str, content_type: str | None) -> bool:
        if not content_type:
            return False
        media_type = content_type.split(";", 1)[0].strip().lower()
        return any(
            fnmatch.fnmatch(media_type, pattern) for pattern in self.apis[api].binary_media_types
        )


class LocalContext:
    """The parts of a Lambda context object that Powertools reads."""

    def __init__(self, function_name: str) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = (
            f"arn:aws:lambda:us-east-1:{ACCOUNT_ID}:function:{function_name}"
        )
        self.memory_limit_in_mb = 512
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def _header(request: HttpRequest, name: str) -> str | None:
    for key, value in reversed(request.headers):
        if key.lower() == name:
            return value
    return None


def _error_type(kind: str) -> str:
    return {
        "UNAUTHORIZED": "UnauthorizedException",
        "ACCESS_DENIED": "AccessDeniedException",
        "MISSING_AUTHENTICATION_TOKEN": "MissingAuthenticationTokenException",
        "REQUEST_TOO_LARGE": "RequestTooLargeException",
    }.get(
        kind,
        "AuthorizerConfigurationException"
        if kind.startswith("AUTHORIZER")
        else "InternalServerErrorException",
    )


def _render(template_body: str, message: str, context: Mapping[str, Any]) -> str:
    """Gateway response templates are not VTL: only plain ``$context`` substitution happens."""
    out = template_body.replace("$context.error.messageString", json.dumps(message))
    out = out.replace("$context.error.message", message)
    for key, value in context.items():
        out = out.replace(f"$context.authorizer.{key}", str(value))
    return out


def _evaluate_policy(output: Any, method_arn: str) -> tuple[str, dict[str, Any]]:
    """Allow only if an Allow statement covers the method ARN and no Deny does."""
    if not isinstance(output, dict) or "principalId" not in output:
        raise ValueError("authorizer output needs principalId and policyDocument")
    statements = output["policyDocument"]["Statement"]
    allowed = denied = False
    for statement in statements:
        resources = statement["Resource"]
        resources = [resources] if isinstance(resources, str) else resources
        if any(fnmatch.fnmatchcase(method_arn, pattern) for pattern in resources):
            if statement["Effect"] == "Deny":
                denied = True
            elif statement["Effect"] == "Allow":
                allowed = True
    # API Gateway hands context values to the integration as strings.
    context: dict[str, Any] = {k: str(v) for k, v in (output.get("context") or {}).items()}
    context["principalId"] = str(output["principalId"])
    return ("Allow" if allowed and not denied else "Deny"), context


def reply_from_proxy(result: Any) -> Reply:
    """A function's proxy response as the answer API Gateway sends: ``multiValueHeaders`` joined
    into one header each, a base64 body decoded (``body_bytes`` gives back its exact bytes)."""
    if not isinstance(result, dict) or "statusCode" not in result:
        raise ValueError("malformed Lambda proxy response")
    headers = {str(k): str(v) for k, v in (result.get("headers") or {}).items()}
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers[str(name)] = ", ".join(str(v) for v in values)
    body = result.get("body") or ""
    if result.get("isBase64Encoded"):
        # Any bytes, held in the text body: each byte that is not UTF-8 as a lone surrogate.
        text = base64.b64decode(body).decode("utf-8", "surrogateescape")
    else:
        text = str(body)
        text.encode("utf-8")  # a body that cannot be sent is the function's fault (502)
    return Reply(int(result["statusCode"]), headers, text)


def body_bytes(reply: Reply) -> bytes:
    """The bytes of a reply's body on the wire (UTF-8; a decoded base64 body, exactly)."""
    return reply.body.encode("utf-8", "surrogateescape")
