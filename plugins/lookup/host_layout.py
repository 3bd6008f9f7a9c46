# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
name: host_layout
short_description: Default paths, names and port of the keyless.wif host roles
version_added: 0.1.0
description:
  - Returns the collection's defaults for where the C(keyless.wif.external_account), C(keyless.wif.litellm_proxy) and
    C(keyless.wif.verify) roles put things on a host, so that every role uses the same value.
  - The values live in C(plugins/module_utils/wif/host_layout.py).
author:
  - keyless.wif maintainers (@keyless-wif)
options:
  _terms:
    description:
      - Names of the values, among C(config_dir), C(credential_path), C(proxy_user), C(proxy_group), C(proxy_home),
        C(proxy_service_name), C(proxy_environment_file), C(proxy_venv), C(proxy_python), C(proxy_listen_address),
        C(proxy_port), C(proxy_url) and C(wheelhouse_requirements).
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: Show where the credential JSON goes
  ansible.builtin.debug:
    msg: "{{ lookup('keyless.wif.host_layout', 'credential_path') }}"
"""

RETURN = r"""
_raw:
  description: One value per term (the port is an integer, every other value a string).
  type: list
  elements: raw
"""

from ansible.errors import AnsibleLookupError  # noqa: E402 - after the documentation, as in every plugin
from ansible.plugins.lookup import LookupBase  # noqa: E402
from ansible_collections.keyless.wif.plugins.module_utils.wif.host_layout import LAYOUT  # noqa: E402


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        unknown = [term for term in terms if term not in LAYOUT]
        if unknown:
            raise AnsibleLookupError("host_layout: unknown value %s; known values are %s"
                                     % (", ".join(repr(term) for term in unknown), ", ".join(sorted(LAYOUT))))
        return [LAYOUT[term] for term in terms]
