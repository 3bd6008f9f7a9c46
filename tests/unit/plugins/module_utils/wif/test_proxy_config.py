"""module_utils/wif/proxy_config.py: config.yaml, its rules and the service values of litellm_proxy."""

from __future__ import annotations

import pytest
from ansible_collections.keyless.wif.plugins.module_utils.wif import host_inputs, proxy_config
from ansible_collections.keyless.wif.plugins.module_utils.wif.validate import ValidationError

WILDCARD = ".".join("0" * 4)  # a proxy listening on every IPv4 address
KEY = "sk-" + "k" * 40
MODEL = {"name": "gemini", "model": "vertex_ai/gemini-2.5-flash", "vertex_project": "wif-sandbox",
         "vertex_location": "us-central1"}
SETTINGS = {"litellm_proxy_models": [MODEL], "litellm_proxy_vertex_credentials": "/etc/litellm/gcp.json",
            "litellm_proxy_litellm_settings": {}, "litellm_proxy_general_settings": {}}


def test_build_config_fills_each_model_in_the_file_s_order():
    config = proxy_config.build_config(dict(SETTINGS, litellm_proxy_models=[
        MODEL, dict(MODEL, name="b", vertex_credentials="/srv/b.json", api_base="https://x.example",
                    extra_params={"temperature": 0, "vertex_location": "global"})]))
    assert list(config) == ["model_list", "litellm_settings", "general_settings"]
    first, second = config["model_list"]
    assert first == {"model_name": "gemini", "litellm_params": {
        "model": "vertex_ai/gemini-2.5-flash", "vertex_project": "wif-sandbox", "vertex_location": "us-central1",
        "vertex_credentials": "/etc/litellm/gcp.json"}}
    assert list(second["litellm_params"]) == ["model", "vertex_project", "vertex_location", "vertex_credentials",
                                              "api_base", "temperature"]
    assert second["litellm_params"]["vertex_location"] == "global"
    assert second["litellm_params"]["vertex_credentials"] == "/srv/b.json"
    assert config["general_settings"] == {"master_key": "os.environ/LITELLM_MASTER_KEY"}
    assert proxy_config.problems(config) == []


def test_an_empty_api_base_is_left_out():
    config = proxy_config.build_config(dict(SETTINGS, litellm_proxy_models=[dict(MODEL, api_base="")]))
    assert "api_base" not in config["model_list"][0]["litellm_params"]


def test_general_settings_are_merged_after_the_master_key_reference():
    config = proxy_config.build_config(dict(SETTINGS, litellm_proxy_general_settings={"b": 1, "a": 2}))
    assert list(config["general_settings"].items()) == [("master_key", "os.environ/LITELLM_MASTER_KEY"), ("b", 1), ("a", 2)]


@pytest.mark.parametrize(("change", "field", "rule"), [
    ({"litellm_proxy_models": []}, "litellm_proxy_models", "at least one model"),
    ({"litellm_proxy_models": [dict(MODEL, extra_params={"model": "openai/gpt-4o"})]}, "litellm_proxy_models[0]", "vertex_ai/"),
    ({"litellm_proxy_models": [MODEL, dict(MODEL, extra_params={"vertex_credentials": ""})]}, "litellm_proxy_models[1]",
     "vertex_credentials"),
    ({"litellm_proxy_general_settings": {"master_key": KEY}}, "litellm_proxy_general_settings", "master_key"),
])
def test_problems_name_the_variable(change, field, rule):
    found = proxy_config.problems(proxy_config.build_config(dict(SETTINGS, **change)))
    assert found and found[0][0] == field and rule in found[0][1]
    assert all(KEY not in text for pair in found for text in pair)
    with pytest.raises(ValidationError, match=r"^%s" % field.replace("[", r"\[")):
        proxy_config.check_config(proxy_config.build_config(dict(SETTINGS, **change)))


def test_the_role_s_input_check_applies_the_config_rules():
    with pytest.raises(ValidationError, match=r"litellm_proxy_models\[0\].*vertex_ai/"):
        host_inputs.check_litellm_proxy({
            "litellm_proxy_state": "present", "litellm_proxy_master_key": KEY, "litellm_proxy_venv": "/opt/litellm",
            "litellm_proxy_home": "/var/lib/litellm", "litellm_proxy_config_dir": "/etc/litellm",
            "litellm_proxy_service_name": "litellm-proxy", "litellm_proxy_user": "litellm", "litellm_proxy_group": "litellm",
            "litellm_proxy_remove_user": True, "litellm_proxy_vertex_credentials": "/etc/litellm/gcp.json",
            "litellm_proxy_models": [dict(MODEL, extra_params={"model": "gemini/gemini-2.5-flash"})],
            "litellm_proxy_listen_address": "127.0.0.1", "litellm_proxy_port": 4000, "litellm_proxy_num_workers": 1,
            "litellm_proxy_readiness_timeout": 180, "litellm_proxy_tasks_max": 512, "litellm_proxy_memory_max": "1G",
            "litellm_proxy_environment": {}, "litellm_proxy_ip_address_allow": [], "litellm_proxy_wheelhouse": "",
            "litellm_proxy_pip_index_url": "", "litellm_proxy_requirements_file": "", "litellm_proxy_packages": [],
            "litellm_proxy_python": "/usr/bin/python3", "litellm_proxy_pip_extra_args": "",
            "litellm_proxy_litellm_settings": {}, "litellm_proxy_general_settings": {}, "litellm_proxy_validate_config": True,
        })


@pytest.mark.parametrize(("args", "expected"), [
    (("", "", ""), ""),
    (("/srv/wheels", "", ""), "--no-index --find-links /srv/wheels"),
    (("/srv/my wheels", "", "--pre"), "--no-index --find-links '/srv/my wheels' --pre"),
    (("", "https://pypi.example/simple", ""), "--index-url https://pypi.example/simple"),
    (("", "", "--timeout 30"), "--timeout 30"),
])
def test_pip_arguments(args, expected):
    assert proxy_config.pip_arguments(*args) == expected


@pytest.mark.parametrize(("address", "host"), [
    ("127.0.0.1", "127.0.0.1"), (WILDCARD, "127.0.0.1"), ("::", "127.0.0.1"), ("10.0.0.5", "10.0.0.5"),
    ("::1", "[::1]"), ("fd00::5", "[fd00::5]"),
])
def test_probe_host(address, host):
    assert proxy_config.probe_host(address) == host


def test_readiness_url_and_retries():
    assert proxy_config.readiness_url(WILDCARD, "4000") == "http://127.0.0.1:4000/health/readiness"
    assert proxy_config.readiness_retries(180) == 90
    assert proxy_config.readiness_retries("11") == 6


def test_service_environment_and_its_file():
    environment = proxy_config.service_environment(KEY, {"LITELLM_LOG": "DEBUG", "Q": 'a"b\\c', "N": 3, "F": True})
    assert list(environment) == ["LITELLM_MASTER_KEY", "LITELLM_LOCAL_MODEL_COST_MAP", "LITELLM_MODE", "LITELLM_LOG",
                                 "NO_DOCS", "NO_REDOC", "Q", "N", "F"]
    assert environment["LITELLM_LOG"] == "DEBUG"
    lines = proxy_config.environment_file(environment).split("\n")
    assert lines[0] == 'LITELLM_MASTER_KEY="%s"' % KEY
    assert lines[-3:] == ['Q="a\\"b\\\\c"', 'N="3"', 'F="True"']


def test_requirements_source():
    assert proxy_config.requirements_source("/srv/req.txt", "/w/requirements-proxy.txt", True) == "/srv/req.txt"
    assert proxy_config.requirements_source("", "/w/requirements-proxy.txt", True) == "/w/requirements-proxy.txt"
    assert proxy_config.requirements_source("", "/w/requirements-proxy.txt", False) == ""
