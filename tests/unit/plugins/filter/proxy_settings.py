# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The litellm_proxy role's variables as the role passes them (litellm_proxy__variables), for unit tests."""

from __future__ import annotations

KEY = "sk-" + "k" * 40
MODEL = {"name": "gemini", "model": "vertex_ai/gemini-2.5-flash", "vertex_project": "wif-sandbox",
         "vertex_location": "us-central1"}
SETTINGS = {
    "litellm_proxy_state": "present", "litellm_proxy_master_key": KEY, "litellm_proxy_venv": "/opt/litellm",
    "litellm_proxy_home": "/var/lib/litellm", "litellm_proxy_config_dir": "/etc/litellm",
    "litellm_proxy_service_name": "litellm-proxy", "litellm_proxy_user": "litellm", "litellm_proxy_group": "litellm",
    "litellm_proxy_remove_user": True, "litellm_proxy_vertex_credentials": "/etc/litellm/gcp.json",
    "litellm_proxy_models": [MODEL], "litellm_proxy_listen_address": "127.0.0.1", "litellm_proxy_port": 4000,
    "litellm_proxy_num_workers": 1, "litellm_proxy_readiness_timeout": 180, "litellm_proxy_tasks_max": 512,
    "litellm_proxy_memory_max": "1G", "litellm_proxy_environment": {}, "litellm_proxy_ip_address_allow": [],
    "litellm_proxy_wheelhouse": "", "litellm_proxy_pip_index_url": "", "litellm_proxy_requirements_file": "",
    "litellm_proxy_packages": [], "litellm_proxy_python": "/usr/bin/python3", "litellm_proxy_pip_extra_args": "",
    "litellm_proxy_litellm_settings": {}, "litellm_proxy_general_settings": {}, "litellm_proxy_validate_config": True,
}
