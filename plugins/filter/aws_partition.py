# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
name: aws_partition
short_description: The AWS partition of an ARN
version_added: 0.1.0
description:
  - Returns the partition of an IAM role, STS assumed-role or IAM user ARN, for example C(aws),
    C(aws-cn) or C(aws-us-gov).
  - The C(keyless.wif.external_account) role needs it (O(external_account_aws_partition)) to write
    the partition's STS host into the credential file.
author:
  - keyless.wif maintainers (@keyless-wif)
options:
  _input:
    description: An AWS ARN.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Write the credential file for a host in the China regions
  ansible.builtin.include_role:
    name: keyless.wif.external_account
  vars:
    external_account_aws_partition: "{{ 'arn:aws-cn:iam::111111111111:role/litellm-host' | keyless.wif.aws_partition }}"
"""

RETURN = r"""
_value:
  description: The partition, for example C(aws-cn).
  type: str
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.keyless.wif.plugins.module_utils.wif import names


def aws_partition(arn):
    try:
        return names.role_identity(arn, field="aws_partition input")["partition"]
    except names.ArnError as exc:
        raise AnsibleFilterError(str(exc)) from exc


class FilterModule:
    def filters(self):
        return {"aws_partition": aws_partition}
