# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
name: aws_account_id
short_description: The AWS account ID of an ARN
version_added: 0.1.0
description:
  - Returns the 12-digit account of an IAM role, STS assumed-role or IAM user ARN.
  - The C(keyless.wif.site) playbook picks each host's audience with it from the C(gcp_federation_audiences)
    the C(keyless.wif.gcp_federation) role exports (one provider per AWS account).
author:
  - keyless.wif maintainers (@keyless-wif)
options:
  _input:
    description: An AWS ARN.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Write the credential file with the audience of the host's own AWS account
  ansible.builtin.include_role:
    name: keyless.wif.external_account
  vars:
    external_account_audience: "{{ hostvars['localhost'].gcp_federation_audiences[host_role_arn | keyless.wif.aws_account_id] }}"
"""

RETURN = r"""
_value:
  description: The account ID, for example C(111111111111).
  type: str
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.keyless.wif.plugins.module_utils.wif import names


def aws_account_id(arn):
    try:
        return names.aws_account_of(arn, field="aws_account_id input")
    except names.ArnError as exc:
        raise AnsibleFilterError(str(exc)) from exc


class FilterModule:
    def filters(self):
        return {"aws_account_id": aws_account_id}
