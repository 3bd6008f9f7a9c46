# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
name: wif_propagation_verdict
short_description: Why a credential check that waited for IAM propagation still fails
version_added: 0.1.0
description:
  - Takes a M(keyless.wif.wif_credentials_check) result and says, for a C(binding_missing) diagnosis, whether the
    controller sees the caller's C(principalSet) in the service account's C(roles/iam.workloadIdentityUser)
    binding. If it does, the cause is propagation; if it does not, the binding is missing.
  - Empty for any other diagnosis.
author:
  - keyless.wif maintainers (@keyless-wif)
options:
  _input:
    description: The registered result of M(keyless.wif.wif_credentials_check).
    type: dict
    required: true
  policy_read:
    description:
      - The registered result of M(keyless.wif.gcp_service_account_iam_member) run in check mode with the check's
        C(principal_set) as member (changed means the member is not in the policy), or a skipped result.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Explain the failure
  ansible.builtin.debug:
    msg: "{{ check | keyless.wif.wif_propagation_verdict(policy_read) }}"
"""

RETURN = r"""
_value:
  description: One sentence, or an empty string.
  type: str
"""

from ansible_collections.keyless.wif.plugins.module_utils.wif.diagnoses import propagation_verdict


def wif_propagation_verdict(check, policy_read=None):
    return propagation_verdict(check, policy_read)


class FilterModule:
    def filters(self):
        return {"wif_propagation_verdict": wif_propagation_verdict}
