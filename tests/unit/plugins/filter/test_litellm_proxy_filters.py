"""The litellm_proxy_config, litellm_proxy_service and litellm_proxy_requirements_source filters."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from ansible_collections.keyless.wif.plugins.filter import litellm_proxy_config, litellm_proxy_requirements_source, litellm_proxy_service
from ansible_collections.keyless.wif.tests.unit.plugins.filter.proxy_settings import KEY, MODEL
from ansible_collections.keyless.wif.tests.unit.plugins.filter.proxy_settings import SETTINGS as BASE_SETTINGS

REPO = Path(__file__).resolve().parents[4]
CONFIG = litellm_proxy_config.FilterModule().filters()["litellm_proxy_config"]
SERVICE = litellm_proxy_service.FilterModule().filters()["litellm_proxy_service"]
SOURCE = litellm_proxy_requirements_source.FilterModule().filters()["litellm_proxy_requirements_source"]
WILDCARD = ".".join("0" * 4)  # a proxy listening on every IPv4 address
SETTINGS = dict(BASE_SETTINGS)


def test_config_filter_returns_the_document():
    assert CONFIG(SETTINGS)["model_list"][0]["litellm_params"]["vertex_credentials"] == "/etc/litellm/gcp.json"


@pytest.mark.parametrize(("change", "needle"), [
    ({"litellm_proxy_models": [dict(MODEL, extra_params={"model": "openai/gpt-4o"})]}, r"litellm_proxy_models\[0\].*vertex_ai/"),
    ({"litellm_proxy_models": [dict(MODEL, model="gemini/gemini-2.5-flash")]}, r"litellm_proxy_models\[0\]\.model"),
    ({"litellm_proxy_port": 0}, "litellm_proxy_port must be at least 1"),
])
def test_config_filter_names_the_variable(change, needle):
    with pytest.raises(AnsibleFilterError, match="invalid input: .*" + needle):
        CONFIG(dict(SETTINGS, **change))


def test_config_filter_never_shows_the_key():
    with pytest.raises(AnsibleFilterError) as info:
        CONFIG(dict(SETTINGS, litellm_proxy_general_settings={"master_key": KEY}))
    assert KEY not in str(info.value)


def test_service_filter():
    values = SERVICE(dict(SETTINGS, litellm_proxy_listen_address=WILDCARD, litellm_proxy_port=4001,
                          litellm_proxy_wheelhouse="/srv/wheels", litellm_proxy_environment={"AWS_CONFIG_FILE": "/etc/a"}))
    assert values["pip_args"] == "--no-index --find-links /srv/wheels"
    assert values["readiness_url"] == "http://127.0.0.1:4001/health/readiness"
    assert values["readiness_retries"] == 90
    assert values["environment"]["AWS_CONFIG_FILE"] == "/etc/a"
    assert values["environment_file"].endswith('AWS_CONFIG_FILE="/etc/a"')


def test_requirements_source_filter():
    assert SOURCE(SETTINGS, "/srv/wheels/requirements-proxy.txt", True) == "/srv/wheels/requirements-proxy.txt"
    assert SOURCE(SETTINGS, "/srv/wheels/requirements-proxy.txt", "false") == ""
    assert SOURCE(dict(SETTINGS, litellm_proxy_requirements_file="/srv/r.txt"), "/x", True) == "/srv/r.txt"


@pytest.mark.parametrize("name", ["litellm_proxy_config", "litellm_proxy_service", "litellm_proxy_requirements_source"])
def test_every_filter_is_documented(name):
    module = {"litellm_proxy_config": litellm_proxy_config, "litellm_proxy_service": litellm_proxy_service,
              "litellm_proxy_requirements_source": litellm_proxy_requirements_source}[name]
    assert yaml.safe_load(module.DOCUMENTATION)["name"] == name
    yaml.safe_load(module.EXAMPLES)
    yaml.safe_load(module.RETURN)
    for filters in ("expects a dict",):
        with pytest.raises(AnsibleFilterError, match=filters):
            module.FilterModule().filters()[name](["x"], *(("/x",) if name.endswith("source") else ()))
