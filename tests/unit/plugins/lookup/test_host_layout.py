"""One home for the host paths and the port: module_utils/wif/host_layout.py, read by the roles' defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleLookupError
from ansible_collections.keyless.wif.plugins.lookup.host_layout import LookupModule
from ansible_collections.keyless.wif.plugins.module_utils.wif import host_layout

REPO = Path(__file__).resolve().parents[4]


def test_the_lookup_answers_each_value():
    assert LookupModule().run(["credential_path", "proxy_port"]) == [host_layout.CREDENTIAL_PATH, 4000]
    with pytest.raises(AnsibleLookupError, match="unknown value 'port'"):
        LookupModule().run(["port"])


@pytest.mark.parametrize(("role", "variable", "value"), [
    ("external_account", "external_account_path", "credential_path"),
    ("external_account", "external_account_group", "proxy_group"),
    ("litellm_proxy", "litellm_proxy_vertex_credentials", "credential_path"),
    ("litellm_proxy", "litellm_proxy_venv", "proxy_venv"),
    ("litellm_proxy", "litellm_proxy_port", "proxy_port"),
    ("litellm_proxy", "litellm_proxy_service_name", "proxy_service_name"),
    ("litellm_proxy", "litellm_proxy_config_dir", "config_dir"),
    ("verify", "verify_credentials_path", "credential_path"),
    ("verify", "verify_python", "proxy_python"),
    ("verify", "verify_environment_file", "proxy_environment_file"),
    ("verify", "verify_proxy_url", "proxy_url"),
])
def test_role_defaults_read_the_layout(role, variable, value):
    defaults = yaml.safe_load((REPO / "roles" / role / "defaults" / "main.yml").read_text())
    assert defaults[variable] == "{{ lookup('keyless.wif.host_layout', '%s') }}" % value


@pytest.mark.parametrize("role", ["external_account", "litellm_proxy", "verify", "gcp_federation"])
def test_no_role_i_own_spells_a_layout_value_out(role):
    for path in (REPO / "roles" / role).rglob("*.yml"):
        text = path.read_text()
        for literal in (host_layout.CREDENTIAL_PATH, host_layout.PROXY_VENV, host_layout.CONFIG_DIR, ":4000"):
            assert literal not in text, (path, literal)
