"""The stack's generated secrets: the boot script and the health check rely on their shapes."""

import re

import pytest

from ansible_collections.geusemaker.stack.plugins.module_utils import ssm_parameter
from tests.support.boot_harness import SECRET_NAMES


def test_every_secret_the_instance_reads_is_generated():
    assert set(ssm_parameter.SECRETS) == set(SECRET_NAMES)


@pytest.mark.parametrize("secret", ["qdrant_api_key", "proxy_password", "db_password"])
def test_alphanumeric_and_long(secret):
    values = {ssm_parameter.generate(secret) for _unused in range(50)}
    assert len(values) == 50
    # nginx compares the Qdrant key in a map, and the boot script refuses anything but [A-Za-z0-9_-].
    assert all(re.match(r"^[A-Za-z0-9]{32,}$", value) for value in values)


def test_owner_password_meets_n8n_rules():
    for _unused in range(200):
        value = ssm_parameter.generate("n8n_owner_password")
        assert 8 <= len(value) <= 64 and re.search(r"\d", value) and re.search(r"[A-Z]", value)
        assert value.isalnum()


def test_unknown_secret():
    with pytest.raises(ValueError):
        ssm_parameter.generate("root_password")
