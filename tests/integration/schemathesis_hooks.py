"""Schemathesis hooks for tests/integration/test_schemathesis.py (loaded via SCHEMATHESIS_HOOKS).

Two exclusions, each by name and exact answer, and nothing else (docs/decisions/021-schema-unrouted-methods.md):

* a schema-valid request refused only because its ``cursor`` is not one the API issued;
* a method API Gateway does not route (TRACE, QUERY) answered with the API's own
  MISSING_AUTHENTICATION_TOKEN gateway response.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import schemathesis
from schemathesis.openapi.checks import RejectedPositiveData, UnsupportedMethodResponse

from lucent_dev.gateway import ANY_METHODS

INVALID_CURSOR = b'{"error": "Invalid cursor"}'
# template.yaml's MISSING_AUTHENTICATION_TOKEN gateway response, on every API.
GATEWAY_NOT_FOUND = b'{"error": "Not found"}'
GATEWAY_NOT_FOUND_TYPE = "MissingAuthenticationTokenException"


def is_opaque_cursor_refusal(
    failure: Any, query: Mapping[str, Any] | None, status: int, body: bytes
) -> bool:
    """``cursor`` is documented as a string of at most 512 characters because it is opaque: only a
    ``next_cursor`` the same list produced is valid (docs/data-api.md, "Pagination"). A string
    Schemathesis makes up satisfies the schema and is rightly refused with 400 "Invalid cursor",
    which positive_data_acceptance (ST202) reports as a schema-valid request rejected."""
    return (
        isinstance(failure, RejectedPositiveData)
        and "cursor" in (query or {})
        and status == 400
        and body == INVALID_CURSOR
    )


def is_gateway_answer_to_unrouted_method(
    failure: Any, method: str, status: int, body: bytes, error_type: str | None
) -> bool:
    """unsupported_method (ST204) wants 405 with ``Allow`` for every undeclared method. API
    Gateway (REST) routes seven methods (``ANY`` included): any other one, TRACE or QUERY, never
    reaches a function and gets the API's MISSING_AUTHENTICATION_TOKEN gateway response, the same
    404 as an unknown path. Gateway responses are per API, not per resource, so no deployment of
    template.yaml can answer those methods with a per-resource 405 and ``Allow``; declaring them
    in the document would make Schemathesis demand them in ``Allow`` (ST205). Only that exact
    gateway answer to a method outside the seven is dropped: a GET, PUT, POST, DELETE, PATCH or
    OPTIONS that is not answered 405 with ``Allow`` is still a failure."""
    return (
        isinstance(failure, UnsupportedMethodResponse)
        and method not in ANY_METHODS
        and status == 404
        and body == GATEWAY_NOT_FOUND
        and error_type == GATEWAY_NOT_FOUND_TYPE
    )


@schemathesis.hook
def filter_failure(ctx: Any, failure: Any, case: Any, response: Any) -> bool:
    """Drop the two answers above; keep every other failure."""
    method = str(response.request.method or "")
    excused = is_opaque_cursor_refusal(
        failure, case.query, response.status_code, response.content
    ) or is_gateway_answer_to_unrouted_method(
        failure,
        method,
        response.status_code,
        response.content,
        _first(response.headers.get("x-amzn-errortype")),
    )
    return not excused


def _first(values: Any) -> str | None:
    """Schemathesis' response headers map a name to a list of values."""
    if isinstance(values, list | tuple):
        return str(values[0]) if values else None
    return None if values is None else str(values)
