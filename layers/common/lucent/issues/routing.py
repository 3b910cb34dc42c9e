"""The Data API's routing: the part of Powertools' REST resolver it used, without that package.

Importing ``aws_lambda_powertools.event_handler`` imports every resolver Powertools has (AppSync,
Bedrock, VPC Lattice...) and cost ~25-30 ms of the Data API's cold start for five routes
(docs/performance.md, section 3). This module does what the resolver did for us, with the same
results to the byte:

* a route is a method and a rule; ``<name>`` in a rule matches one path segment of the characters
  the resolver's matched (RFC 3986's unreserved and sub-delimiters, ``:@``, a few unsafe ones and
  word characters), so a path such as ``/api/v1/issues/a"b`` still matches no route; trailing
  slashes are ignored (``/api/v1/issues/`` lists issues);
* the method is compared upper-cased; static rules are tried before rules with parameters;
* a route's ``dict`` is a 200 with the JSON body; an exception goes to the handler registered for
  the nearest class in its MRO; no route goes to the ``not_found`` handler;
* the proxy response has the REST shape: ``statusCode``, ``body``, ``isBase64Encoded`` and
  ``multiValueHeaders``, the response's headers first and ``Content-Type`` last.

``tests/unit/test_issues_routing.py`` holds it to the resolver's answers for a matrix of methods,
paths and failures.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

# Powertools' segment class (event_handler/api_gateway.py, _SAFE_URI + _UNSAFE_URI + \w).
_SEGMENT = r"[-._~()'!*:@,;=+&$%<> \[\]{}|^\w]+"
_PARAMETER = re.compile(r"<(\w+)>")

_Handler = TypeVar("_Handler", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class Reply:
    """A response a route or an error handler gives: the status, the body text, the headers
    (``Content-Type`` among them, or ``content_type``)."""

    status_code: int
    body: str
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str = "application/json"

    def proxy(self) -> dict[str, Any]:
        headers = {name: [value] for name, value in self.headers.items()}
        headers.setdefault("Content-Type", [self.content_type])
        return {
            "statusCode": self.status_code,
            "body": self.body,
            "isBase64Encoded": False,
            "multiValueHeaders": headers,
        }


class Request:
    """The parts of a REST proxy event the routes read."""

    def __init__(self, event: Mapping[str, Any]) -> None:
        self.raw_event = event

    @property
    def path(self) -> str:
        return self.raw_event["path"]  # type: ignore[no-any-return]

    @property
    def http_method(self) -> str:
        return self.raw_event["httpMethod"]  # type: ignore[no-any-return]

    @property
    def query_string_parameters(self) -> dict[str, str]:
        return self.raw_event.get("queryStringParameters") or {}

    @property
    def body(self) -> str | None:
        return self.raw_event.get("body")

    @property
    def is_base64_encoded(self) -> bool | None:
        return self.raw_event.get("isBase64Encoded")


@dataclass(frozen=True, slots=True)
class _Route:
    method: str
    pattern: re.Pattern[str]
    handler: Callable[..., Any]


class Router:
    """Routes REST proxy events to functions; ``current_event`` is the request being routed."""

    def __init__(self, serializer: Callable[[Any], str] = json.dumps) -> None:
        self._serializer = serializer
        self._static: list[_Route] = []
        self._dynamic: list[_Route] = []
        self._error_handlers: dict[type[BaseException], Callable[[Any], Reply]] = {}
        self._not_found: Callable[[], Reply] | None = None
        self._current: Request | None = None

    @property
    def current_event(self) -> Request:
        if self._current is None:
            raise RuntimeError("no request is being routed")
        return self._current

    def route(self, method: str, rule: str) -> Callable[[_Handler], _Handler]:
        named = _PARAMETER.sub(lambda m: f"(?P<{m.group(1)}>{_SEGMENT})", rule)
        pattern = re.compile(f"^{named}/*$")  # trailing slashes allowed, as the REST resolver did

        def register(handler: _Handler) -> _Handler:
            routes = self._dynamic if pattern.groups else self._static
            routes.append(_Route(method.upper(), pattern, handler))
            return handler

        return register

    def get(self, rule: str) -> Callable[[_Handler], _Handler]:
        return self.route("GET", rule)

    def patch(self, rule: str) -> Callable[[_Handler], _Handler]:
        return self.route("PATCH", rule)

    def not_found(self, handler: Callable[[], Reply]) -> Callable[[], Reply]:
        self._not_found = handler
        return handler

    def exception_handler(
        self, error: type[BaseException]
    ) -> Callable[[Callable[[Any], Reply]], Callable[[Any], Reply]]:
        def register(handler: Callable[[Any], Reply]) -> Callable[[Any], Reply]:
            self._error_handlers[error] = handler
            return handler

        return register

    def resolve(self, event: Mapping[str, Any]) -> dict[str, Any]:
        self._current = request = Request(event)
        try:
            return self._reply(request).proxy()
        finally:
            self._current = None

    def _reply(self, request: Request) -> Reply:
        # As the resolver: matching and serialising happen outside the error handlers; only the
        # route's (or not_found's) own code is inside.
        method = request.http_method.upper()
        path = request.path
        for route in (*self._static, *self._dynamic):  # static rules first, each in order
            if route.method != method:
                continue
            match = route.pattern.match(path)
            if match:
                result = self._handled(route.handler, **match.groupdict())
                if isinstance(result, Reply):
                    return result
                return Reply(200, self._serializer(result))
        not_found = self._not_found
        if not_found is None:
            raise RuntimeError("the router has no not_found handler")
        return self._handled(not_found)  # type: ignore[no-any-return]

    def _handled(self, call: Callable[..., Any], **arguments: str) -> Any:
        try:
            return call(**arguments)
        except Exception as exc:
            for cls in type(exc).__mro__:  # the handler of the nearest class
                handler = self._error_handlers.get(cls)
                if handler is not None:
                    return handler(exc)
            raise
