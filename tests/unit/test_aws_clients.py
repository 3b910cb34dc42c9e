"""lucent.aws's clients: botocore sessions with a lean data loader (docs/performance.md, section 3).

These tests hold what the loader relies on in botocore's own code, and compare it with the
botocore the layer bundles: the version pinned in layers/common/requirements.txt, which every
test here first checks is the one installed (tests/unit/test_layer_pins.py has the comparison for
every file the functions' clients read). If a botocore upgrade starts listing every service during
client creation, or reads its data differently, they fail here rather than silently giving the
cold-start time back or changing what a client does.
"""

from __future__ import annotations

import json
from typing import Any

import botocore
import pytest
from botocore.exceptions import UnknownServiceError
from botocore.loaders import Loader

from lucent import aws as lucent_aws
from lucent.settings import get_settings
from tests.unit.test_layer_pins import layer_pins

TYPES = ("service-2", "endpoint-rule-set-1")


@pytest.fixture(autouse=True)
def _pinned_botocore() -> None:
    """Every comparison below is with the botocore the layer ships, not whatever is installed."""
    assert botocore.__version__ == layer_pins()["botocore"]


def test_creating_every_client_lists_no_service_folder_but_its_own(aws: dict[str, str]) -> None:
    settings = get_settings()
    lucent_aws.dynamodb_client(settings)
    lucent_aws.s3_client(settings)
    lucent_aws.secretsmanager_client(settings)
    lucent_aws.cognito_client(settings)
    loader = lucent_aws.session().get_component("data_loader")
    assert isinstance(loader, lucent_aws.LeanLoader)
    # Client creation asked for these lists (membership only) and never built one in full.
    assert [loader.list_available_services(t).full_listings for t in TYPES] == [0, 0]


@pytest.mark.parametrize("type_name", TYPES)
def test_the_service_list_is_botocores_own(type_name: str) -> None:
    botocores = Loader().list_available_services(type_name)
    names = lucent_aws.LeanLoader().list_available_services(type_name)
    assert "dynamodb" in botocores
    assert len(botocores) > 300
    # Membership, answered from each service's folder, agrees name by name...
    probes = [*botocores, "no-such-service", "", ".", "..", "../dynamodb", "dynamodb/2012-08-10"]
    assert [probe in names for probe in probes] == [probe in botocores for probe in probes]
    assert names.full_listings == 1  # the odd paths above were checked against the full list
    # ...and the list itself, when something asks for all of it, is botocore's.
    assert list(names) == botocores
    assert names == botocores
    assert len(names) == len(botocores)
    assert names[0] == botocores[0]


@pytest.mark.parametrize(
    "data_path",
    [
        "endpoints",
        "partitions",
        "_retry",
        "sdk-default-configuration",
        "dynamodb/2012-08-10/service-2",
        "s3/2006-03-01/endpoint-rule-set-1",
    ],
)
def test_data_files_read_as_botocore_reads_them_in_plain_dicts(data_path: str) -> None:
    botocores = Loader().load_data(data_path)
    plain = lucent_aws.LeanLoader().load_data(data_path)

    def dict_types(value: Any) -> set[type]:
        if isinstance(value, dict):
            return {type(value)}.union(*(dict_types(v) for v in value.values()))
        if isinstance(value, list):
            return set().union(*(dict_types(v) for v in value))
        return set()

    assert plain == botocores
    # The same keys in the same order (json.dumps walks both in order), in plain dicts.
    assert json.dumps(plain) == json.dumps(botocores)
    assert dict_types(plain) == {dict}


def test_an_unknown_service_is_botocores_error_naming_every_known_one() -> None:
    with pytest.raises(UnknownServiceError) as raised:
        lucent_aws.session().create_client("no-such-service", region_name="us-east-1")
    assert "no-such-service" in str(raised.value)
    assert "dynamodb, " in str(raised.value)
    assert "s3, " in str(raised.value)


def test_clients_reach_moto(aws: dict[str, str]) -> None:
    settings = get_settings()
    s3 = lucent_aws.s3_client(settings)
    s3.put_object(Bucket=aws["ReplayBucket"], Key="probe", Body=b"\x00bytes")
    assert s3.get_object(Bucket=aws["ReplayBucket"], Key="probe")["Body"].read() == b"\x00bytes"
    table = aws["RateLimitTable"]
    ddb = lucent_aws.dynamodb_client(settings)
    assert ddb.describe_table(TableName=table)["Table"]["TableName"] == table


def test_a_reset_gives_a_new_session() -> None:
    from lucent import container

    first = lucent_aws.session()
    assert lucent_aws.session() is first
    container.reset()
    assert lucent_aws.session() is not first
