"""The tree's rules, checked on the source: only stores touch AWS, only settings read the
environment, and the contract strings in template.yaml are the ones lucent.contract defines."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from lucent import contract
from lucent_dev import template as tpl

ROOT = tpl.PROJECT_ROOT
LAYER = ROOT / "layers" / "common" / "lucent"
AWS_PACKAGES = ("boto3", "botocore")


def python_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def imported_roots(path: Path) -> set[str]:
    """Top-level packages a module imports, at any depth (lazy imports in functions count)."""
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def reads_environment(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in ("environ", "getenv")
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
        ):
            return True
    return False


def is_store(path: Path) -> bool:
    return (
        path.name == "store.py"
        or path.parent.name == "store"  # a store cut into a package (lucent/detection/store/)
        # lucent.datatable: the table's keys and boto3's TypeSerializer, no AWS call.
        or path in (LAYER / "aws.py", LAYER / "datatable.py")
    )


def test_only_store_modules_import_boto3_or_botocore() -> None:
    offenders = [
        str(p.relative_to(ROOT))
        for p in python_files(LAYER) + python_files(ROOT / "functions")
        if not is_store(p) and imported_roots(p) & set(AWS_PACKAGES)
    ]
    assert offenders == []
    # The rule has teeth: the stores do import botocore.
    assert "botocore" in imported_roots(LAYER / "auth" / "store.py")


def test_no_devtools_module_imports_botocore() -> None:
    """Tooling catches the stores' typed errors (ServiceUnavailable, CredentialExists...)."""
    offenders = [
        str(p.relative_to(ROOT))
        for p in python_files(ROOT / "devtools")
        if "botocore" in imported_roots(p)
    ]
    assert offenders == []


def test_only_settings_reads_the_environment() -> None:
    offenders = [
        str(p.relative_to(ROOT))
        for p in python_files(LAYER) + python_files(ROOT / "functions")
        if reads_environment(p) and p != LAYER / "settings.py"
    ]
    assert offenders == []
    assert reads_environment(LAYER / "settings.py")


def test_every_domain_package_keeps_its_store_apart() -> None:
    """Each domain package has rules and, in store.py, its AWS access."""
    for package in ("auth", "ingest", "ratelimit", "issues", "canary"):
        assert (LAYER / package / "store.py").is_file(), package
        assert (LAYER / package / "__init__.py").read_text("utf-8").startswith('"""'), package


@pytest.mark.parametrize(("logical_id", "api"), [("IngestApi", "ingest"), ("DataApi", "data")])
def test_template_gateway_responses_are_the_contract(logical_id: str, api: str) -> None:
    declared = tpl.load_template()["Resources"][logical_id]["Properties"]["GatewayResponses"]
    assert declared == contract.gateway_responses(api)  # type: ignore[arg-type]


def test_contract_bodies_are_the_documented_bytes() -> None:
    """Word for word from the product documentation (shared/reference), spaces included."""
    assert contract.error_body(contract.MISSING_API_KEY) == '{"error": "Missing API key"}'
    assert (
        contract.error_body(contract.INVALID_API_KEY) == '{"error": "Invalid or revoked API key"}'
    )
    assert (
        contract.error_body(contract.INVALID_BEARER_TOKEN)
        == '{"error": "Missing or invalid bearer token"}'
    )
    assert contract.bearer_challenge(contract.READ_SCOPE) == 'Bearer scope="read:lucent"'
    assert contract.bearer_challenge(contract.WRITE_ISSUES_SCOPE) == 'Bearer scope="write:issues"'
    assert ", ".join(contract.INGEST_ALLOWED_HEADERS) == (
        "Content-Type, Content-Encoding, X-Lucent-Api-Key"
    )


def test_one_reset_hook_drops_every_per_container_object(monkeypatch: pytest.MonkeyPatch) -> None:
    from lucent import container
    from lucent.aws import dynamodb_client
    from lucent.settings import get_settings
    from tests.conftest import load_function

    settings, client = get_settings(), dynamodb_client()
    load_function("IssuesFunction")
    service = sys.modules["lucent_fn_IssuesFunction"].service
    monkeypatch.setenv("DATA_TABLE", "another-table")
    first = service()
    assert get_settings() is settings
    assert service() is first

    container.reset()

    assert get_settings().data_table == "another-table"
    assert dynamodb_client() is not client
    assert service() is not first


def test_the_data_tables_keys_are_spelled_in_lucent_datatable_only() -> None:
    """One module owns the table's key layout: no other code spells an ``ORG#`` key."""
    spelled = [
        str(path.relative_to(ROOT))
        for folder in (LAYER, ROOT / "functions", ROOT / "devtools", ROOT / "bench")
        for path in python_files(folder)
        if path != LAYER / "datatable.py" and "ORG#" in path.read_text()
    ]
    assert spelled == []
