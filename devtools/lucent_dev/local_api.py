"""The local API (`make dev`): both REST APIs on one port, backed by an embedded AWS.

* Embedded AWS: moto's ``ThreadedMotoServer`` on loopback (a free port), holding every table
  (with TTL) and bucket of template.yaml, seeded with the demo organizations (lucent_dev.demo).
* The functions run in this process, loaded from their ``CodeUri``/``Handler``, with the
  environment template.yaml gives them (``!Ref``s resolved to the local names) and
  ``AWS_ENDPOINT_URL`` pointing at the embedded AWS. One invocation at a time, process-wide: in
  Lambda every container has its own Powertools metrics buffer and logger context, here all
  functions share one, so invocations must not interleave (else one flushes another's metrics).
* HTTP: a ``ThreadingHTTPServer`` turns each request into a ``gateway.HttpRequest`` (raw body
  bytes, repeated headers kept) for ``gateway.Gateway``, which does what API Gateway would:
  routes, authorizer, gateway responses, binary media types, payload limits, unknown routes.
  Nothing here knows a route: they all come from template.yaml.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import time
import traceback
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TextIO

from lucent import container
from lucent.redaction import redact_text
from lucent_dev import demo, identity
from lucent_dev import template as tpl
from lucent_dev.gateway import MAX_REQUEST_BYTES, Gateway, HttpRequest, HttpResponse

REGION = "us-east-1"
DEFAULT_PORT = 3000
LOOPBACK = "127.0.0.1"
STAGE = "local"
# What the embedded AWS accepts; set so that no real profile or credential is ever consulted.
FAKE_AWS_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}
# Keys of .lucent/dev.json that the issue names; the other demo roles are added after them.
_STATE_ROLES = ("public_key", "api_key", "api_key_write", "oauth_token", "legacy_key")


class LocalApiError(RuntimeError):
    """The local API cannot start (port in use, a handler that does not import...)."""


# --- the embedded AWS ------------------------------------------------------------------------


class EmbeddedAws:
    """moto's HTTP server on loopback, on a free port."""

    def __init__(self, host: str = LOOPBACK, port: int = 0) -> None:
        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
        self.endpoint_url = ""

    def start(self) -> EmbeddedAws:
        import logging

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-call access log
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        # moto's state is per process: start empty even if an earlier server in this process
        # (a previous test) left tables behind, and leave nothing behind on stop.
        self._reset()
        return self

    def _reset(self) -> None:
        import urllib.request

        reset = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(reset, timeout=10):
            pass

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self._reset()
        self._server.stop()

    def client(self, service: str) -> Any:
        import boto3

        return boto3.session.Session(
            aws_access_key_id=FAKE_AWS_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_AWS_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            region_name=REGION,
        ).client(service, endpoint_url=self.endpoint_url)  # type: ignore[call-overload]


def provision(dynamodb: Any, s3: Any) -> dict[str, str]:
    """Every table and bucket of template.yaml, seeded with the demo data; logical id -> name."""
    names = tpl.create_storage(dynamodb, s3)
    demo.seed_all(dynamodb, names)
    return names


def function_environment(
    names: Mapping[str, str],
    endpoint_url: str | None,
    *,
    region: str = REGION,
    parameters: Mapping[str, str] | None = None,
    functions: Mapping[str, tpl.FunctionSpec] | None = None,
) -> dict[str, str]:
    """The environment every function gets, merged (they share one process).

    Template variables resolve against local names and parameter defaults; the only variable
    whose value differs between functions, POWERTOOLS_SERVICE_NAME, is left out.
    """
    params = {**tpl.parameter_defaults(), **(parameters or {})}
    env: dict[str, str] = {}
    if functions is None:
        served = served_functions()
        functions = {k: v for k, v in tpl.functions().items() if k in served}
    for spec in functions.values():
        env.update(tpl.resolve_environment(spec, names, params))
    env.pop("POWERTOOLS_SERVICE_NAME", None)
    env.update(FAKE_AWS_CREDENTIALS)
    env.update(AWS_REGION=region, AWS_DEFAULT_REGION=region, POWERTOOLS_TRACE_DISABLED="true")
    if endpoint_url:
        env["AWS_ENDPOINT_URL"] = endpoint_url
    return env


_ENV_LOCK = threading.Lock()
# Powertools' Metrics buffer and Logger context are process-wide singletons: one per container in
# Lambda, one for all functions here. Invocations take turns so each flushes only its own.
_INVOCATION_LOCK = threading.Lock()


def apply_environment(env: Mapping[str, str]) -> bool:
    """Make ``os.environ`` hold ``env`` (dropping AWS_PROFILE); True if anything changed.

    When it changes, the layer's per-container state (settings, boto3 clients, services) is
    dropped (``lucent.container.reset``) so that the next call reads the new values.
    """
    with _ENV_LOCK:
        changed = "AWS_PROFILE" in os.environ or any(os.environ.get(k) != v for k, v in env.items())
        if changed:
            os.environ.pop("AWS_PROFILE", None)
            os.environ.update(env)
            container.reset()
        return changed


# --- functions -------------------------------------------------------------------------------


class Container:
    """One function's handler: like a Lambda container, it serves one request at a time (and,
    because the functions share this process's Powertools singletons, never alongside another).

    Before each call it makes sure the process environment is the function's (tests may have
    changed it), as it would be in a real container.
    """

    def __init__(
        self,
        logical_id: str,
        handler: tpl.Handler,
        env: Mapping[str, str],
        errors: TextIO | None = None,
        quiet: bool = False,
    ) -> None:
        self.logical_id = logical_id
        self.handler = handler
        self.env = dict(env)
        self.errors = errors
        # Quiet: the function's stdout (JSON logs, CloudWatch EMF metric lines) goes nowhere.
        # Metrics stay enabled: with POWERTOOLS_METRICS_DISABLED, Powertools neither prints nor
        # clears its buffer, which then grows across invocations.
        self.quiet = quiet

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        with _INVOCATION_LOCK, _stdout_to_devnull(self.quiet):
            apply_environment(self.env)
            try:
                return self.handler(event, context)
            except Exception as exc:
                if str(exc) != "Unauthorized" and self.errors is not None:
                    # The gateway turns this into its 5xx response; the developer needs the cause.
                    print(f"{self.logical_id} raised:", file=self.errors)
                    traceback.print_exc(file=self.errors)
                raise


def served_functions(template: Mapping[str, Any] | None = None) -> list[str]:
    """Functions the APIs call: every route's function and every API's authorizer."""
    names = {route.function for route in tpl.routes(template)}
    names |= {a.authorizer_function for a in tpl.apis(template).values() if a.authorizer_function}
    return sorted(names)


@contextlib.contextmanager
def _stdout_to_devnull(enabled: bool) -> Iterator[None]:
    if not enabled:
        yield
        return
    with open(os.devnull, "w", encoding="utf-8") as sink, contextlib.redirect_stdout(sink):
        yield


def load_containers(
    env: Mapping[str, str], errors: TextIO | None = None, quiet: bool = False
) -> dict[str, Container]:
    specs = tpl.functions()
    return {
        logical_id: Container(
            logical_id, tpl.load_handler(specs[logical_id], fresh=True), env, errors, quiet=quiet
        )
        for logical_id in served_functions()
    }


# --- HTTP ------------------------------------------------------------------------------------


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "lucent-local"
    sys_version = ""
    timeout = 60  # idle keep-alive connections end after a minute
    # Headers and body go out in separate writes: without TCP_NODELAY, Nagle and delayed ACKs
    # would add ~40 ms to every keep-alive response.
    disable_nagle_algorithm = True
    server: _HttpServer

    def do_request(self) -> None:
        started = time.perf_counter()
        path, _, query = self.path.partition("?")
        body, too_large = self._read_body()
        request = HttpRequest(
            method=self.command,
            path=path,
            headers=list(self.headers.items()),
            query=query,
            body=body,
            source_ip=self.client_address[0],
        )
        response = self.server.api.gateway.handle(request)
        try:
            self._write(response, close=too_large)
        except (BrokenPipeError, ConnectionResetError):
            # The client left before reading the answer (a browser may drop a beacon's
            # connection on unload). The request was handled all the same: log it.
            self.close_connection = True
        elapsed_ms = (time.perf_counter() - started) * 1000
        self.server.api.log_request(self.command, self.path, response, elapsed_ms)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = do_request

    def _read_body(self) -> tuple[bytes, bool]:
        """The raw body; past the payload limit, only enough of it to be refused (413)."""
        limit = MAX_REQUEST_BYTES + 1
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked(limit)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(min(length, limit))
        remaining = length - len(body)
        while remaining > 0:  # drain the rest so the connection stays in step
            chunk = self.rfile.read(min(remaining, 1 << 20))
            if not chunk:
                break
            remaining -= len(chunk)
        return body, length >= limit

    def _read_chunked(self, limit: int) -> tuple[bytes, bool]:
        parts: list[bytes] = []
        size_so_far = 0
        while True:
            size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                break
            chunk = self.rfile.read(size)
            self.rfile.readline()
            if size_so_far < limit:
                parts.append(chunk[: limit - size_so_far])
            size_so_far += size
        return b"".join(parts), size_so_far >= limit

    def _write(self, response: HttpResponse, close: bool) -> None:
        self.send_response(response.status)
        for name, value in response.headers.items():
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per request comes from LocalApi.log_request


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], api: LocalApi) -> None:
        self.api = api
        super().__init__(address, _RequestHandler)


# --- the local API ---------------------------------------------------------------------------


class LocalApi:
    """Embedded AWS + functions + gateway + HTTP server. ``port=0`` picks a free port.

    Usable from tests: ``with LocalApi(port=0) as api: urlopen(api.url + "/api/v1/issues")``.
    """

    def __init__(
        self,
        host: str = LOOPBACK,
        port: int = DEFAULT_PORT,
        *,
        state_path: Path | None = None,
        log: TextIO | None = None,
        function_logs: bool = False,
    ) -> None:
        self.host = host
        self.port = port
        self.state_path = state_path
        self.log = log
        self.function_logs = function_logs
        self.aws: EmbeddedAws | None = None
        self.names: dict[str, str] = {}
        self.env: dict[str, str] = {}
        self.containers: dict[str, Container] = {}
        self.gateway: Gateway
        self.started_seconds = 0.0
        self._http: _HttpServer | None = None
        self._thread: threading.Thread | None = None
        self._saved_env: dict[str, str | None] = {}
        self._log_lock = threading.Lock()
        self._saved_log_level: int | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> LocalApi:
        started = time.perf_counter()
        try:
            self._http = _HttpServer((self.host, self.port), self)
        except OSError as exc:
            raise LocalApiError(
                f"cannot listen on {self.host}:{self.port} ({exc.strerror}): "
                "choose another port, e.g. PORT=3001 make dev"
            ) from exc
        try:
            self.aws = EmbeddedAws(self.host).start()
            self.names = provision(self.aws.client("dynamodb"), self.aws.client("s3"))
            self.names.update(identity.provision(self.aws.client("cognito-idp")))  # docs/oauth.md
            parameters = {} if self.function_logs else {"LogLevel": "WARNING"}
            self.env = function_environment(
                self.names, self.aws.endpoint_url, parameters=parameters
            )
            self._saved_env = {
                k: os.environ.get(k)
                for k in [*self.env, "AWS_PROFILE", "POWERTOOLS_METRICS_DISABLED"]
            }
            apply_environment(self.env)
            self._quiet_logs()
            self.containers = load_containers(
                self.env, errors=sys.stderr, quiet=not self.function_logs
            )
            self.gateway = Gateway(self.containers, stage=STAGE, region=REGION)
        except BaseException:
            self._shutdown_quietly()
            raise
        self.port = self._http.server_address[1]
        self._thread = threading.Thread(
            target=self._http.serve_forever, name="lucent-local-api", daemon=True
        )
        self._thread.start()
        if self.state_path is not None:
            self.state_path.parent.mkdir(parents=True, exist_ok=True)
            self.state_path.write_text(json.dumps(self.state(), indent=2) + "\n", "utf-8")
        self.started_seconds = time.perf_counter() - started
        return self

    def stop(self) -> None:
        self._shutdown_quietly()

    def _quiet_logs(self) -> None:
        """One line per request: the functions' INFO logs only with ``function_logs``."""
        import logging

        from lucent.observability import logger

        self._saved_log_level = logger.log_level
        if not self.function_logs:
            logger.setLevel(logging.WARNING)

    def _shutdown_quietly(self) -> None:
        if self._http is not None:
            if self._thread is not None:
                self._http.shutdown()
                self._thread.join()
            self._http.server_close()
            self._http = None
            self._thread = None
        if self.aws is not None:
            self.aws.stop()
            self.aws = None
        if self.state_path is not None and self.state_path.exists():
            with contextlib.suppress(ValueError, OSError):
                if json.loads(self.state_path.read_text("utf-8")).get("data_url") == self.url:
                    self.state_path.unlink()
        if self._saved_log_level is not None:
            from lucent.observability import logger

            logger.setLevel(self._saved_log_level)
            self._saved_log_level = None
        if self._saved_env:
            with _ENV_LOCK:
                for key, value in self._saved_env.items():
                    if value is None:
                        os.environ.pop(key, None)
                    else:
                        os.environ[key] = value
                container.reset()
            self._saved_env = {}

    def __enter__(self) -> LocalApi:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def serve_until_interrupted(self) -> None:
        """Block the calling (main) thread until Ctrl-C or SIGTERM, then stop everything."""
        import signal

        def terminate(signum: int, frame: Any) -> None:
            raise KeyboardInterrupt

        # SIGINT too: a shell starts background jobs with SIGINT ignored, and Ctrl-C must work.
        previous = {sig: signal.signal(sig, terminate) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            while self._thread is not None and self._thread.is_alive():
                self._thread.join(timeout=0.5)
        except KeyboardInterrupt:
            pass
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.stop()

    # --- what it serves ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def state(self) -> dict[str, Any]:
        """The contents of .lucent/dev.json."""
        roles = demo.roles()
        state: dict[str, Any] = {
            "ingest_url": self.url,
            "data_url": self.url,
            "org_id": roles["org_id"],
        }
        state.update({role: roles[role] for role in _STATE_ROLES})
        state.update(
            aws_endpoint_url=self.aws.endpoint_url if self.aws else None,
            region=REGION,
            bucket=self.names.get("ReplayBucket"),
            tables={
                lid: name for lid, name in self.names.items() if lid in tpl.table_definitions()
            },
        )
        # The other demo roles (revoked keys, the second organization, the demo issue), so that
        # `lucent replay` can run every event against the local API.
        state.update({role: value for role, value in roles.items() if role not in state})
        state["oauth"] = identity.dev_state(self.url)
        return state

    def log_request(
        self, method: str, raw_path: str, response: HttpResponse, elapsed_ms: float
    ) -> None:
        if self.log is None:
            return
        note = "" if response.outcome == "function" else f"  ({response.outcome})"
        line = f"{method} {redact_text(raw_path)} {response.status} {elapsed_ms:.1f} ms{note}"
        with self._log_lock:
            print(line, file=self.log, flush=True)

    def banner(self) -> str:
        state = self.state()
        routes = sorted({(r.path, r.method) for r in tpl.routes()})
        lines = [
            f"Lucent local API ready on {self.url} (started in {self.started_seconds:.1f} s)",
            "",
            "Routes (from template.yaml):",
            *(f"  {method:<7} {self.url}{path}" for path, method in routes),
            "",
            f"Demo organization {state['org_id']}:",
            f"  public key (ingest)         {state['public_key']}",
            f"  API key (read:lucent)       {state['api_key']}",
            f"  API key (+ write:issues)    {state['api_key_write']}",
            f"  OAuth token (read:lucent)   {state['oauth_token']}",
            f"  legacy MCP key              {state['legacy_key']}",
            f"  revoked public key          {state['revoked_public_key']}",
            f"Second organization {state['other_org_id']}: public key {state['other_public_key']}, "
            f"API key {state['other_api_key']}",
            "",
            *identity.banner_lines(state["oauth"]),
            f"Embedded AWS (moto): {state['aws_endpoint_url']}  region {REGION}",
            f"  tables: {', '.join(state['tables'].values())}; bucket: {state['bucket']}",
        ]
        if self.state_path is not None:
            lines.append(f"State for `lucent ... --local`, invoke and replay: {self.state_path}")
        lines += [
            "",
            "Try:",
            f"  curl -s -H 'Authorization: Bearer {state['api_key']}' {self.url}/api/v1/issues",
            f"  curl -s -X POST -H 'Content-Type: application/json' "
            f"-H 'X-Lucent-Api-Key: {state['public_key']}' \\",
            '    -d \'{"session_id": "s1", "sequence": 0, "events": '
            '[{"type": 4, "timestamp": 1700000000000, "data": {}}]}\' '
            f"{self.url}/api/sdk/replay",
            "",
            "Press Ctrl-C to stop.",
        ]
        return "\n".join(lines)


def is_reachable(url: str, timeout: float = 1.0) -> bool:
    """Whether something answers HTTP at ``url`` (used to tell a live dev.json from a stale one)."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout):
            return True
    except urllib.error.HTTPError:
        return True
    except (OSError, ValueError):
        return False
