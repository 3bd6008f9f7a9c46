# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
name: litellm_proxy_config
short_description: The LiteLLM proxy's config.yaml of the litellm_proxy role, as a dict
version_added: 0.1.0
description:
  - Builds the C(config.yaml) document of the C(keyless.wif.litellm_proxy) role from its variables, with
    C(model_list) (one C(vertex_ai/) entry per model of C(litellm_proxy_models), its C(vertex_credentials) defaulting to
    C(litellm_proxy_vertex_credentials), and its C(model_info) when set; several entries may share a name),
    C(router_settings) when C(litellm_proxy_router_settings), C(litellm_proxy_fallbacks) or
    C(litellm_proxy_context_window_fallbacks) is set, C(litellm_settings) and C(general_settings), whose C(master_key)
    refers to the service's EnvironmentFile.
  - Checks every variable first (the rules of the role's preflight), then the document itself (every model a
    C(vertex_ai/) model with C(vertex_credentials), the master key a reference; every name in the fallbacks and
    C(model_group_alias) a model name), and fails naming the variable and the rule. The master key is never shown.
author:
  - keyless.wif maintainers (@keyless-wif)
options:
  _input:
    description: The role's variables, keyed by their full names (C(litellm_proxy_models), ...).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Render config.yaml
  ansible.builtin.copy:
    content: "{{ settings | keyless.wif.litellm_proxy_config | to_nice_yaml(indent=2, sort_keys=false) }}"
    dest: /etc/litellm/config.yaml
    mode: "0640"
  vars:
    settings: "{{ litellm_proxy__variables }}"
"""

RETURN = r"""
_value:
  description:
    - The document with C(model_list), C(router_settings) (only when set), C(litellm_settings) and C(general_settings),
      in the order the file lists them.
  type: dict
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.keyless.wif.plugins.module_utils.wif import host_inputs, proxy_config
from ansible_collections.keyless.wif.plugins.module_utils.wif.validate import ValidationError


def litellm_proxy_config(settings):
    if not isinstance(settings, dict):
        raise AnsibleFilterError("litellm_proxy_config expects a dict of the role's variables")
    try:
        host_inputs.check_litellm_proxy(dict(settings, litellm_proxy_state="present"))
        return proxy_config.check_config(proxy_config.build_config(settings))
    except ValidationError as exc:
        raise AnsibleFilterError("invalid input: %s" % exc) from None


class FilterModule:
    def filters(self):
        return {"litellm_proxy_config": litellm_proxy_config}
