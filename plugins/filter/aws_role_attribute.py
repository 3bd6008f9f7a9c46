# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
name: aws_role_attribute
short_description: The attribute.aws_role value Google's default AWS mapping yields for an ARN
version_added: 0.1.0
description:
  - Converts an IAM role ARN (C(arn:aws:iam::ACCT:role/NAME)) or an STS assumed-role ARN
    (with or without its session) to C(arn:aws:sts::ACCT:assumed-role/NAME), the value that
    Google's default AWS attribute mapping gives C(attribute.aws_role) for every session of
    that role. IAM user ARNs pass through unchanged.
  - P(keyless.wif.aws_role_principal_set#filter) builds the IAM member from the same input.
author:
  - keyless.wif maintainers (@keyless-wif)
options:
  _input:
    description: An AWS ARN.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Admit only these roles in the provider's condition
  ansible.builtin.set_fact:
    admitted: "{{ role_arns | map('keyless.wif.aws_role_attribute') | list }}"
  vars:
    role_arns:
      - arn:aws:iam::111111111111:role/litellm-host
"""

RETURN = r"""
_value:
  description: The assumed-role ARN without session, for example C(arn:aws:sts::111111111111:assumed-role/litellm-host).
  type: str
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.keyless.wif.plugins.module_utils.wif import names


def aws_role_attribute(arn):
    try:
        return names.role_identity(arn, field="aws_role_attribute input")["aws_role"]
    except names.ArnError as exc:
        raise AnsibleFilterError(str(exc)) from exc


class FilterModule:
    def filters(self):
        return {"aws_role_attribute": aws_role_attribute}
