"""module_utils/wif/proxy_config.py: config.yaml, its rules and the service values of litellm_proxy."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
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


# Routing: several deployments of one name, router_settings, fallbacks, model_info.
FLASH_GLOBAL = dict(MODEL, vertex_location="global", model_info={"id": "gemini-global", "base_model": "gemini-2.5-flash"})
PRO = dict(MODEL, name="pro", model="vertex_ai/gemini-2.5-pro", vertex_location="us")
ROUTED = dict(SETTINGS, litellm_proxy_models=[MODEL, FLASH_GLOBAL, PRO],
              litellm_proxy_router_settings={"routing_strategy": "simple-shuffle", "num_retries": 2, "timeout": 30.5,
                                             "cooldown_time": 0, "allowed_fails": 3,
                                             "model_group_alias": {"flash": "gemini", "hidden": {"model": "pro", "hidden": True}}},
              litellm_proxy_fallbacks=[{"pro": ["gemini"]}],
              litellm_proxy_context_window_fallbacks=[{"gemini": ["pro"]}])


def test_router_settings_and_fallbacks_go_to_router_settings():
    config = proxy_config.build_config(ROUTED)
    assert list(config) == ["model_list", "router_settings", "litellm_settings", "general_settings"]
    assert config["router_settings"] == {
        "routing_strategy": "simple-shuffle", "num_retries": 2, "timeout": 30.5, "cooldown_time": 0, "allowed_fails": 3,
        "model_group_alias": {"flash": "gemini", "hidden": {"model": "pro", "hidden": True}},
        "fallbacks": [{"pro": ["gemini"]}], "context_window_fallbacks": [{"gemini": ["pro"]}]}
    assert [entry["model_name"] for entry in config["model_list"]] == ["gemini", "gemini", "pro"]
    assert [entry["litellm_params"]["vertex_location"] for entry in config["model_list"]] == ["us-central1", "global", "us"]
    assert "model_info" not in config["model_list"][0]
    assert config["model_list"][1]["model_info"] == {"id": "gemini-global", "base_model": "gemini-2.5-flash"}
    assert proxy_config.routing_problems(ROUTED) == []
    assert proxy_config.problems(config) == []


def test_no_router_variables_no_router_settings():
    assert "router_settings" not in proxy_config.build_config(dict(SETTINGS, litellm_proxy_router_settings={},
                                                                   litellm_proxy_fallbacks=[]))


@pytest.mark.parametrize("strategy", proxy_config.ROUTING_STRATEGIES)
def test_every_routing_strategy_of_litellm_is_accepted(strategy):
    assert proxy_config.routing_problems(dict(ROUTED, litellm_proxy_router_settings={"routing_strategy": strategy})) == []


def test_the_routing_strategies_are_litellm_s():
    # LiteLLM 1.108.14 VALID_ROUTING_STRATEGIES: "simple-shuffle", "lar1" and the RoutingStrategy enum.
    assert sorted(proxy_config.ROUTING_STRATEGIES) == sorted([
        "simple-shuffle", "lar1", "least-busy", "latency-based-routing", "cost-based-routing", "usage-based-routing-v2",
        "usage-based-routing", "provider-budget-routing"])


R = "litellm_proxy_router_settings"
BAD_ROUTING = [
    ({"litellm_proxy_fallbacks": [{"nosuch": ["gemini"]}]}, "litellm_proxy_fallbacks[0]", "not a name in litellm_proxy_models"),
    ({"litellm_proxy_fallbacks": [{"pro": ["nosuch"]}]}, "litellm_proxy_fallbacks[0].pro[0]", "must be a name in litellm_proxy_models"),
    ({"litellm_proxy_fallbacks": [{"pro": ["pro"]}]}, "litellm_proxy_fallbacks[0].pro[0]", "may not fall back to itself"),
    ({"litellm_proxy_fallbacks": [{"pro": "gemini"}]}, "litellm_proxy_fallbacks[0].pro", "non-empty list of model names"),
    ({"litellm_proxy_fallbacks": [{"pro": []}]}, "litellm_proxy_fallbacks[0].pro", "non-empty list"),
    ({"litellm_proxy_fallbacks": [{"pro": ["gemini"], "gemini": ["pro"]}]}, "litellm_proxy_fallbacks[0]", "exactly one key"),
    ({"litellm_proxy_fallbacks": ["pro"]}, "litellm_proxy_fallbacks[0]", "exactly one key"),
    ({"litellm_proxy_fallbacks": {"pro": ["gemini"]}}, "litellm_proxy_fallbacks", "must be a list"),
    ({"litellm_proxy_fallbacks": [{"pro": ["gemini"]}, {"pro": ["gemini"]}]}, "litellm_proxy_fallbacks[1]", "second time"),
    ({"litellm_proxy_fallbacks": [{"pro": ["gemini", "gemini"]}]}, "litellm_proxy_fallbacks[0].pro", "twice"),
    ({"litellm_proxy_context_window_fallbacks": [{"gemini": ["nosuch"]}]}, "litellm_proxy_context_window_fallbacks[0].gemini[0]",
     "must be a name in litellm_proxy_models"),
    ({"litellm_proxy_context_window_fallbacks": [{"gemini": ["gemini"]}]}, "litellm_proxy_context_window_fallbacks[0].gemini[0]",
     "itself"),
    ({R: ["simple-shuffle"]}, R, "must be a dict"),
    ({R: {"routing_strategy": "round-robin"}}, R + ".routing_strategy", "one of LiteLLM's routing strategies"),
    ({R: {"routing_strategy": "Simple-Shuffle"}}, R + ".routing_strategy", "one of LiteLLM's routing strategies"),
    ({R: {"num_retries": -1}}, R + ".num_retries", "non-negative integer"),
    ({R: {"num_retries": 1.5}}, R + ".num_retries", "non-negative integer"),
    ({R: {"num_retries": "2"}}, R + ".num_retries", "non-negative integer"),
    ({R: {"allowed_fails": True}}, R + ".allowed_fails", "non-negative integer"),
    ({R: {"timeout": -0.5}}, R + ".timeout", "non-negative number"),
    ({R: {"timeout": float("nan")}}, R + ".timeout", "non-negative number"),
    ({R: {"cooldown_time": "30s"}}, R + ".cooldown_time", "non-negative number"),
    ({R: {"stream_timeout": -1}}, R + ".stream_timeout", "non-negative number"),
    ({R: {"fallbacks": [{"pro": ["gemini"]}]}}, R + ".fallbacks", "litellm_proxy_fallbacks"),
    ({R: {"context_window_fallbacks": []}}, R + ".context_window_fallbacks", "litellm_proxy_context_window_fallbacks"),
    ({R: {"model_list": []}}, R + ".model_list", "litellm_proxy_models"),
    ({R: {"health_check_interval": 300}}, R + ".health_check_interval", "litellm_proxy_general_settings"),
    ({R: {"ignore_invalid_deployments": False}}, R + ".ignore_invalid_deployments", "set by the proxy itself"),
    ({R: {"model_group_alias": {"flash": "nosuch"}}}, R + ".model_group_alias.flash", "must be a name in litellm_proxy_models"),
    ({R: {"model_group_alias": {"flash": {"model": "nosuch"}}}}, R + ".model_group_alias.flash.model", "must be a name"),
    ({R: {"model_group_alias": {"flash": {"model": "pro", "hide": True}}}}, R + ".model_group_alias.flash", "unknown keys hide"),
    ({R: {"model_group_alias": {"flash": {"model": "pro", "hidden": "yes"}}}}, R + ".model_group_alias.flash.hidden", "boolean"),
    ({R: {"model_group_alias": {"pro": "gemini"}}}, R + ".model_group_alias.pro", "would hide that model"),
    ({R: {"model_group_alias": ["flash"]}}, R + ".model_group_alias", "must be a dict"),
    ({R: {"content_policy_fallbacks": [{"pro": ["nosuch"]}]}}, R + ".content_policy_fallbacks[0].pro[0]", "must be a name"),
    ({R: {"default_fallbacks": ["nosuch"]}}, R + ".default_fallbacks[0]", "must be a name"),
    ({R: {"default_fallbacks": "pro"}}, R + ".default_fallbacks", "must be a list"),
    ({R: {"routing_strategy_args": 5}}, R + ".routing_strategy_args", "must be a dict"),
]


@pytest.mark.parametrize(("change", "field", "rule"), BAD_ROUTING)
def test_routing_problems_name_the_variable_path_and_rule(change, field, rule):
    settings = dict(ROUTED, litellm_proxy_router_settings={}, litellm_proxy_fallbacks=[],
                    litellm_proxy_context_window_fallbacks=[])
    settings.update(change)
    found = proxy_config.routing_problems(settings)
    assert found and found[0][0] == field and rule in found[0][1], found
    with pytest.raises(ValidationError, match=r"^%s " % re.escape(field)):
        proxy_config.check_routing(settings)


# The role's plain defaults (not the host-layout lookups), so variables other roles' work adds are set too.
DEFAULTS = {key: value for key, value in yaml.safe_load(
    (Path(__file__).resolve().parents[5] / "roles/litellm_proxy/defaults/main.yml").read_text()).items()
    if not (isinstance(value, str) and "{{" in value)}
ROLE_VARIABLES = dict(DEFAULTS, **{
    "litellm_proxy_state": "present", "litellm_proxy_master_key": KEY, "litellm_proxy_venv": "/opt/litellm",
    "litellm_proxy_home": "/var/lib/litellm", "litellm_proxy_config_dir": "/etc/litellm",
    "litellm_proxy_service_name": "litellm-proxy", "litellm_proxy_user": "litellm", "litellm_proxy_group": "litellm",
    "litellm_proxy_remove_user": True, "litellm_proxy_vertex_credentials": "/etc/litellm/gcp.json",
    "litellm_proxy_listen_address": "127.0.0.1", "litellm_proxy_port": 4000, "litellm_proxy_num_workers": 1,
    "litellm_proxy_readiness_timeout": 180, "litellm_proxy_tasks_max": 512, "litellm_proxy_memory_max": "1G",
    "litellm_proxy_environment": {}, "litellm_proxy_ip_address_allow": [], "litellm_proxy_wheelhouse": "",
    "litellm_proxy_pip_index_url": "", "litellm_proxy_requirements_file": "", "litellm_proxy_packages": [],
    "litellm_proxy_python": "/usr/bin/python3", "litellm_proxy_pip_extra_args": "",
    "litellm_proxy_general_settings": {}, "litellm_proxy_validate_config": True,
})


def test_the_role_s_input_check_applies_the_routing_rules():
    variables = dict(ROLE_VARIABLES, **{k: v for k, v in ROUTED.items() if k.startswith("litellm_proxy_")})
    assert host_inputs.check_litellm_proxy(variables) == {"state": "present"}
    with pytest.raises(ValidationError, match=r"^litellm_proxy_fallbacks\[0\]\.pro\[0\] must not be 'pro' itself"):
        host_inputs.check_litellm_proxy(dict(variables, litellm_proxy_fallbacks=[{"pro": ["pro"]}]))


@pytest.mark.parametrize("key", ["fallbacks", "context_window_fallbacks"])
def test_fallbacks_have_one_home(key):
    variables = dict(ROLE_VARIABLES, **{k: v for k, v in ROUTED.items() if k.startswith("litellm_proxy_")})
    with pytest.raises(ValidationError, match=r"^litellm_proxy_litellm_settings\.%s must not be set \(use litellm_proxy_%s\)"
                       % (key, key)):
        host_inputs.check_litellm_proxy(dict(variables, litellm_proxy_litellm_settings={key: [{"pro": ["gemini"]}]}))
