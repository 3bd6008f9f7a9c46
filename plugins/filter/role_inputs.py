# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
name: role_inputs
short_description: Check a host role's variables before it changes anything
version_added: 0.1.0
description:
  - Checks the variables of the C(keyless.wif.external_account), C(keyless.wif.litellm_proxy) or C(keyless.wif.verify)
    role on the controller, and fails naming the variable and the rule it breaks. Secret values are never shown.
  - Paths are absolute and normalised; a directory a role creates, re-owns or removes must be a directory of its own,
    never a system directory such as C(/etc) or C(/var) or one directly under C(/).
author:
  - keyless.wif maintainers (@keyless-wif)
options:
  _input:
    description: The role's variables, keyed by their full names (C(litellm_proxy_port), ...).
    type: dict
    required: true
  role:
    description: The role whose rules apply.
    type: str
    required: true
    choices: [external_account, litellm_proxy, verify]
"""

EXAMPLES = r"""
- name: Check the proxy's listener before deploying
  ansible.builtin.set_fact:
    checked: "{{ {'litellm_proxy_listen_address': '127.0.0.1'} | keyless.wif.role_inputs('litellm_proxy') }}"
"""

RETURN = r"""
_value:
  description: A small dict of derived values (for example C(state) and C(mode)); never a secret.
  type: dict
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.keyless.wif.plugins.module_utils.wif import host_inputs
from ansible_collections.keyless.wif.plugins.module_utils.wif.validate import ValidationError

CHECKS = {
    "external_account": host_inputs.check_external_account,
    "litellm_proxy": host_inputs.check_litellm_proxy,
    "verify": host_inputs.check_verify,
}


def role_inputs(variables, role):
    if role not in CHECKS:
        raise AnsibleFilterError("role_inputs: role must be one of %s, got %r" % (", ".join(sorted(CHECKS)), role))
    if not isinstance(variables, dict):
        raise AnsibleFilterError("role_inputs expects a dict of the role's variables")
    try:
        return CHECKS[role](variables)
    except ValidationError as exc:
        raise AnsibleFilterError("invalid input: %s" % exc) from None


class FilterModule:
    def filters(self):
        return {"role_inputs": role_inputs}
