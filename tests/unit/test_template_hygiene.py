"""Deployment hygiene of template.yaml: access logs without credentials, concurrency, checkov's skips.

What checkov cannot see is held here: the access log format names only allowed ``$context``
variables (the ingest key may travel as ``?api_key=``, bearer tokens in a header), each API has an
authorizer function of its own with its own reserved concurrency, and the reservations leave the
account's pool what it needs (docs/operations.md, docs/limits.md).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from lucent.auth.credentials import CredentialKind, Principal, issue_credential
from lucent_dev import template as tpl
from lucent_dev.gateway import Gateway, HttpRequest
from tests.conftest import load_function
from tests.helpers import store_credential

TEMPLATE = tpl.load_template()
RESOURCES: dict[str, dict[str, Any]] = TEMPLATE["Resources"]
PARAMETERS: dict[str, dict[str, Any]] = TEMPLATE["Parameters"]
APIS = ("IngestApi", "DataApi", "OAuthApi")

# Every variable the access log may hold: none carries a credential. Not $context.path (a client
# can put anything in a path, a key included), no header (identity.userAgent included), no query
# string, and of the authorizer's context only the two ids, which are not secrets.
ALLOWED_ACCESS_LOG_VARIABLES = frozenset(
    {
        "$context.requestId",
        "$context.requestTimeEpoch",
        "$context.httpMethod",
        "$context.resourcePath",
        "$context.status",
        "$context.responseLatency",
        "$context.responseLength",
        "$context.identity.sourceIp",
        "$context.error.responseType",
        "$context.error.message",
        "$context.authorizer.status",
        "$context.authorizer.latency",
        "$context.integration.integrationStatus",
        "$context.integration.latency",
        "$context.authorizer.credential_id",
        "$context.authorizer.org_id",
    }
)
CREDENTIAL_BEARING = (
    "$context.identity.apiKey",
    "$context.path",
    "$context.identity.userAgent",
    "$context.authorizer.scopes",
    "$context.requestOverride.querystring.api_key",
    "$input.params('api_key')",
    "$input.body",
    "$method.request.querystring.api_key",
    "$method.request.header.Authorization",
    "${input.params().querystring}",
    "$!method.request.multivaluequerystring.api_key",
)
# A reference in an API Gateway template: $name, ${name} or $!name, dotted, maybe called.
_REFERENCE = re.compile(r"\$!?\{?([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)")


def references(log_format: str) -> set[str]:
    """Every variable a format refers to, as ``$a.b.c``."""
    return {f"${name}" for name in _REFERENCE.findall(log_format)}


def access_log_setting(api: str) -> dict[str, Any]:
    setting: dict[str, Any] = RESOURCES[api]["Properties"]["AccessLogSetting"]
    return setting


def render(log_format: str, values: dict[str, str]) -> str:
    """The line API Gateway would write, with ``values`` for the variables (``-`` otherwise)."""
    return _REFERENCE.sub(lambda m: values.get(f"${m.group(1)}", "-"), log_format)


# --- access logs -----------------------------------------------------------------------------


def test_reference_finder_sees_every_form_of_a_credential_bearing_variable() -> None:
    for variable in CREDENTIAL_BEARING:
        found = references(f'{{"x":"{variable}"}}')
        assert found, variable
        assert not found <= ALLOWED_ACCESS_LOG_VARIABLES, variable


@pytest.mark.parametrize("api", APIS)
def test_access_log_names_exactly_the_allowed_variables(api: str) -> None:
    log_format = access_log_setting(api)["Format"]
    assert references(log_format) == ALLOWED_ACCESS_LOG_VARIABLES
    assert "\n" not in log_format  # one line per request
    assert "api_key" not in log_format.lower()


def test_both_apis_log_the_same_fields() -> None:
    assert access_log_setting("IngestApi")["Format"] == access_log_setting("DataApi")["Format"]


@pytest.mark.parametrize("api", APIS)
def test_access_log_is_a_json_object_whatever_the_values(api: str) -> None:
    log_format = access_log_setting(api)["Format"]
    for filler in ("-", "", "200", "12.5"):
        line = render(log_format, dict.fromkeys(ALLOWED_ACCESS_LOG_VARIABLES, filler))
        parsed = json.loads(line)
        assert set(parsed.values()) == {filler}
        assert len(parsed) == len(ALLOWED_ACCESS_LOG_VARIABLES)


@pytest.mark.parametrize("api", APIS)
def test_access_logs_go_to_a_log_group_of_the_stack_with_a_retention(api: str) -> None:
    destination = access_log_setting(api)["DestinationArn"]
    group, attribute = destination["Fn::GetAtt"]
    assert attribute == "Arn"
    assert RESOURCES[group]["Type"] == "AWS::Logs::LogGroup"
    retention = RESOURCES[group]["Properties"]["RetentionInDays"]
    assert retention == {"Ref": "AccessLogRetentionDays"}
    parameter = PARAMETERS["AccessLogRetentionDays"]
    assert parameter["Default"] == 90  # as long as the replays the lines describe
    assert parameter["Default"] in parameter["AllowedValues"]


@pytest.mark.parametrize("api", APIS)
def test_no_execution_logging_or_data_trace(api: str) -> None:
    """Execution logs with data trace would write whole requests: headers and query strings."""
    for settings in RESOURCES[api]["Properties"].get("MethodSettings", []):
        assert settings.get("DataTraceEnabled", False) is False
        assert settings.get("LoggingLevel", "OFF") in ("OFF", "ERROR")


def test_the_authorizer_context_holds_the_logged_ids_and_no_secret() -> None:
    issued = issue_credential(CredentialKind.PUBLIC, "org_logs")
    context = Principal.from_record(issued.record).to_context()
    assert context["credential_id"] == issued.record.credential_id
    assert context["org_id"] == "org_logs"
    assert issued.secret not in json.dumps(context)


def test_a_beacon_request_renders_ids_and_never_its_key(aws: dict[str, str], dynamodb: Any) -> None:
    """The line of a ?api_key= request, rendered from what the request carried through the gateway."""
    issued = store_credential(
        dynamodb, aws["CredentialsTable"], CredentialKind.PUBLIC, "org_beacon"
    )
    seen: dict[str, Any] = {}

    def ingest(event: dict[str, Any], _: Any) -> dict[str, Any]:
        seen.update(event)
        return {"statusCode": 200, "body": '{"ok": true}'}

    gateway = Gateway(
        {"AuthorizerFunction": load_function("AuthorizerFunction"), "IngestFunction": ingest}
    )
    response = gateway.handle(
        HttpRequest(
            "POST",
            "/api/sdk/replay",
            [("Content-Type", "text/plain;charset=UTF-8"), ("User-Agent", issued.secret)],
            query=f"api_key={issued.secret}",
            body=b"{}",
        )
    )
    assert response.status == 200
    context = seen["requestContext"]
    values = {
        "$context.requestId": context["requestId"],
        "$context.requestTimeEpoch": str(context["requestTimeEpoch"]),
        "$context.httpMethod": context["httpMethod"],
        "$context.resourcePath": context["resourcePath"],
        "$context.identity.sourceIp": context["identity"]["sourceIp"],
        "$context.authorizer.credential_id": context["authorizer"]["credential_id"],
        "$context.authorizer.org_id": context["authorizer"]["org_id"],
        "$context.status": str(response.status),
        "$context.responseLength": str(len(response.body)),
    }
    line = render(access_log_setting("IngestApi")["Format"], values)
    assert issued.secret not in line
    assert issued.secret[7:20] not in line
    parsed = json.loads(line)
    assert parsed["credentialId"] == issued.record.credential_id
    assert parsed["orgId"] == "org_beacon"
    assert (parsed["httpMethod"], parsed["resourcePath"], parsed["status"]) == (
        "POST",
        "/api/sdk/replay",
        "200",
    )


def test_the_account_log_role_is_created_conditionally_and_outlives_the_stack() -> None:
    role = RESOURCES["ApiGatewayLogRole"]
    account = RESOURCES["ApiGatewayAccount"]
    assert role["Condition"] == account["Condition"] == "ManageAccountLogRole"
    assert TEMPLATE["Conditions"]["ManageAccountLogRole"] == {
        "Fn::Equals": [{"Ref": "ManageApiGatewayAccount"}, "true"]
    }
    assert PARAMETERS["ManageApiGatewayAccount"]["Default"] == "true"  # a new account has none
    assert role["DeletionPolicy"] == role["UpdateReplacePolicy"] == "Retain"
    trust = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "apigateway.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ]
    assert role["Properties"]["ManagedPolicyArns"] == [
        {
            "Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/"
            "AmazonAPIGatewayPushToCloudWatchLogs"
        }
    ]
    assert account["Properties"]["CloudWatchRoleArn"] == {
        "Fn::GetAtt": ["ApiGatewayLogRole", "Arn"]
    }


def test_both_apis_wait_for_the_account_setting_when_the_stack_makes_it() -> None:
    ready = RESOURCES["ApiGatewayLogRoleReady"]
    assert "Condition" not in ready  # DependsOn may only name unconditional resources
    assert ready["Metadata"]["AccountSetting"]["Fn::If"][:2] == [
        "ManageAccountLogRole",
        {"Ref": "ApiGatewayAccount"},
    ]
    for api in APIS:
        assert RESOURCES[api]["DependsOn"] == "ApiGatewayLogRoleReady"


# --- concurrency -----------------------------------------------------------------------------

UNRESERVED_MINIMUM = 100  # Lambda refuses a reservation that leaves less unreserved
DEFAULT_ACCOUNT_QUOTA = 1_000
# Reservation sizing (docs/limits.md): stage rate x a per-request duration budget several times
# the measured warm durations (docs/performance.md).
DURATION_BUDGET_SECONDS = {"function": 0.2, "authorizer": 0.1}
RESERVATIONS = {
    "AuthorizerFunction": ("IngestApi", "authorizer", "IngestAuthorizerConcurrency"),
    "IngestFunction": ("IngestApi", "function", "IngestConcurrency"),
    "DataAuthorizerFunction": ("DataApi", "authorizer", "DataAuthorizerConcurrency"),
    "IssuesFunction": ("DataApi", "function", "IssuesConcurrency"),
    "OAuthFunction": ("OAuthApi", "function", "OAuthConcurrency"),
    "McpFunction": ("McpApi", "function", "McpConcurrency"),
}
# Functions no API calls: the detector's reserve is also its SQS event source's maximum
# concurrency (so the poller never runs more than the reserve and no delivery is throttled
# towards the dead-letter queue); scheduled functions need one container.
QUEUE_RESERVATIONS = {"DetectionFunction": "DetectionConcurrency"}
SCHEDULED = ("CanaryFunction", "InsightsFunction")


def reserved(function: str) -> Any:
    return RESOURCES[function]["Properties"]["ReservedConcurrentExecutions"]


def stage_rate(api: str) -> float:
    (settings,) = RESOURCES[api]["Properties"]["MethodSettings"]
    return float(settings["ThrottlingRateLimit"])


def test_every_function_has_a_reservation_behind_one_switch() -> None:
    functions = tpl.resources("AWS::Serverless::Function", TEMPLATE)
    assert set(functions) == {*RESERVATIONS, *QUEUE_RESERVATIONS, *SCHEDULED}
    for function, (_, _, parameter) in RESERVATIONS.items():
        assert reserved(function) == {
            "Fn::If": ["ReserveOn", {"Ref": parameter}, {"Ref": "AWS::NoValue"}]
        }, function
        assert PARAMETERS[parameter]["MinValue"] == 1  # 0 would switch the function off
    for function, parameter in QUEUE_RESERVATIONS.items():
        assert reserved(function) == {
            "Fn::If": ["ReserveOn", {"Ref": parameter}, {"Ref": "AWS::NoValue"}]
        }, function
        (event,) = RESOURCES[function]["Properties"]["Events"].values()
        assert event["Properties"]["ScalingConfig"] == {"MaximumConcurrency": {"Ref": parameter}}
        assert PARAMETERS[parameter]["MinValue"] == 2  # SQS's smallest maximum concurrency
    for function in SCHEDULED:
        assert reserved(function) == {"Fn::If": ["ReserveOn", 1, {"Ref": "AWS::NoValue"}]}
    assert PARAMETERS["ReserveConcurrency"]["Default"] == "true"


def test_default_reservations_fit_two_stacks_in_a_new_account() -> None:
    total = (
        sum(PARAMETERS[p]["Default"] for _, _, p in RESERVATIONS.values())
        + sum(PARAMETERS[p]["Default"] for p in QUEUE_RESERVATIONS.values())
        + len(SCHEDULED)
    )
    assert total == 450
    assert 2 * total <= DEFAULT_ACCOUNT_QUOTA - UNRESERVED_MINIMUM


@pytest.mark.parametrize("function", sorted(RESERVATIONS))
def test_each_reservation_covers_its_stage_rate(function: str) -> None:
    api, kind, parameter = RESERVATIONS[function]
    needed = stage_rate(api) * DURATION_BUDGET_SECONDS[kind]
    assert PARAMETERS[parameter]["Default"] >= needed, (function, needed)


def test_each_api_has_its_own_authorizer_function_with_the_same_code() -> None:
    specs = tpl.apis(TEMPLATE)
    assert specs["IngestApi"].authorizer_function == "AuthorizerFunction"
    assert specs["DataApi"].authorizer_function == "DataAuthorizerFunction"
    ingest, data = (
        RESOURCES[f]["Properties"] for f in ("AuthorizerFunction", "DataAuthorizerFunction")
    )
    for key in ("CodeUri", "Handler", "Policies"):
        assert ingest[key] == data[key], key
    ingest_env = dict(ingest["Environment"]["Variables"])
    data_env = dict(data["Environment"]["Variables"])
    assert (ingest_env.pop("POWERTOOLS_SERVICE_NAME"), data_env.pop("POWERTOOLS_SERVICE_NAME")) == (
        "authorizer",
        "data_authorizer",
    )
    assert ingest_env == data_env


# --- checkov's skips -------------------------------------------------------------------------

CHECKOV_CONFIG = tpl.PROJECT_ROOT / ".checkov.yaml"
_CHECK_ID = re.compile(r"^CKV2?_AWS_\d+$")


def test_every_skipped_check_has_a_reason() -> None:
    config = yaml.safe_load(CHECKOV_CONFIG.read_text(encoding="utf-8"))
    skipped = config["skip-check"]
    assert skipped, "the skip list is empty: then drop the key"
    lines = CHECKOV_CONFIG.read_text(encoding="utf-8").splitlines()
    for check in skipped:
        assert _CHECK_ID.match(check), check
        (line,) = [line for line in lines if re.match(rf"\s*- {check}\b", line)]
        reason = line.partition("#")[2].strip()
        assert len(reason) >= 40, f"{check}: give the reason on its line"
    for name, resource in RESOURCES.items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert _CHECK_ID.match(skip["id"]), name
            assert len(skip.get("comment", "")) >= 40, f"{name} {skip['id']}: give the reason"


def test_make_validate_runs_checkov_with_the_skip_list() -> None:
    makefile = (tpl.PROJECT_ROOT / "Makefile").read_text(encoding="utf-8")
    validate = makefile.split("\nvalidate:", 1)[1].split("\n\n", 1)[0]
    assert "--config-file .checkov.yaml" in validate
    assert "$(CHECKOV_VENV)/bin/checkov" in validate
    pins = Path(tpl.PROJECT_ROOT / "requirements" / "checkov.txt").read_text(encoding="utf-8")
    assert re.search(r"^checkov==\d+\.\d+\.\d+$", pins, re.MULTILINE)
