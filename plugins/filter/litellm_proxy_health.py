# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
name: litellm_proxy_health
short_description: The health timer values the litellm_proxy role derives from its variables
version_added: 0.2.0
description:
  - From the C(keyless.wif.litellm_proxy) role's variables, the health unit and timer names, the module_utils files the
    host's one-file check bundles, and the C(ExecStart=) and C(ExecStopPost=) command lines (C(plugins/module_utils/wif/health.py)).
  - It does not check the variables; the role's preflight (P(keyless.wif.role_inputs#filter)) does, before any change.
author:
  - keyless.wif maintainers (@keyless-wif)
options:
  _input:
    description: The role's variables, keyed by their full names (C(litellm_proxy_health_check_interval), ...).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Start the health unit once
  ansible.builtin.systemd_service:
    name: "{{ (litellm_proxy__variables | keyless.wif.litellm_proxy_health).service_unit }}"
    state: started
"""

RETURN = r"""
_value:
  description: The values, keyed by name; none is a secret (the master key reaches the check through the EnvironmentFile).
  type: dict
  contains:
    name:
      description: The health unit's name without suffix (C(<litellm_proxy_service_name>-health)).
      type: str
    service_unit:
      description: The oneshot service's unit name.
      type: str
    timer_unit:
      description: The timer's unit name.
      type: str
    lib_dir:
      description: The host directory that holds the entry point.
      type: str
    modules:
      description: >-
        The module_utils files (relative to C(plugins/module_utils)) the entry point bundles
        (P(keyless.wif.litellm_proxy_health_program#filter)).
      type: list
      elements: str
    entry_point:
      description: The entry point's path on the host, one Python file.
      type: str
    model:
      description: The model of the one-token completion, empty when the completion is off.
      type: str
    interval:
      description: The systemd time span between runs.
      type: str
    timeout_start_seconds:
      description: The unit's C(TimeoutStartSec=).
      type: int
    check_command:
      description: The C(ExecStart=) command line.
      type: str
    publish_command:
      description: The C(ExecStopPost=) command line that writes the textfile, empty without a textfile directory.
      type: str
    textfile:
      description: The node_exporter textfile's path, empty without a textfile directory.
      type: str
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.keyless.wif.plugins.module_utils.wif import health, host_layout, proxy_config


def litellm_proxy_health(variables):
    if not isinstance(variables, dict):
        raise AnsibleFilterError("litellm_proxy_health expects a dict of the role's variables")
    readiness = proxy_config.readiness_url(variables.get("litellm_proxy_listen_address"), variables.get("litellm_proxy_port"))
    base_url = readiness[:-len(proxy_config.READINESS_PATH)]
    python = host_layout.proxy_current_python(variables.get("litellm_proxy_venv"))
    return health.settings(variables, base_url, host_layout.PROXY_HEALTH_LIB_PARENT, python)


class FilterModule:
    def filters(self):
        return {"litellm_proxy_health": litellm_proxy_health}
