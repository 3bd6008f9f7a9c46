# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
name: litellm_proxy_requirements_source
short_description: The requirements file on the host the litellm_proxy role installs from, if any
version_added: 0.1.0
description:
  - C(litellm_proxy_requirements_file) when set; otherwise the wheelhouse's own requirements file when the host has
    it; otherwise an empty string (the role then writes C(litellm_proxy_packages) or its pinned C(requirements.txt)).
author:
  - keyless.wif maintainers (@keyless-wif)
options:
  _input:
    description: The role's variables, keyed by their full names (C(litellm_proxy_requirements_file), ...).
    type: dict
    required: true
  wheelhouse_requirements:
    description: Path of the wheelhouse's requirements file on the host.
    type: str
    required: true
  found:
    description: Whether that file exists on the host.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Choose the requirements source
  ansible.builtin.set_fact:
    source: "{{ litellm_proxy__variables | keyless.wif.litellm_proxy_requirements_source('/srv/wheels/requirements-proxy.txt', true) }}"
"""

RETURN = r"""
_value:
  description: An absolute path on the host, or an empty string.
  type: str
"""

from ansible.errors import AnsibleFilterError
from ansible.module_utils.parsing.convert_bool import boolean
from ansible_collections.keyless.wif.plugins.module_utils.wif import proxy_config


def litellm_proxy_requirements_source(settings, wheelhouse_requirements, found=False):
    if not isinstance(settings, dict):
        raise AnsibleFilterError("litellm_proxy_requirements_source expects a dict of the role's variables")
    return proxy_config.requirements_source(settings.get("litellm_proxy_requirements_file") or "",
                                            wheelhouse_requirements, boolean(found, strict=False))


class FilterModule:
    def filters(self):
        return {"litellm_proxy_requirements_source": litellm_proxy_requirements_source}
