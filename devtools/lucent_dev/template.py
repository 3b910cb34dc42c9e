"""Reads template.yaml: the one description of the stack that tests and the local API both use.

Tables and buckets are created from their CloudFormation properties, routes and gateway responses
are read from the ``AWS::Serverless::Api``/``Function`` resources, and handlers are loaded from
each function's ``CodeUri`` and ``Handler``. Nothing here restates what the template says.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = PROJECT_ROOT / "template.yaml"

Handler = Callable[[dict[str, Any], Any], Any]


class _CfnLoader(yaml.SafeLoader):
    """A YAML loader that keeps CloudFormation short-form tags as ``{"Fn::X": value}``."""


def _construct_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


@lru_cache(maxsize=4)
def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        loaded = yaml.load(handle, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    if not isinstance(loaded, dict):
        raise ValueError(f"{path} is not a CloudFormation template")
    return loaded


def resources(kind: str, template: Mapping[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    tpl = template or load_template()
    return {name: res for name, res in tpl["Resources"].items() if res.get("Type") == kind}


# --- storage -------------------------------------------------------------------------------------


def physical_name(logical_id: str, prefix: str = "lucent-local") -> str:
    """The name a local table or bucket gets (CloudFormation would generate one)."""
    return f"{prefix}-{re.sub(r'(?<!^)(?=[A-Z])', '-', logical_id).lower()}"


def table_definitions(template: Mapping[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """``create_table`` arguments for every ``AWS::DynamoDB::Table``, by logical id."""
    out: dict[str, dict[str, Any]] = {}
    for name, res in resources("AWS::DynamoDB::Table", template).items():
        props = res["Properties"]
        kwargs: dict[str, Any] = {
            "TableName": physical_name(name),
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
        }
        if props.get("GlobalSecondaryIndexes"):
            kwargs["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
        out[name] = kwargs
    return out


def ttl_attributes(template: Mapping[str, Any] | None = None) -> dict[str, str]:
    """The TTL attribute of each table that enables one, by logical id."""
    out = {}
    for name, res in resources("AWS::DynamoDB::Table", template).items():
        spec = res["Properties"].get("TimeToLiveSpecification")
        if spec and spec.get("Enabled"):
            out[name] = spec["AttributeName"]
    return out


def bucket_logical_ids(template: Mapping[str, Any] | None = None) -> list[str]:
    return list(resources("AWS::S3::Bucket", template))


def create_storage(
    dynamodb: Any, s3: Any, template: Mapping[str, Any] | None = None
) -> dict[str, str]:
    """Create every table (with TTL) and bucket of the template; returns logical id -> name."""
    names: dict[str, str] = {}
    ttl = ttl_attributes(template)
    for logical_id, kwargs in table_definitions(template).items():
        dynamodb.create_table(**kwargs)
        if logical_id in ttl:
            dynamodb.update_time_to_live(
                TableName=kwargs["TableName"],
                TimeToLiveSpecification={"AttributeName": ttl[logical_id], "Enabled": True},
            )
        names[logical_id] = kwargs["TableName"]
    for logical_id in bucket_logical_ids(template):
        bucket = physical_name(logical_id)
        s3.create_bucket(Bucket=bucket)
        names[logical_id] = bucket
    return names


# --- functions -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    code_uri: Path
    handler: str
    environment: dict[str, Any] = field(default_factory=dict)

    @property
    def module_file(self) -> Path:
        return self.code_uri / (self.handler.rsplit(".", 1)[0].replace(".", "/") + ".py")


def functions(template: Mapping[str, Any] | None = None) -> dict[str, FunctionSpec]:
    tpl = template or load_template()
    global_env = tpl.get("Globals", {}).get("Function", {}).get("Environment", {})
    out = {}
    for name, res in resources("AWS::Serverless::Function", tpl).items():
        props = res["Properties"]
        env = dict(global_env.get("Variables", {}))
        env.update(props.get("Environment", {}).get("Variables", {}))
        code_uri = PROJECT_ROOT / props["CodeUri"]
        out[name] = FunctionSpec(name, code_uri, props["Handler"], env)
    return out


def resolve_environment(
    spec: FunctionSpec, names: Mapping[str, str], parameters: Mapping[str, str]
) -> dict[str, str]:
    """A function's environment with ``!Ref``s to tables, buckets and parameters resolved."""
    env = {}
    for key, value in spec.environment.items():
        if isinstance(value, dict) and "Ref" in value:
            ref = value["Ref"]
            if ref in names:
                env[key] = names[ref]
            elif ref in parameters:
                env[key] = str(parameters[ref])
            else:
                continue  # a reference that only exists in AWS (e.g. an API id)
        elif isinstance(value, str | int | float):
            env[key] = str(value)
    return env


def parameter_defaults(template: Mapping[str, Any] | None = None) -> dict[str, str]:
    tpl = template or load_template()
    return {
        name: str(p["Default"]) for name, p in tpl.get("Parameters", {}).items() if "Default" in p
    }


def load_handler(spec: FunctionSpec, *, fresh: bool = False) -> Handler:
    """Import a function's handler from its CodeUri, under a module name unique to the function.

    ``fresh`` executes the module again, as a new Lambda container would (empty caches).
    """
    module_name = f"lucent_fn_{spec.logical_id}"
    module = None if fresh else sys.modules.get(module_name)
    if module is None:
        file_spec = importlib.util.spec_from_file_location(module_name, spec.module_file)
        if file_spec is None or file_spec.loader is None:
            raise ImportError(f"cannot load {spec.module_file}")
        module = importlib.util.module_from_spec(file_spec)
        sys.modules[module_name] = module
        file_spec.loader.exec_module(module)
    handler: Handler = getattr(module, spec.handler.rsplit(".", 1)[1])
    return handler


# --- APIs ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GatewayResponse:
    status: int | None
    headers: dict[str, str]
    template: str | None


@dataclass(frozen=True)
class Route:
    api: str
    path: str
    method: str  # an HTTP method, or ANY
    function: str
    authorized: bool

    @property
    def pattern(self) -> re.Pattern[str]:
        regex = ""
        for part in re.split(r"(\{[^}]+\})", self.path):
            if part.startswith("{") and part.endswith("+}"):
                regex += rf"(?P<{part[1:-2]}>.+)"
            elif part.startswith("{"):
                regex += rf"(?P<{part[1:-1]}>[^/]+)"
            else:
                regex += re.escape(part)
        return re.compile(f"^{regex}$")


@dataclass(frozen=True)
class ApiSpec:
    logical_id: str
    binary_media_types: tuple[str, ...]
    authorizer_function: str | None
    gateway_responses: dict[str, GatewayResponse]


def _static(value: str) -> str:
    """A gateway response header value: a quoted static string like ``'*'``."""
    if len(value) >= 2 and value[0] == value[-1] == "'":
        return value[1:-1]
    raise ValueError(f"only static gateway response headers are supported, got {value!r}")


def apis(template: Mapping[str, Any] | None = None) -> dict[str, ApiSpec]:
    out = {}
    for name, res in resources("AWS::Serverless::Api", template).items():
        props = res["Properties"]
        auth = props.get("Auth", {})
        authorizer_fn = None
        default = auth.get("DefaultAuthorizer")
        if default:
            arn = auth["Authorizers"][default]["FunctionArn"]
            authorizer_fn = arn["Fn::GetAtt"][0]
        responses = {}
        for kind, spec in props.get("GatewayResponses", {}).items():
            headers = {
                header: _static(value)
                for header, value in spec.get("ResponseParameters", {}).get("Headers", {}).items()
            }
            status = int(spec["StatusCode"]) if "StatusCode" in spec else None
            template_body = spec.get("ResponseTemplates", {}).get("application/json")
            responses[kind] = GatewayResponse(status, headers, template_body)
        media = tuple(m.replace("~1", "/") for m in props.get("BinaryMediaTypes", []))
        out[name] = ApiSpec(name, media, authorizer_fn, responses)
    return out


def routes(template: Mapping[str, Any] | None = None) -> list[Route]:
    tpl = template or load_template()
    api_specs = apis(tpl)
    out = []
    for fn_name, res in resources("AWS::Serverless::Function", tpl).items():
        for event in res["Properties"].get("Events", {}).values():
            if event.get("Type") != "Api":
                continue
            props = event["Properties"]
            api = props["RestApiId"]["Ref"]
            auth = props.get("Auth", {}).get("Authorizer")
            authorized = api_specs[api].authorizer_function is not None and auth != "NONE"
            out.append(Route(api, props["Path"], props["Method"].upper(), fn_name, authorized))
    return out


# --- queues, notifications, event sources (detection's pipeline, lucent_dev.pipeline) -----------


@dataclass(frozen=True)
class QueueSpec:
    logical_id: str
    attributes: dict[str, str]  # SQS attributes, the dead-letter target still a logical id
    dead_letter_queue: str | None
    max_receive_count: int | None


@dataclass(frozen=True)
class QueueNotification:
    bucket: str  # logical ids
    queue: str
    events: tuple[str, ...]
    prefix: str


@dataclass(frozen=True)
class SqsEventSource:
    function: str
    queue: str  # logical id
    batch_size: int
    batching_window_seconds: int
    report_batch_item_failures: bool


_QUEUE_ATTRIBUTES = ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds")


def queues(template: Mapping[str, Any] | None = None) -> dict[str, QueueSpec]:
    out = {}
    for name, res in resources("AWS::SQS::Queue", template).items():
        props = res.get("Properties", {})
        attributes = {k: str(props[k]) for k in _QUEUE_ATTRIBUTES if k in props}
        redrive = props.get("RedrivePolicy") or {}
        target = redrive.get("deadLetterTargetArn")
        dlq = target["Fn::GetAtt"][0] if isinstance(target, dict) else None
        count = redrive.get("maxReceiveCount")
        out[name] = QueueSpec(name, attributes, dlq, int(count) if count is not None else None)
    return out


def _logical(ref: Any) -> str:
    """The logical id a ``!Ref`` or ``!GetAtt X.Arn`` names."""
    if isinstance(ref, dict) and "Ref" in ref:
        return str(ref["Ref"])
    if isinstance(ref, dict) and "Fn::GetAtt" in ref:
        return str(ref["Fn::GetAtt"][0])
    raise ValueError(f"expected !Ref or !GetAtt, got {ref!r}")


def queue_notifications(template: Mapping[str, Any] | None = None) -> list[QueueNotification]:
    out = []
    for bucket, res in resources("AWS::S3::Bucket", template).items():
        config = res.get("Properties", {}).get("NotificationConfiguration") or {}
        for item in config.get("QueueConfigurations", []):
            rules = item.get("Filter", {}).get("S3Key", {}).get("Rules", [])
            prefix = next((r["Value"] for r in rules if r["Name"].lower() == "prefix"), "")
            events = item["Event"] if isinstance(item["Event"], list) else [item["Event"]]
            out.append(QueueNotification(bucket, _logical(item["Queue"]), tuple(events), prefix))
    return out


def sqs_event_sources(template: Mapping[str, Any] | None = None) -> list[SqsEventSource]:
    out = []
    for fn_name, res in resources("AWS::Serverless::Function", template).items():
        for event in res["Properties"].get("Events", {}).values():
            if event.get("Type") != "SQS":
                continue
            props = event["Properties"]
            out.append(
                SqsEventSource(
                    function=fn_name,
                    queue=_logical(props["Queue"]),
                    # Lambda's defaults for a standard queue when the template says nothing.
                    batch_size=int(props.get("BatchSize", 10)),
                    batching_window_seconds=int(props.get("MaximumBatchingWindowInSeconds", 0)),
                    report_batch_item_failures="ReportBatchItemFailures"
                    in props.get("FunctionResponseTypes", []),
                )
            )
    return out
