# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
name: litellm_proxy_service
short_description: The install and service values the litellm_proxy role derives from its variables
version_added: 0.1.0
description:
  - From the C(keyless.wif.litellm_proxy) role's variables, the pip source arguments, the readiness probe and the
    service's EnvironmentFile (C(plugins/module_utils/wif/proxy_config.py)).
  - It does not check the variables; the role's preflight (P(keyless.wif.role_inputs#filter)) does, before any change.
author:
  - keyless.wif maintainers (@keyless-wif)
options:
  _input:
    description: The role's variables, keyed by their full names (C(litellm_proxy_port), ...).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Wait for the proxy
  ansible.builtin.uri:
    url: "{{ (litellm_proxy__variables | keyless.wif.litellm_proxy_service).readiness_url }}"
"""

RETURN = r"""
_value:
  description: The values, keyed by name.
  type: dict
  contains:
    pip_args:
      description:
        - pip install's source arguments (C(--no-index --find-links DIR), C(--index-url URL) or none, quoted for a
          command line), then C(litellm_proxy_pip_extra_args).
      type: str
    readiness_url:
      description: The proxy's C(/health/readiness) URL through loopback when it listens on a wildcard address.
      type: str
    readiness_retries:
      description: Probes, two seconds apart, within C(litellm_proxy_readiness_timeout).
      type: int
    environment:
      description: The service's EnvironmentFile variables; C(LITELLM_MASTER_KEY) is a secret.
      type: dict
    environment_file:
      description: The EnvironmentFile's C(KEY="value") lines, without a trailing newline; holds the master key.
      type: str
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.keyless.wif.plugins.module_utils.wif import proxy_config


def litellm_proxy_service(settings):
    if not isinstance(settings, dict):
        raise AnsibleFilterError("litellm_proxy_service expects a dict of the role's variables")
    environment = proxy_config.service_environment(settings.get("litellm_proxy_master_key"),
                                                   settings.get("litellm_proxy_environment"))
    return {
        "pip_args": proxy_config.pip_arguments(settings.get("litellm_proxy_wheelhouse") or "",
                                               settings.get("litellm_proxy_pip_index_url") or "",
                                               settings.get("litellm_proxy_pip_extra_args") or ""),
        "readiness_url": proxy_config.readiness_url(settings.get("litellm_proxy_listen_address"),
                                                    settings.get("litellm_proxy_port")),
        "readiness_retries": proxy_config.readiness_retries(settings.get("litellm_proxy_readiness_timeout")),
        "environment": environment,
        "environment_file": proxy_config.environment_file(environment),
    }


class FilterModule:
    def filters(self):
        return {"litellm_proxy_service": litellm_proxy_service}
