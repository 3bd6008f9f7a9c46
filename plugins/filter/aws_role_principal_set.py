# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
name: aws_role_principal_set
short_description: The IAM member that matches every session of an AWS role in a workload identity pool
version_added: 0.1.0
description:
  - Builds
    C(principalSet://iam.googleapis.com/projects/NUMBER/locations/global/workloadIdentityPools/POOL/attribute.aws_role/arn:aws:sts::ACCT:assumed-role/NAME)
    from an IAM role ARN or an assumed-role ARN, the form that matches an EC2 role session under
    Google's default AWS attribute mapping.
  - The IAM form C(arn:aws:iam::ACCT:role/NAME) is converted; binding it unconverted never matches.
author:
  - keyless.wif maintainers (@keyless-wif)
options:
  _input:
    description: An AWS role ARN (IAM or STS assumed-role form) or IAM user ARN.
    type: str
    required: true
  project_number:
    description: Number of the Google Cloud project that owns the pool.
    type: str
    required: true
  pool_id:
    description: Workload identity pool id.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Member to grant roles/iam.workloadIdentityUser
  ansible.builtin.debug:
    msg: "{{ 'arn:aws:iam::111111111111:role/litellm-host' | keyless.wif.aws_role_principal_set('123456789012', 'aws-hosts') }}"
"""

RETURN = r"""
_value:
  description: The principalSet member.
  type: str
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.keyless.wif.plugins.module_utils.wif import names


def aws_role_principal_set(arn, project_number, pool_id):
    try:
        value = names.role_identity(arn, field="aws_role_principal_set input")["aws_role"]
    except names.ArnError as exc:
        raise AnsibleFilterError(str(exc)) from exc
    return names.aws_role_principal_set(str(project_number), pool_id, value)


class FilterModule:
    def filters(self):
        return {"aws_role_principal_set": aws_role_principal_set}
