# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
name: litellm_proxy_health_program
short_description: The litellm_proxy health check as one Python file
version_added: 0.2.0
description:
  - The text of the file the C(keyless.wif.litellm_proxy) role installs as the health timer's entry point, the
    collection's C(plugins/module_utils/wif/health.py) and the module_utils it imports, read from this collection on the
    controller, with a loader that serves them to C(import) (C(plugins/module_utils/wif/health.py), C(program)).
  - The same collection gives the same text, so the copy task changes nothing until the collection's code changes.
author:
  - keyless.wif maintainers (@keyless-wif)
options:
  _input:
    description: The values of P(keyless.wif.litellm_proxy_health#filter); its C(modules) are the files bundled.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Install the health check
  ansible.builtin.copy:
    content: "{{ litellm_proxy__health | keyless.wif.litellm_proxy_health_program }}"
    dest: "{{ litellm_proxy__health.entry_point }}"
    mode: "0644"
"""

RETURN = r"""
_value:
  description: Python source, run as C(python -I -B <entry_point> check ...).
  type: str
"""

import os

from ansible.errors import AnsibleFilterError
from ansible_collections.keyless.wif.plugins.module_utils.wif import health

MODULE_UTILS = os.path.dirname(os.path.dirname(os.path.abspath(health.__file__)))


def litellm_proxy_health_program(health_settings):
    modules = health_settings.get("modules") if isinstance(health_settings, dict) else None
    if not isinstance(modules, list) or not modules:
        raise AnsibleFilterError("litellm_proxy_health_program expects the values of keyless.wif.litellm_proxy_health (with modules)")
    sources = {}
    for relative in modules:
        if relative not in health.HOST_MODULES:
            raise AnsibleFilterError("litellm_proxy_health_program: %r is not one of the health check's module_utils" % relative)
        with open(os.path.join(MODULE_UTILS, relative), encoding="utf-8") as handle:
            sources[relative] = handle.read()
    return health.program(sources)


class FilterModule:
    def filters(self):
        return {"litellm_proxy_health_program": litellm_proxy_health_program}
