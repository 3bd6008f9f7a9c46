# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
name: controller_permissions
short_description: The exact IAM permissions the keyless.wif controller needs
version_added: 0.2.0
description:
  - Returns the sorted IAM permissions the identity that runs the collection's Google side needs, for least privilege
    (a custom role holding exactly these lets C(keyless.wif.gcp_federation) converge).
  - C(site) is the role's present path (services enabled, service account, Vertex and audit bindings, pool, providers),
    C(teardown) its absent path, C(all) both; C(MODULE:STATE) (for example C(gcp_service_account:present)) one module's.
  - The lists live in C(plugins/module_utils/wif/permissions.py).
author:
  - keyless.wif maintainers (@keyless-wif)
options:
  _terms:
    description:
      - Names of permission sets; the answer is the sorted union of them all.
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: Show what the controller needs for site.yml
  ansible.builtin.debug:
    msg: "{{ query('keyless.wif.controller_permissions', 'site') }}"
"""

RETURN = r"""
_raw:
  description: The sorted permission names.
  type: list
  elements: str
"""

from ansible.errors import AnsibleLookupError  # noqa: E402 - after the documentation, as in every plugin
from ansible.plugins.lookup import LookupBase  # noqa: E402
from ansible_collections.keyless.wif.plugins.module_utils.wif.permissions import permission_set  # noqa: E402


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        if not terms:
            raise AnsibleLookupError("controller_permissions: name at least one set (site, teardown, all or MODULE:STATE)")
        out = set()
        for term in terms:
            try:
                out.update(permission_set(term))
            except ValueError as exc:
                raise AnsibleLookupError("controller_permissions: %s" % exc) from exc
        return sorted(out)
