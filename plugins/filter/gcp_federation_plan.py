# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
name: gcp_federation_plan
short_description: Check the gcp_federation role's variables and plan the Google side
version_added: 0.1.0
description:
  - Checks every variable of the C(keyless.wif.gcp_federation) role with the rules the GCP modules apply, before
    the role makes any change, and fails naming the variable and the rule.
  - Works out the AWS accounts of the admitted roles, their assumed-role forms and one provider per account with its
    attribute condition, in which the extra condition and that account's role restriction are each wrapped in
    parentheses.
  - The roles of one account share C(gcp_federation_provider_id); each further account gets its own provider,
    C(<gcp_federation_provider_id>-<ACCOUNT_ID>). Given the pool's providers (O(existing_providers)), an account keeps
    the provider it has, and the providers of these two shapes that no listed account uses are named in
    C(remove_provider_ids).
author:
  - keyless.wif maintainers (@keyless-wif)
options:
  _input:
    description: The role's variables, keyed by their full names (C(gcp_federation_project), ...).
    type: dict
    required: true
  project_id:
    description:
      - The project's ID as M(keyless.wif.gcp_project_info) answers it; names the service account when
        C(gcp_federation_project) is a project number.
    type: str
  project_number:
    description: The project's number as M(keyless.wif.gcp_project_info) answers it; names the pool (C(pool_name)).
    type: str
  existing_providers:
    description:
      - The pool's providers as M(keyless.wif.gcp_workload_identity_pool_provider_info) answers them (RV(providers)).
      - Omitted, the pool is taken to have none.
    type: list
    elements: dict
"""

EXAMPLES = r"""
- name: Plan the Google side
  ansible.builtin.set_fact:
    plan: "{{ {'gcp_federation_project': 'my-project', 'gcp_federation_pool_id': 'aws-hosts'} | keyless.wif.gcp_federation_plan }}"
"""

RETURN = r"""
_value:
  description:
    - A dict with C(state), C(project), C(pool_id), C(provider_id), C(service_account_id), C(service_account_email),
      C(service_account_member), C(pool_name), C(texts), C(vertex_roles), C(services), C(manage_services), C(attribute_mapping) (null for Google's default),
      C(attribute_condition) (empty for none), C(account_id) and C(aws_roles) (of every account).
    - C(providers) lists one entry per AWS account, in order, with C(account_id), C(provider_id),
      C(attribute_condition), C(aws_roles) and C(audience) (null until the project number is known);
      C(provider_id), C(attribute_condition) and C(account_id) at the top are the first entry's.
    - C(remove_provider_ids) names the role's providers no account uses (with C(state=absent), all of them);
      C(audiences) maps each account to its audience and C(audience) is the first account's (both null until the
      project number is known).
  type: dict
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.keyless.wif.plugins.module_utils.wif.federation import plan
from ansible_collections.keyless.wif.plugins.module_utils.wif.validate import ValidationError


def gcp_federation_plan(variables, project_id=None, project_number=None, existing_providers=None):
    if not isinstance(variables, dict):
        raise AnsibleFilterError("gcp_federation_plan expects a dict of the role's variables")
    try:
        return plan(variables, project_id, project_number, existing_providers)
    except ValidationError as exc:
        raise AnsibleFilterError("invalid input: %s" % exc) from None


class FilterModule:
    def filters(self):
        return {"gcp_federation_plan": gcp_federation_plan}
