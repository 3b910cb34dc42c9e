"""`lucent replay` and the canary against a running local API, over real HTTP.

The replay must pass against the local API; a wrong expectation, a dead URL or a broken response
must make it fail (non-zero exit, FAIL lines naming the difference). The canary handler runs the
same engine with its credentials from Secrets Manager (the embedded moto server's).
"""

from __future__ import annotations

import importlib.util
import io
import json
import re
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from lucent.canary.engine import load_manifest
from lucent_dev import demo
from lucent_dev import template as tpl
from lucent_dev.cli import build_parser
from lucent_dev.commands import replay as replay_command
from lucent_dev.gateway import LocalContext
from lucent_dev.local_api import LocalApi
from tests.integration.live_api import LocalApis

EVENTS = tpl.PROJECT_ROOT / "events"
REPLAYED = [spec for spec in load_manifest(EVENTS).events if spec.http is not None]


@pytest.fixture(scope="module")
def api(local_apis: LocalApis) -> Iterator[LocalApi]:
    # function_logs: the functions' stdout (logs, metrics) is not silenced; the canary's EMF is read.
    with local_apis.exclusive(function_logs=True) as running:
        yield running


@pytest.fixture
def credentials_file(api: LocalApi, tmp_path: Path) -> Path:
    path = tmp_path / "credentials.json"
    path.write_text(json.dumps(api.state()))
    return path


def run_replay(*argv: str) -> tuple[int, str]:
    args = build_parser().parse_args(["replay", *argv])
    out = io.StringIO()
    code = replay_command.run(args, out)
    return code, out.getvalue()


def test_replay_of_every_event_passes_against_the_local_api(credentials_file: Path) -> None:
    code, output = run_replay("--credentials", str(credentials_file))
    assert code == 0, output
    assert output.rstrip().endswith(f"{len(REPLAYED)} passed, 0 failed, 0 skipped")
    lines = output.splitlines()
    # Progress while it runs: one numbered line per event, in manifest order.
    progress = [line for line in lines if line.startswith("[")]
    assert len(progress) == len(REPLAYED)
    for n, (line, spec) in enumerate(zip(progress, REPLAYED, strict=True), start=1):
        assert line.startswith(f"[{n:>2}/{len(REPLAYED)}] PASS {spec.name} "), line
    # Then the summary table: a header, a rule and one row per event.
    header = lines.index(next(line for line in lines if line.startswith("event ")))
    assert lines[header].split() == ["event", "api", "result", "status", "ms"]
    rows = lines[header + 2 : header + 2 + len(REPLAYED)]
    assert [row.split()[:3] for row in rows] == [[s.name, s.api, "PASS"] for s in REPLAYED]


def test_replay_substitutes_the_deployment_credentials(
    api: LocalApi, credentials_file: Path, tmp_path: Path
) -> None:
    # A deployment whose keys differ from the demo ones: issue new ones and replay with them.
    from lucent.auth.credentials import CredentialKind, issue_credential
    from lucent.auth.store import CredentialStore

    assert api.aws is not None
    store = CredentialStore(api.aws.client("dynamodb"), api.names["CredentialsTable"])
    fresh_public = issue_credential(CredentialKind.PUBLIC, "org_demo")
    fresh_api = issue_credential(CredentialKind.API, "org_demo")
    store.put(fresh_public)
    store.put(fresh_api)
    values = {
        **json.loads(credentials_file.read_text()),
        "public_key": fresh_public.secret,
        "api_key": fresh_api.secret,
    }
    path = tmp_path / "fresh.json"
    path.write_text(json.dumps(values))
    code, output = run_replay(
        "--credentials", str(path), "--only", "ingest-post-json", "issues-list-issues"
    )
    assert code == 0, output
    assert output.rstrip().endswith("2 passed, 0 failed, 0 skipped")
    # And with a key the deployment does not know, the same event fails.
    values["api_key"] = issue_credential(CredentialKind.API, "org_demo").secret
    path.write_text(json.dumps(values))
    code, output = run_replay("--credentials", str(path), "--only", "issues-list-issues")
    assert code == 1
    assert "FAIL issues-list-issues 401" in output
    assert "status 401, expected 200" in output


def wrong_events(tmp_path: Path, name: str, http: dict[str, Any]) -> Path:
    events = tmp_path / "events"
    shutil.copytree(EVENTS, events)
    manifest = json.loads((events / "manifest.json").read_text())
    for entry in manifest["events"]:
        if entry["file"] == f"{name}.json":
            entry["http"] = http
    (events / "manifest.json").write_text(json.dumps(manifest))
    return events


@pytest.mark.parametrize(
    ("name", "http", "problem"),
    [
        ("issues-list-issues", {"status": 418}, "status 200, expected 418"),
        (
            "ingest-missing-key",
            {"status": 401, "body": '{"error": "Missing key"}'},
            'body \'{"error": "Missing API key"}\', expected \'{"error": "Missing key"}\'',
        ),
        (
            "ingest-preflight",
            {"status": 204, "headers": {"Access-Control-Allow-Origin": "https://x"}},
            "header Access-Control-Allow-Origin: '*', expected 'https://x'",
        ),
        ("issues-get-issue", {"status": 200, "json": {"id": "iss_other"}}, "JSON 'id' is"),
    ],
)
def test_a_wrong_expectation_fails_the_replay(
    credentials_file: Path, tmp_path: Path, name: str, http: dict[str, Any], problem: str
) -> None:
    events = wrong_events(tmp_path, name, http)
    code, output = run_replay("--credentials", str(credentials_file), "--events", str(events))
    assert code == 1
    assert output.rstrip().endswith(f"{len(REPLAYED) - 1} passed, 1 failed, 0 skipped")
    [failed] = [line for line in output.splitlines() if line.startswith("[") and " FAIL " in line]
    assert f"FAIL {name} " in failed
    assert problem in failed


def test_roles_the_deployment_lacks_are_skipped_not_failed(
    credentials_file: Path, tmp_path: Path
) -> None:
    values = json.loads(credentials_file.read_text())
    del values["other_api_key"], values["revoked_public_key"]
    path = tmp_path / "partial.json"
    path.write_text(json.dumps(values))
    code, output = run_replay("--credentials", str(path))
    assert code == 0, output
    skipped = sorted(re.findall(r"^\[[ \d]+/\d+\] SKIP (\S+)", output, re.MULTILINE))
    assert skipped == ["ingest-revoked-key", "issues-get-issue-other-org"]
    assert "SKIP ingest-revoked-key -  no value for revoked_public_key" in output
    assert output.rstrip().endswith(f"{len(REPLAYED) - 2} passed, 0 failed, 2 skipped")


def test_an_unreachable_deployment_fails(credentials_file: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    code, output = run_replay(
        "--credentials", str(credentials_file), "--url", dead, "--only", "issues-list-issues"
    )
    assert code == 1
    assert "FAIL issues-list-issues -  request failed:" in output


def test_replay_defaults_to_dev_json(
    api: LocalApi, credentials_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(replay_command, "DEV_STATE_PATH", credentials_file)
    code, output = run_replay("--only", "issues-missing-token")
    assert code == 0, output
    assert f"against ingest {api.url}, data {api.url}" in output


def test_replay_without_dev_json_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from lucent_dev.cli import main

    monkeypatch.setattr(replay_command, "DEV_STATE_PATH", tmp_path / "missing.json")
    assert main(["replay"]) == 2
    assert "start the local API with `make dev` first, or pass --credentials FILE" in (
        capsys.readouterr().err
    )


# --- the canary ------------------------------------------------------------------------------


class CanaryContext(LocalContext):
    """The canary's Lambda context: template.yaml gives it a 120 s timeout."""

    def __init__(self) -> None:
        super().__init__("CanaryFunction")

    def get_remaining_time_in_millis(self) -> int:
        return 120_000


def load_packaged_canary(tmp_path: Path) -> Any:
    """The handler as `sam build` packs it: a copy of its CodeUri with the events/ symlink
    followed (the files it points to are copied, as SAM's builder does)."""
    artifacts = tmp_path / "artifacts"
    shutil.copytree(tpl.functions()["CanaryFunction"].code_uri, artifacts, symlinks=False)
    assert not (artifacts / "events").is_symlink()
    assert sorted(p.name for p in (artifacts / "events").iterdir()) == sorted(
        p.name for p in EVENTS.iterdir()
    )
    spec = importlib.util.spec_from_file_location(
        "packaged_canary_handler", artifacts / "canary_handler.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.events_dir() == artifacts / "events"
    return module


def packaged_canary_against(
    api: LocalApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, values: dict[str, str]
) -> Any:
    """The packaged canary, configured as the stack would: its secret holds ``values`` and its
    URLs point at ``api``."""
    assert api.aws is not None
    monkeypatch.setenv("AWS_ENDPOINT_URL", api.aws.endpoint_url)
    secrets = boto3.client("secretsmanager", region_name="us-east-1")
    name = f"lucent/canary-{tmp_path.name}"
    arn = secrets.create_secret(Name=name, SecretString=json.dumps(values))["ARN"]
    monkeypatch.setenv("CANARY_CREDENTIALS_SECRET_ARN", arn)
    monkeypatch.setenv("INGEST_URL", api.url)
    monkeypatch.setenv("DATA_URL", api.url)
    monkeypatch.setenv("MCP_URL", api.url)  # the local API serves MCP on the same host
    return load_packaged_canary(tmp_path)


def demo_values(api: LocalApi) -> dict[str, str]:
    return {k: v for k, v in api.state().items() if k in demo.roles()}


def test_canary_handler_replays_with_its_secret_and_publishes_metrics(
    api: LocalApi,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    values = demo_values(api)
    del values["other_api_key"]  # a deployment without a second organization
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "canary")
    handler = packaged_canary_against(api, tmp_path, monkeypatch, values)
    capsys.readouterr()

    result = handler.lambda_handler({"source": "aws.events"}, CanaryContext())

    assert result == {
        "passed": len(REPLAYED) - 1,
        "failed": 0,
        "skipped": 1,
        "failures": [],
    }
    emf = [
        json.loads(line)
        for line in capsys.readouterr().out.splitlines()
        if line.startswith('{"_aws"') and "CanaryPassed" in line
    ]
    assert len(emf) == 1
    # EMF carries each metric's values as a list.
    assert (emf[0]["CanaryPassed"], emf[0]["CanaryFailed"], emf[0]["CanarySkipped"]) == (
        [len(REPLAYED) - 1],
        [0],
        [1],
    )
    assert emf[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Lucent"


def test_canary_reports_failures_without_secrets(
    api: LocalApi,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from lucent.auth.credentials import CredentialKind, generate_secret

    values = demo_values(api)
    values["api_key"] = generate_secret(CredentialKind.API)  # unknown to the deployment
    handler = packaged_canary_against(api, tmp_path, monkeypatch, values)
    capsys.readouterr()

    result = handler.lambda_handler({}, CanaryContext())

    uses_api_key = sorted(
        s.name for s in REPLAYED if demo.roles()["api_key"] in (EVENTS / s.file).read_text()
    )
    assert result["failed"] == len(result["failures"]) > 0
    assert set(result["failures"]) <= set(uses_api_key)
    out = capsys.readouterr().out
    failures = [json.loads(line) for line in out.splitlines() if "canary check failed" in line]
    assert sorted(f["event"] for f in failures) == sorted(f"{n}.json" for n in result["failures"])
    assert values["api_key"] not in out


def test_events_become_the_http_requests_they_stand_for() -> None:
    from lucent.canary.engine import http_call

    manifest = load_manifest(EVENTS)
    [gzip_spec] = [s for s in manifest.events if s.name == "ingest-beacon-text-plain-gzip"]
    event = manifest.event(gzip_spec)
    call = http_call(event, "https://x.example/prod/", {demo.roles()["public_key"]: "luc_pk_real"})
    assert call.method == "POST"
    assert call.url == "https://x.example/prod/api/sdk/replay?api_key=luc_pk_real"
    assert call.body is not None
    assert call.body[:2] == b"\x1f\x8b"  # base64 decoded: the gzip bytes as the browser sent them
    names = [name.lower() for name, _ in call.headers]
    assert "content-type" in names
    assert not {"host", "x-forwarded-for", "x-amzn-trace-id"} & set(names)
    [authorizer_spec] = [s for s in manifest.events if s.name == "authorizer-data-read-valid"]
    call = http_call(manifest.event(authorizer_spec), "http://local", {})
    assert (call.method, call.url, call.body) == ("GET", "http://local/api/v1/issues", None)
    assert ("Authorization", f"Bearer {demo.roles()['api_key']}") in call.headers


def test_replay_out_of_time_fails_what_it_could_not_run(credentials_file: Path) -> None:
    from lucent.canary.engine import replay, summary

    values = json.loads(credentials_file.read_text())
    results = replay(
        load_manifest(EVENTS),
        {"ingest": values["ingest_url"], "data": values["data_url"]},
        values,
        time_left=lambda: 0.0,
    )
    assert summary(results) == {"passed": 0, "failed": len(REPLAYED), "skipped": 0}
    assert {tuple(r.problems) for r in results} == {("not run: out of time",)}
