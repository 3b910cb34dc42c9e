"""Where the admin commands point: the local API's embedded AWS, or a deployed stack.

``--local`` reads ``.lucent/dev.json`` written by ``make dev``. Otherwise the standard AWS
configuration applies (region, profile, ``AWS_ENDPOINT_URL``) and resource names come from the
environment (``CREDENTIALS_TABLE``, ``DATA_TABLE``, ...) or from a stack's outputs (``--stack``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from lucent.settings import Settings
from lucent_dev.template import PROJECT_ROOT

DEV_STATE_PATH = PROJECT_ROOT / ".lucent" / "dev.json"

# Stack output -> Settings field.
_STACK_OUTPUTS = {
    "CredentialsTableName": "credentials_table",
    "RateLimitTableName": "rate_limit_table",
    "DataTableName": "data_table",
    "ReplayBucketName": "replay_bucket",
    "OAuthTableName": "oauth_table",
}


class TargetError(RuntimeError):
    pass


@dataclass(frozen=True)
class Target:
    settings: Settings
    description: str

    def client(self, service: str) -> Any:
        return boto3.session.Session().client(
            service,  # type: ignore[call-overload]
            region_name=self.settings.region,
            endpoint_url=self.settings.endpoint_url,
        )


def read_dev_state(path: Path | None = None) -> dict[str, Any]:
    # Resolved at call time, not at import: tests and tools may point DEV_STATE_PATH elsewhere.
    path = path or DEV_STATE_PATH
    try:
        state: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise TargetError(f"{path} not found: start the local API with `make dev` first") from exc
    return state


def local_target(path: Path | None = None) -> Target:
    state = read_dev_state(path)
    tables = state["tables"]
    # moto accepts any credentials; set them so no real profile is ever consulted.
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    settings = Settings(
        region=state["region"],
        credentials_table=tables["CredentialsTable"],
        rate_limit_table=tables["RateLimitTable"],
        data_table=tables["DataTable"],
        replay_bucket=state["bucket"],
        endpoint_url=state["aws_endpoint_url"],
        oauth_table=tables.get("OAuthTable", ""),
    )
    return Target(settings, f"local API embedded AWS at {state['aws_endpoint_url']}")


def stack_target(stack: str | None) -> Target:
    settings = Settings.from_env()
    if stack:
        cfn = boto3.session.Session().client("cloudformation", region_name=settings.region)
        outputs = cfn.describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
        values = {o["OutputKey"]: o["OutputValue"] for o in outputs}
        fields = {field: values[key] for key, field in _STACK_OUTPUTS.items() if key in values}
        settings = Settings(**{**_settings_dict(settings), **fields})
    return Target(settings, f"stack {stack}" if stack else "AWS (names from the environment)")


def _settings_dict(settings: Settings) -> dict[str, Any]:
    return {name: getattr(settings, name) for name in Settings.__slots__}


def resolve(local: bool, stack: str | None = None) -> Target:
    return local_target() if local else stack_target(stack)
