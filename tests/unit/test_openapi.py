"""docs/openapi-data.yaml against reality: a valid OpenAPI 3.1 document whose routes are the
template's, whose schemas are the pydantic models', whose 401/429/503 answers are the gateway
responses of template.yaml, and which every answer the function gives validates against."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator, FormatChecker
from openapi_spec_validator import validate as validate_spec
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from lucent.auth.credentials import CredentialKind
from lucent.contract import READ_SCOPE, WRITE_ISSUES_SCOPE
from lucent.errors import InvalidBearerToken, MissingScope
from lucent.issues import models as m
from lucent_dev import demo_data
from lucent_dev import template as tpl
from tests.conftest import load_function
from tests.unit.test_issues_handler import (
    OAUTH_WRITE_ONLY_A,
    ORG_A,
    ORG_B,
    READ_A,
    UNKNOWN_ISSUE,
    WRITE_A,
    Result,
    invoke,
    issue_path,
    principal_for,
)

DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "openapi-data.yaml"
DOC = yaml.safe_load(DOC_PATH.read_text(encoding="utf-8"))
DOC_URI = "urn:lucent:openapi-data"
REGISTRY: Registry[Any] = Registry().with_resource(DOC_URI, DRAFT202012.create_resource(DOC))
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def pointer(*parts: str) -> str:
    return "/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def resolve(node: dict[str, Any], where: str) -> tuple[dict[str, Any], str]:
    """Follow local ``$ref``s; returns the object and its JSON pointer in the document."""
    while "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), ref
        where = ref[1:]
        node = DOC
        for part in where.strip("/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
    return node, where


def validate_body(schema_pointer: str, body: Any) -> None:
    validator = Draft202012Validator(
        {"$ref": f"{DOC_URI}#{schema_pointer}"}, registry=REGISTRY, format_checker=FormatChecker()
    )
    errors = sorted(validator.iter_errors(body), key=str)
    assert not errors, [e.message for e in errors]


def documented_response(path: str, method: str, status: int) -> tuple[dict[str, Any], str]:
    item = DOC["paths"][path]
    if method.lower() not in item:
        assert status == 405, f"{method} {path} is not documented but answered {status}"
        ref = item["x-method-not-allowed"]["response"]
        return resolve({"$ref": ref}, "")
    responses = item[method.lower()]["responses"]
    assert str(status) in responses, f"{method} {path} answered {status}, not documented"
    return resolve(
        responses[str(status)], pointer("paths", path, method.lower(), "responses", str(status))
    )


def check_against_document(path: str, method: str, result: Result) -> None:
    response, where = documented_response(path, method, result.status)
    content = response["content"]["application/json"]
    assert result.headers["Content-Type"] == "application/json"
    if "$ref" in content["schema"]:
        schema_pointer = content["schema"]["$ref"][1:]
    else:
        schema_pointer = where + pointer("content", "application/json", "schema")
    validate_body(schema_pointer, result.json())
    for name, declared in response.get("headers", {}).items():
        header, _ = resolve(declared, "")
        if header.get("required"):
            assert name in result.headers, f"{name} missing on {method} {path} {result.status}"
            Draft202012Validator(header["schema"]).validate(result.headers[name])


# --- the document itself -------------------------------------------------------------------------


def test_document_is_valid_openapi_3_1() -> None:
    assert DOC["openapi"].startswith("3.1")
    validate_spec(DOC)


def test_routes_are_the_templates_data_routes() -> None:
    routes = [r for r in tpl.routes() if r.api == "DataApi"]
    assert routes
    assert all(r.function == "IssuesFunction" and r.authorized for r in routes)
    template_ops = {(r.path, r.method) for r in routes if r.method != "ANY"}
    documented = {
        (path, method.upper())
        for path, item in DOC["paths"].items()
        for method in HTTP_METHODS
        if method in item
    }
    assert documented == template_ops
    # every path sends other methods to the function (ANY), and documents the 405 it gets
    assert {r.path for r in routes if r.method == "ANY"} == set(DOC["paths"])
    for item in DOC["paths"].values():
        allowed = [m.upper() for m in HTTP_METHODS if m in item]
        assert item["x-method-not-allowed"]["allow"] == allowed


def test_the_handlers_allow_lists_match_the_document() -> None:
    load_function("IssuesFunction")
    module = sys.modules["lucent_fn_IssuesFunction"]
    allow = {path: list(methods) for path, methods in module.ROUTES.items()}
    assert allow == {p: i["x-method-not-allowed"]["allow"] for p, i in DOC["paths"].items()}


def test_each_operation_names_its_scope() -> None:
    for path, item in DOC["paths"].items():
        for method in HTTP_METHODS:
            if method not in item:
                continue
            op = item[method]
            scope = READ_SCOPE if method == "get" else WRITE_ISSUES_SCOPE
            assert op["security"] == [{"bearerAuth": [scope]}], (path, method)
            for status in ("401", "403", "429", "500", "503"):
                assert status in op["responses"], (path, method, status)
            kind = "Read" if scope == READ_SCOPE else "Write"
            assert op["responses"]["401"]["$ref"].endswith(f"/Unauthorized{kind}")
            assert op["responses"]["403"]["$ref"].endswith(f"/Forbidden{kind}")
            if "{issue_id}" in path:
                assert "404" in op["responses"]
            if op.get("parameters") or op.get("requestBody"):
                assert "400" in op["responses"]
            if op.get("requestBody"):  # a body in another media type is a 415
                assert list(op["requestBody"]["content"]) == ["application/json"]
                assert op["responses"]["415"]["$ref"].endswith("/UnsupportedMediaType")


def _example(name: str) -> Any:
    return DOC["components"]["responses"][name]["content"]["application/json"]["example"]


def _header_const(name: str, header: str) -> str:
    spec, _ = resolve(DOC["components"]["responses"][name]["headers"][header], "")
    return str(spec["schema"]["const"])


def test_gateway_answers_are_documented_as_template_yaml_sends_them() -> None:
    """401/429/503 come from API Gateway, not the function: compare with the template."""
    responses = tpl.apis()["DataApi"].gateway_responses
    pairs = {
        "UNAUTHORIZED": "UnauthorizedRead",
        "ACCESS_DENIED": "UnauthorizedWrite",
        "THROTTLED": "TooManyRequests",
        "AUTHORIZER_FAILURE": "ServiceUnavailable",
        "AUTHORIZER_CONFIGURATION_ERROR": "ServiceUnavailable",
    }
    for gateway_type, name in pairs.items():
        gateway = responses[gateway_type]
        documented = DOC["components"]["responses"][name]
        assert str(gateway.status) in {
            op_status
            for item in DOC["paths"].values()
            for method in HTTP_METHODS
            if method in item
            for op_status, ref in item[method]["responses"].items()
            if ref.get("$ref", "").endswith("/" + name)
        }
        assert gateway.template == json.dumps(_example(name))
        for header in gateway.headers:
            assert header in documented["headers"], (gateway_type, header)
    assert (
        _header_const("UnauthorizedRead", "WWW-Authenticate")
        == (responses["UNAUTHORIZED"].headers["WWW-Authenticate"])
    )
    assert (
        _header_const("UnauthorizedWrite", "WWW-Authenticate")
        == (responses["ACCESS_DENIED"].headers["WWW-Authenticate"])
    )
    assert json.dumps(_example("UnauthorizedRead")) == json.dumps(InvalidBearerToken().body())
    assert responses["DEFAULT_5XX"].template == json.dumps(_example("InternalError"))


def test_forbidden_examples_are_the_errors_the_code_raises() -> None:
    for name, scope in (("ForbiddenRead", READ_SCOPE), ("ForbiddenWrite", WRITE_ISSUES_SCOPE)):
        error = MissingScope(scope)
        assert _example(name) == error.body()
        assert _header_const(name, "WWW-Authenticate") == error.headers()["WWW-Authenticate"]


@pytest.mark.parametrize(
    ("model", "schema"),
    [
        (m.Issue, "Issue"),
        (m.Signal, "Signal"),
        (m.Insight, "Insight"),
        (m.IssuePage, "IssuePage"),
        (m.SignalPage, "SignalPage"),
        (m.InsightPage, "InsightPage"),
        (m.IssueStatusUpdate, "IssueStatusUpdate"),
        (m.TimelineEntry, "TimelineEntry"),
        (m.TimelinePage, "TimelinePage"),
    ],
)
def test_schemas_are_the_models_schemas(model: type[Any], schema: str) -> None:
    """Every response and the PATCH body: the document's schema has the shape pydantic generates
    from the model (types, nulls, enums, patterns, bounds, formats, items, fields, required,
    no extra fields), followed through every ``$ref`` on both sides."""
    mode = "validation" if model is m.IssueStatusUpdate else "serialization"
    generated = model.model_json_schema(mode=mode)
    documented = DOC["components"]["schemas"][schema]
    assert set(documented["properties"]) == set(generated["properties"])
    assert set(documented["required"]) == set(generated["required"])
    assert documented["additionalProperties"] is False
    assert shape(documented, DOC) == shape(generated, generated)


QUERY_MODELS: dict[str, type[Any]] = {
    "/api/v1/issues": m.IssueListParams,
    "/api/v1/signals": m.SignalListParams,
    "/api/v1/insights": m.PageParams,
    "/api/v1/sessions/{session_id}/timeline": m.TimelineParams,
}


def test_query_parameters_are_the_models_fields() -> None:
    """Each list's query parameters are its model's fields, with their shapes and defaults (a
    query string has no null: the model's ``None`` is the parameter left out)."""
    assert set(QUERY_MODELS) == {p for p, item in DOC["paths"].items() if "get" in item} - {
        "/api/v1/issues/{issue_id}"
    }
    for path, model in QUERY_MODELS.items():
        generated = model.model_json_schema(mode="validation")
        parameters = [resolve(p, "")[0] for p in DOC["paths"][path]["get"].get("parameters", [])]
        query = {p["name"]: p for p in parameters if p["in"] == "query"}
        assert set(query) == set(generated["properties"]), path
        for name, field in generated["properties"].items():
            documented = query[name]
            assert not documented.get("required", False), (path, name)
            assert documented["schema"].get("default") == field.get("default"), (path, name)
            assert shape(documented["schema"], DOC) == _without_null(shape(field, generated))


# The keywords compared. The document states more than the models (page sizes: maxItems; the
# visible text bound: maxLength; times as whole UTC seconds: a pattern on date-time), which the
# function's every answer is checked against (below).
_SHAPE_KEYWORDS = (
    "type",
    "enum",
    "const",
    "format",
    "pattern",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "minItems",
    "additionalProperties",
)
_NULL = json.dumps({"type": "null"})


def shape(node: dict[str, Any], root: dict[str, Any]) -> str:
    """A schema as canonical text: its validating keywords, ``$ref`` followed (in ``root``),
    ``anyOf``/``oneOf`` and a list of types as one set of alternatives."""
    while "$ref" in node:
        target: Any = root
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    alternatives = node.get("anyOf") or node.get("oneOf")
    if alternatives:
        return _union([shape(a, root) for a in alternatives])
    kinds = node.get("type")
    if isinstance(kinds, list):
        return _union([shape({**node, "type": kind}, root) for kind in kinds])
    if kinds == "null":
        return _NULL
    out: dict[str, Any] = {k: node[k] for k in _SHAPE_KEYWORDS if k in node}
    if node.get("format") == "date-time":
        out.pop("pattern", None)
    if "items" in node:
        out["items"] = shape(node["items"], root)
    if "properties" in node:
        out["properties"] = {k: shape(v, root) for k, v in node["properties"].items()}
        out["required"] = sorted(node.get("required", []))
    return json.dumps(out, sort_keys=True)


def _union(parts: list[str]) -> str:
    flat: set[str] = set()
    for part in parts:
        loaded = json.loads(part)
        flat.update(loaded["anyOf"] if list(loaded) == ["anyOf"] else [part])
    return next(iter(flat)) if len(flat) == 1 else json.dumps({"anyOf": sorted(flat)})


def _without_null(text: str) -> str:
    loaded = json.loads(text)
    if list(loaded) != ["anyOf"]:
        return text
    return _union([part for part in loaded["anyOf"] if part != _NULL])


def test_the_shape_comparison_can_fail() -> None:
    issue = DOC["components"]["schemas"]["Issue"]
    expected = shape(issue, DOC)
    properties = issue["properties"]
    for changed in (
        {**properties, "occurrences": {"type": "integer"}},
        {**properties, "status_updated_by": {"type": "string"}},
        {**properties, "kind": {"type": "string"}},
        {**properties, "id": {"type": "string", "pattern": "^iss_"}},
        {**properties, "first_seen": {"type": "string"}},
    ):
        assert shape({**issue, "properties": changed}, DOC) != expected
    assert shape({**issue, "required": issue["required"][1:]}, DOC) != expected
    assert shape({**issue, "additionalProperties": True}, DOC) != expected


@pytest.mark.parametrize(
    ("enum", "schema"),
    [
        (m.IssueStatus, "IssueStatus"),
        (m.IssueKind, "IssueKind"),
        (m.Severity, "Severity"),
        (m.InsightCategory, "InsightCategory"),
        (m.Impact, "Impact"),
        (m.TimelineKind, "TimelineKind"),
    ],
)
def test_enums_match(enum: type[Any], schema: str) -> None:
    assert DOC["components"]["schemas"][schema]["enum"] == [e.value for e in enum]


def test_parameters_match_the_models() -> None:
    limit = DOC["components"]["parameters"]["Limit"]["schema"]
    assert (limit["minimum"], limit["maximum"], limit["default"]) == (
        1,
        m.MAX_PAGE_LIMIT,
        m.DEFAULT_PAGE_LIMIT,
    )
    assert DOC["components"]["parameters"]["Cursor"]["schema"]["maxLength"] == m.MAX_CURSOR_LENGTH
    assert DOC["components"]["schemas"]["IssueId"]["pattern"] == m.ISSUE_ID_PATTERN
    assert DOC["components"]["schemas"]["Signal"]["properties"]["id"]["pattern"] == (
        m.SIGNAL_ID_PATTERN
    )
    assert DOC["components"]["schemas"]["Insight"]["properties"]["id"]["pattern"] == (
        m.INSIGHT_ID_PATTERN
    )


# --- the function's answers ----------------------------------------------------------------------


def test_every_answer_of_the_function_validates_against_the_document(
    aws: dict[str, str], dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for org in (ORG_A, ORG_B):
        demo_data.seed(dynamodb, aws["DataTable"], org)
    data = demo_data.generate(ORG_A)
    fn = load_function("IssuesFunction")
    issue = data.issues[0].id
    open_issue = next(i.id for i in data.issues if i.status == "open")
    theirs = demo_data.generate(ORG_B).issues[0].id
    mcp = principal_for(CredentialKind.MCP, ORG_A)
    calls: list[tuple[str, str, str, dict[str, Any]]] = [
        # (resource, method, path, options)
        ("/api/v1/issues", "GET", "/api/v1/issues", {}),
        ("/api/v1/issues", "GET", "/api/v1/issues", {"query": {"limit": "2"}}),
        ("/api/v1/issues", "GET", "/api/v1/issues", {"query": {"status": "resolved"}}),
        ("/api/v1/issues", "GET", "/api/v1/issues", {"query": {"limit": "500"}}),
        ("/api/v1/issues", "GET", "/api/v1/issues", {"query": {"cursor": "nope"}}),
        ("/api/v1/issues", "GET", "/api/v1/issues", {"principal": OAUTH_WRITE_ONLY_A}),
        ("/api/v1/issues", "DELETE", "/api/v1/issues", {}),
        ("/api/v1/issues", "POST", "/api/v1/issues", {}),
        ("/api/v1/issues", "PATCH", "/api/v1/issues", {}),
        ("/api/v1/issues/{issue_id}", "GET", issue_path(issue), {"principal": mcp}),
        ("/api/v1/issues/{issue_id}", "GET", issue_path(theirs), {}),
        ("/api/v1/issues/{issue_id}", "GET", issue_path(issue), {"principal": OAUTH_WRITE_ONLY_A}),
        (
            "/api/v1/issues/{issue_id}",
            "PATCH",
            issue_path(open_issue),
            {"principal": WRITE_A, "body": '{"status": "resolved"}'},
        ),
        (
            "/api/v1/issues/{issue_id}",
            "PATCH",
            issue_path(issue),
            {"principal": READ_A, "body": '{"status": "resolved"}'},
        ),
        (
            "/api/v1/issues/{issue_id}",
            "PATCH",
            issue_path(issue),
            {"principal": WRITE_A, "body": '{"status": "done"}'},
        ),
        (
            "/api/v1/issues/{issue_id}",
            "PATCH",
            issue_path(UNKNOWN_ISSUE),
            {"principal": WRITE_A, "body": '{"status": "open"}'},
        ),
        (
            "/api/v1/issues/{issue_id}",
            "PATCH",
            issue_path(issue),
            {
                "principal": WRITE_A,
                "body": '{"status": "open"}',
                "headers": {"Content-Type": "text/plain"},
            },
        ),
        (
            "/api/v1/issues/{issue_id}",
            "PATCH",
            issue_path(issue),
            {"principal": WRITE_A, "body": '{"status": "open", "status": "ignored"}'},
        ),
        ("/api/v1/issues/{issue_id}", "PUT", issue_path(issue), {}),
        ("/api/v1/issues/{issue_id}", "DELETE", issue_path(issue), {}),
        ("/api/v1/signals", "GET", "/api/v1/signals", {"query": {"limit": "5"}}),
        ("/api/v1/signals", "GET", "/api/v1/signals", {"query": {"issue_id": issue}}),
        ("/api/v1/signals", "GET", "/api/v1/signals", {"query": {"issue_id": "x"}}),
        ("/api/v1/signals", "POST", "/api/v1/signals", {}),
        ("/api/v1/insights", "GET", "/api/v1/insights", {}),
        ("/api/v1/insights", "GET", "/api/v1/insights", {"query": {"limit": "x"}}),
        ("/api/v1/insights", "PUT", "/api/v1/insights", {}),
        ("/api/v1/insights", "GET", "/api/v1/insights", {"event_changes": _drop_authorizer}),
    ]
    seen: set[tuple[str, str, int]] = set()
    for resource, method, path, options in calls:
        options.setdefault("principal", READ_A)
        result = invoke(fn, method, path, **options)
        check_against_document(resource, method, result)
        seen.add((resource, method, result.status))
    # the matrix reached every status the function itself can answer with
    assert {status for _, _, status in seen} == {200, 400, 403, 404, 405, 415, 500}
    # and a 503 (storage down)
    monkeypatch.setenv("DATA_TABLE", "no-such-table")
    from lucent import container

    container.reset()
    down = load_function("IssuesFunction")
    result = invoke(down, "GET", "/api/v1/issues", principal=READ_A)
    assert result.status == 503
    check_against_document("/api/v1/issues", "GET", result)


def _drop_authorizer(event: dict[str, Any]) -> None:
    event["requestContext"].pop("authorizer", None)


def test_demo_data_validates_against_the_document() -> None:
    data = demo_data.generate("org_doc")
    for issue in data.issues:
        validate_body("/components/schemas/Issue", issue.model_dump(mode="json"))
    for signal in data.signals:
        validate_body("/components/schemas/Signal", signal.model_dump(mode="json"))
    for insight in data.insights:
        validate_body("/components/schemas/Insight", insight.model_dump(mode="json"))


def test_the_validator_can_fail() -> None:
    issue = demo_data.generate("org_doc").issues[0].model_dump(mode="json")
    for broken in (
        {**issue, "status": "closed"},
        {**issue, "org_id": "org_b"},
        {k: v for k, v in issue.items() if k != "status_updated_by"},
        {**issue, "first_seen": "yesterday"},
        {**issue, "id": "ISS-1"},
    ):
        with pytest.raises(AssertionError):
            validate_body("/components/schemas/Issue", broken)
    with pytest.raises(AssertionError):
        check_against_document(
            "/api/v1/issues",
            "GET",
            Result(418, {"Content-Type": "application/json"}, b'{"error": "teapot"}'),
        )
    with pytest.raises(AssertionError):  # 403 without its challenge header
        check_against_document(
            "/api/v1/issues",
            "GET",
            Result(403, {"Content-Type": "application/json"}, b'{"error": "x"}'),
        )
