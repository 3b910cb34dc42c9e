"""AWS clients built from Settings, with timeouts sized for a synchronous API.

Clients are created once per container and reused. The budget is sized so that a hanging
dependency fails *inside* the function's 10 s timeout, where it becomes our documented 503 with
Retry-After (or, for the rate-limit table, fail-open) instead of a bare API Gateway 5xx:
two attempts in total (``total_max_attempts`` counts the first one; ``max_attempts`` would count
retries only) x (1 s connect + 3 s read) + back-off stays under 10 s.

**Why botocore, not boto3, and a loader of our own** (docs/decisions/023-lean-botocore-loader.md,
with the measurements):

* we use none of what boto3 adds (resources, S3 transfer methods): clients come from a
  ``botocore.session.Session``, and boto3's import stays out of every cold start.
* botocore's ``Loader.list_available_services`` lists every service-model folder only to check
  that the one service asked for exists: ``LeanLoader`` answers that membership test from that
  service's own folder and lists everything only if asked to.
* botocore parses its data files with ``object_pairs_hook=OrderedDict``, which makes the C JSON
  scanner call back into Python for every object; ``PlainJSONFileLoader`` parses into plain
  dicts, which keep their order too.

Both are installed through botocore's public extension points (``Loader(file_loader=...)``,
``Session.register_component("data_loader", ...)``). The layer bundles the botocore they are
tested against (layers/common/requirements.txt); what they rely on in its code (that client
creation only tests membership of the service list) and that they read every file the clients
read as it does are checked by ``tests/unit/test_aws_clients.py`` and
``tests/unit/test_layer_pins.py``, which fail on a botocore upgrade that changes it.
"""

from __future__ import annotations

import gzip
import json
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, overload

import botocore.session
from botocore.config import Config
from botocore.loaders import JSONFileLoader, Loader

from lucent.container import on_reset, per_container
from lucent.settings import Settings, get_settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_s3.client import S3Client

CLIENT_CONFIG = Config(
    connect_timeout=1,
    read_timeout=3,
    retries={"mode": "standard", "total_max_attempts": 2},
    tcp_keepalive=True,
)

# botocore's data files, in its order of preference (JSONFileLoader's ``.json`` then ``.json.gz``).
_OPENERS: tuple[tuple[str, Callable[..., Any]], ...] = (
    (".json", open),
    (".json.gz", gzip.open),
)


class PlainJSONFileLoader(JSONFileLoader):
    """botocore's JSON file loader, parsing into plain dicts instead of ``OrderedDict``s."""

    def exists(self, file_path: str) -> bool:
        return any(os.path.isfile(file_path + ext) for ext, _ in _OPENERS)

    def load_file(self, file_path: str) -> Any:
        for ext, opener in _OPENERS:
            full_path = file_path + ext
            if os.path.isfile(full_path):
                with opener(full_path, "rb") as stream:
                    return json.loads(stream.read().decode("utf-8"))
        return None


class ServiceNames(Sequence[str]):
    """What ``Loader.list_available_services`` returns, without listing every service to answer
    ``name in services``: membership looks in that service's own folders; anything else (the
    sorted list an error message or ``get_available_services`` shows) lists them all, once."""

    def __init__(self, loader: LeanLoader, type_name: str) -> None:
        self._loader = loader
        self._type_name = type_name
        self._everything: list[str] | None = None
        self.full_listings = 0  # how often the whole list was built (tests hold it to 0)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str) or not name or name in (".", "..") or os.sep in name:
            return name in self._all()
        return self._loader.has_service(name, self._type_name)

    def _all(self) -> list[str]:
        if self._everything is None:
            self.full_listings += 1
            self._everything = self._loader.list_every_service(self._type_name)
        return self._everything

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...
    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        return self._all()[index]

    def __len__(self) -> int:
        return len(self._all())

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __eq__(self, other: object) -> bool:
        return list(self) == other if isinstance(other, list) else NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(self._all())


class LeanLoader(Loader):
    """botocore's data loader (same search paths, same files), with ``ServiceNames`` as its list of
    services and plain-dict JSON."""

    def __init__(self, extra_search_paths: list[str] | None = None) -> None:
        super().__init__(extra_search_paths=extra_search_paths, file_loader=PlainJSONFileLoader())
        self._service_names: dict[str, ServiceNames] = {}

    def list_available_services(self, type_name: str) -> ServiceNames:  # type: ignore[override]
        names = self._service_names.get(type_name)
        if names is None:
            names = self._service_names[type_name] = ServiceNames(self, type_name)
        return names

    def list_every_service(self, type_name: str) -> list[str]:
        """botocore's own listing: every folder of every search path that has ``type_name``."""
        return super().list_available_services(type_name)

    def has_service(self, name: str, type_name: str) -> bool:
        """Whether ``list_every_service(type_name)`` would name ``name``, from its folders only."""
        for search_path in self.search_paths:
            service_dir = os.path.join(search_path, name)
            if not os.path.isdir(search_path) or not os.path.isdir(service_dir):
                continue
            for api_version in os.listdir(service_dir):
                if self.file_loader.exists(os.path.join(service_dir, api_version, type_name)):
                    return True
        return False


def new_session() -> botocore.session.Session:
    """A botocore session whose data loader is a ``LeanLoader`` with botocore's search paths
    (its own data, ``~/.aws/models``, and ``AWS_DATA_PATH`` as botocore reads it)."""
    session = botocore.session.get_session()
    data_path = session.get_config_variable("data_path")
    extra = (
        [os.path.expanduser(os.path.expandvars(p)) for p in data_path.split(os.pathsep)]
        if data_path
        else None
    )
    session.register_component("data_loader", LeanLoader(extra_search_paths=extra))
    return session


# One session per container: each new session loads botocore's service data again
# (docs/decisions/023-lean-botocore-loader.md). A session is not safe for concurrent client
# creation, hence the lock (the local API and tests use threads).
_session: botocore.session.Session | None = None
_session_lock = threading.RLock()


def session() -> botocore.session.Session:
    """The container's session (made on first use), which every client of this module comes from."""
    global _session  # noqa: PLW0603
    with _session_lock:
        if _session is None:
            _session = new_session()
        return _session


def _client(service: str, settings: Settings) -> Any:
    with _session_lock:  # re-entrant: session() takes it too
        return session().create_client(
            service,
            region_name=settings.region,
            endpoint_url=settings.endpoint_url,
            config=CLIENT_CONFIG,
        )


def _forget_session() -> None:
    global _session  # noqa: PLW0603
    with _session_lock:
        _session = None


# A new session after a reset: botocore hooks registered since (the bench's call counter, a
# test's stubs) attach to the session they see, so an old one would hide the calls.
on_reset(_forget_session)


@per_container
def dynamodb_client(settings: Settings | None = None) -> DynamoDBClient:
    return _client("dynamodb", settings or get_settings())  # type: ignore[no-any-return]


@per_container
def s3_client(settings: Settings | None = None) -> S3Client:
    return _client("s3", settings or get_settings())  # type: ignore[no-any-return]


@per_container
def secretsmanager_client(settings: Settings | None = None) -> Any:
    return _client("secretsmanager", settings or get_settings())


@per_container
def cognito_client(settings: Settings | None = None) -> Any:
    """The OAuth server's password check (docs/oauth.md): Cognito's InitiateAuth and GetUser."""
    return _client("cognito-idp", settings or get_settings())
