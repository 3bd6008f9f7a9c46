"""LiteLLM's Prometheus metrics: litellm_proxy_prometheus adds the callback, and needs prometheus-client."""

from __future__ import annotations

from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.keyless.wif.plugins.filter import litellm_proxy_release
from ansible_collections.keyless.wif.plugins.module_utils.wif import host_inputs, proxy_config, proxy_release
from ansible_collections.keyless.wif.plugins.module_utils.wif.validate import ValidationError
from ansible_collections.keyless.wif.tests.unit.plugins.filter.proxy_settings import SETTINGS as BASE_SETTINGS

ROLE_REQUIREMENTS = Path(__file__).resolve().parents[5] / "roles" / "litellm_proxy" / "files" / "requirements.txt"
HASH = "--hash=sha256:" + "a" * 64
RELEASE = litellm_proxy_release.FilterModule().filters()["litellm_proxy_release"]
SETTINGS = dict(BASE_SETTINGS, litellm_proxy_require_hashes=True, litellm_proxy_keep_releases=2,
                litellm_proxy_prometheus=True)


def callbacks(**change):
    return proxy_config.build_config(dict(SETTINGS, **change))["litellm_settings"].get("callbacks")


def test_prometheus_adds_its_callback_once_after_the_user_s():
    assert callbacks() == ["prometheus"]
    assert callbacks(litellm_proxy_litellm_settings={"callbacks": ["custom.handler"]}) == ["custom.handler", "prometheus"]
    assert callbacks(litellm_proxy_litellm_settings={"callbacks": ["prometheus", "x"]}) == ["prometheus", "x"]


@pytest.mark.parametrize("off", [False, "false", "no", None])
def test_prometheus_off_or_unset_adds_nothing(off):
    settings = dict(SETTINGS, litellm_proxy_prometheus=off)
    assert "callbacks" not in proxy_config.build_config(settings)["litellm_settings"]
    assert proxy_config.uses_prometheus(proxy_config.build_config(settings)["litellm_settings"]) is False


def test_the_user_s_other_litellm_settings_are_kept():
    config = proxy_config.build_config(dict(SETTINGS, litellm_proxy_litellm_settings={
        "drop_params": True, "require_auth_for_metrics_endpoint": False}))
    assert config["litellm_settings"] == {"drop_params": True, "require_auth_for_metrics_endpoint": False,
                                          "callbacks": ["prometheus"]}


@pytest.mark.parametrize(("settings", "expected"), [
    ({"callbacks": ["prometheus"]}, True),
    ({"success_callback": "prometheus"}, True),
    ({"failure_callback": ["langfuse", "prometheus"]}, True),
    ({"callbacks": ["langfuse"]}, False),
    ({}, False),
])
def test_uses_prometheus_reads_every_key_litellm_reads(settings, expected):
    assert proxy_config.uses_prometheus(settings) is expected


@pytest.mark.parametrize(("change", "field", "rule"), [
    ({"litellm_proxy_prometheus": "sometimes"}, "litellm_proxy_prometheus", "must be a boolean"),
    ({"litellm_proxy_litellm_settings": {"callbacks": "prometheus"}}, "litellm_proxy_litellm_settings.callbacks",
     "must be a list"),
])
def test_the_input_check_names_the_field_and_rule(change, field, rule):
    with pytest.raises(ValidationError) as caught:
        host_inputs.check_litellm_proxy(dict(SETTINGS, **change))
    assert str(caught.value).startswith(field) and rule in str(caught.value)


def test_the_role_s_own_requirements_hold_prometheus_client():
    text = ROLE_REQUIREMENTS.read_text()
    assert proxy_release.provides(text, "prometheus-client")
    assert RELEASE(SETTINGS, "", "", text)["requirements_text"] == text


@pytest.mark.parametrize("line", [
    "prometheus-client==0.26.0 %s" % HASH,
    "prometheus_client==0.26.0 %s" % HASH,
    "Prometheus.Client==0.26.0 %s" % HASH,
    "litellm[proxy-runtime]==1.108.14 %s" % HASH,
    "litellm[caching, proxy_runtime]==1.108.14 %s" % HASH,
])
def test_a_requirements_set_with_prometheus_client_passes(line):
    text = "litellm==1.108.14 %s\n%s\n" % (HASH, line)
    assert RELEASE(dict(SETTINGS, litellm_proxy_packages=text.splitlines()), "", "", "")["source"] == "litellm_proxy_packages"


@pytest.mark.parametrize("change", [
    {},
    {"litellm_proxy_prometheus": False, "litellm_proxy_litellm_settings": {"callbacks": ["prometheus"]}},
])
def test_a_requirements_set_without_prometheus_client_is_refused_before_any_change(change):
    packages = ["litellm==1.108.14 %s" % HASH, "prometheus-api-client==0.5.0 %s" % HASH, "litellm-proxy-extras==1 %s" % HASH]
    with pytest.raises(AnsibleFilterError) as caught:
        RELEASE(dict(SETTINGS, litellm_proxy_packages=packages, **change), "", "", "")
    message = str(caught.value)
    assert message.startswith("litellm_proxy_packages: lists no prometheus-client")
    assert "litellm_proxy_prometheus: false" in message


def test_without_prometheus_no_prometheus_client_is_needed():
    packages = ["litellm==1.108.14 %s" % HASH]
    release = RELEASE(dict(SETTINGS, litellm_proxy_packages=packages, litellm_proxy_prometheus=False), "", "", "")
    assert release["source"] == "litellm_proxy_packages"


def test_a_host_requirements_file_is_checked_too():
    with pytest.raises(AnsibleFilterError, match=r"^litellm_proxy_requirements_file \(/srv/req.txt\): lists no prometheus-client"):
        RELEASE(dict(SETTINGS, litellm_proxy_requirements_file="/srv/req.txt"), "/srv/req.txt",
                "litellm==1.108.14 %s\n" % HASH, "")
