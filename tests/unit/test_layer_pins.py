"""What is tested is what runs: the layer bundles boto3 and botocore at the versions installed
here, and the lean data loader (lucent.aws) reads that botocore exactly as botocore does.

Lambda puts a layer's ``python/`` before its own runtime's packages on ``sys.path``, so the
botocore of layers/common/requirements.txt is the one every function imports, not the runtime's
(docs/decisions/023-lean-botocore-loader.md).
"""

from __future__ import annotations

import json
import tomllib
from importlib import metadata
from typing import Any

import boto3
import botocore
import pytest
from botocore.loaders import Loader

from lucent import aws as lucent_aws
from lucent.settings import get_settings
from lucent_dev import template as tpl

ROOT = tpl.PROJECT_ROOT
BUNDLED = ("boto3", "botocore")
# Every client lucent.aws makes, for the functions that use it.
CLIENTS = (
    lucent_aws.dynamodb_client,
    lucent_aws.s3_client,
    lucent_aws.secretsmanager_client,
    lucent_aws.cognito_client,
)


def _pins(lines: list[str]) -> dict[str, str]:
    out = {}
    for raw in lines:
        line = raw.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            out[name.split("[", 1)[0].strip().lower()] = version.strip()
    return out


def layer_pins() -> dict[str, str]:
    return _pins((ROOT / "layers/common/requirements.txt").read_text().splitlines())


def test_the_layer_bundles_boto3_and_botocore_at_the_installed_versions() -> None:
    pins = layer_pins()
    assert {name: pins.get(name) for name in BUNDLED} == {
        name: metadata.version(name) for name in BUNDLED
    }
    assert (botocore.__version__, boto3.__version__) == (pins["botocore"], pins["boto3"])


def test_the_layer_pins_exactly_the_projects_runtime_dependencies() -> None:
    """boto3 and botocore among them: what the tests import is what the layer ships."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = _pins(project["dependencies"])
    assert layer_pins() == runtime
    assert set(BUNDLED) <= set(runtime)


class RecordingLoader(lucent_aws.LeanLoader):
    """The lean loader, noting every data file it reads (a subclass: nothing it does changes)."""

    def __init__(self, extra_search_paths: list[str] | None = None) -> None:
        super().__init__(extra_search_paths=extra_search_paths)
        self.read: list[str] = []

    def load_data_with_path(self, name: str) -> Any:
        found = super().load_data_with_path(name)
        self.read.append(name)
        return found


@pytest.fixture
def recorded(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every data file (service and type) the functions' clients read, as lucent.aws makes them."""
    monkeypatch.setattr(lucent_aws, "LeanLoader", RecordingLoader)
    settings = get_settings()
    for make in CLIENTS:
        make(settings)
    loader = lucent_aws.session().get_component("data_loader")
    assert isinstance(loader, RecordingLoader)
    return sorted(set(loader.read))


def test_the_lean_loader_reads_every_file_the_functions_use_as_the_pinned_botocore(
    recorded: list[str],
) -> None:
    assert botocore.__version__ == layer_pins()["botocore"]
    # The service models and endpoint rules of the four clients, and botocore's shared files.
    for service in ("dynamodb", "s3", "secretsmanager", "cognito-idp"):
        assert any(name.startswith(f"{service}/") and "service-2" in name for name in recorded)
        assert any(name.startswith(f"{service}/") and "endpoint-rule" in name for name in recorded)
    assert {"endpoints", "partitions", "sdk-default-configuration"} <= set(recorded)
    lean, botocores = RecordingLoader(), Loader()
    for name in recorded:
        ours, theirs = lean.load_data_with_path(name), botocores.load_data_with_path(name)
        assert ours == theirs, name
        # The same keys in the same order, and the same file.
        assert json.dumps(ours[0]) == json.dumps(theirs[0]), name
        assert ours[1] == theirs[1], name
