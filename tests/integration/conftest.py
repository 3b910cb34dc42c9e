"""The integration suite's local APIs: one shared by the modules that need nothing special.

A module takes ``shared_api`` (the shared LocalApi) or ``local_apis.exclusive(...)`` (its own,
configured: the shared one stops first, as only one LocalApi may run per process). The modules
that share run first, so that the shared API starts once and stops before the others start.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lucent_dev.local_api import LocalApi
from tests.integration.live_api import LocalApis

_HERE = Path(__file__).parent


@pytest.fixture(scope="package")
def local_apis() -> Iterator[LocalApis]:
    apis = LocalApis()
    yield apis
    apis.release()  # nothing of it outlives this package (unit tests run moto in-process)


@pytest.fixture(scope="module")
def shared_api(local_apis: LocalApis) -> LocalApi:
    return local_apis.shared()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Within this package, the tests on the shared API first, in their order; the rest after."""
    slots = [i for i, item in enumerate(items) if _HERE in Path(str(item.path)).parents]
    ours = [items[i] for i in slots]
    ours.sort(key=lambda item: "shared_api" not in getattr(item, "fixturenames", ()))
    for slot, item in zip(slots, ours, strict=True):
        items[slot] = item
