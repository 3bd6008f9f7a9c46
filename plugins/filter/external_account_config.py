# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
name: external_account_config
short_description: The external_account credential JSON of the external_account role, as a dict
version_added: 0.1.0
description:
  - Builds the credential document google-auth and LiteLLM load to exchange a host's AWS identity for Google
    credentials, from the C(keyless.wif.external_account) role's variables.
  - In C(ec2) mode C(credential_source) carries the IMDSv2 URLs; in C(explicit) mode it carries only C(environment_id)
    and the document gets LiteLLM's non-empty C(aws_*) keys.
  - Checks every variable first (the rules of the role's preflight) and fails naming the variable and the rule.
    Secret values are never shown.
author:
  - keyless.wif maintainers (@keyless-wif)
options:
  _input:
    description: The role's variables, keyed by their full names (C(external_account_audience), ...).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Render the credential JSON
  ansible.builtin.copy:
    content: "{{ settings | keyless.wif.external_account_config | to_nice_json(indent=2, sort_keys=true) }}"
    dest: /etc/litellm/gcp_aws_external_account.json
    mode: "0640"
  vars:
    settings:
      external_account_state: present
      external_account_mode: ec2
      external_account_audience: //iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/aws/providers/aws
"""

RETURN = r"""
_value:
  description:
    - The credential document with C(type), C(audience), C(subject_token_type), C(token_url), C(credential_source) and,
      when set, C(service_account_impersonation_url), C(universe_domain) and the C(aws_*) keys.
  type: dict
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.keyless.wif.plugins.module_utils.wif.external_account import build
from ansible_collections.keyless.wif.plugins.module_utils.wif.validate import ValidationError


def external_account_config(settings):
    if not isinstance(settings, dict):
        raise AnsibleFilterError("external_account_config expects a dict of the role's variables")
    try:
        return build(settings)
    except ValidationError as exc:
        raise AnsibleFilterError("invalid input: %s" % exc) from None


class FilterModule:
    def filters(self):
        return {"external_account_config": external_account_config}
