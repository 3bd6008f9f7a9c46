#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: gcp_project_audit_config
short_description: Enable or disable Cloud Audit Logs types for one service of a Google Cloud project
version_added: 0.2.0
description:
  - Additive management of the C(auditConfigs) of a project's IAM policy (Cloud Resource Manager v1), like
    Terraform's C(google_project_iam_audit_config) but leaving log types and services not named untouched.
  - The policy is changed by an etag read-modify-write, redone on a concurrent change (C(ABORTED), HTTP 409).
  - Every write sends C(updateMask=auditConfigs,etag); C(projects.setIamPolicy) ignores C(auditConfigs)
    under its default mask C(bindings, etag). Role bindings are never changed by this module.
  - Needs the permissions C(resourcemanager.projects.getIamPolicy) and C(resourcemanager.projects.setIamPolicy).
author:
  - keyless.wif maintainers (@keyless-wif)
extends_documentation_fragment:
  - keyless.wif.gcp
  - keyless.wif.gcp.attributes
options:
  service:
    description:
      - The service whose audit logs are configured, for example V(sts.googleapis.com), or V(allServices).
    type: str
    required: true
  log_types:
    description:
      - The log types to enable (O(state=present)) or to disable (O(state=absent)).
      - Defaults to all three with O(state=present); with O(state=absent) and no list, the service's whole
        entry is removed.
    type: list
    elements: str
    choices: [ADMIN_READ, DATA_WRITE, DATA_READ]
  exempted_members:
    description:
      - Identities whose calls are not logged, set as the exact exemption list of each log type in O(log_types)
        (an empty list removes the exemptions). Same member format as IAM bindings.
      - When not given, exemptions already configured are left as they are.
      - Only with O(state=present).
    type: list
    elements: str
  state:
    description:
      - V(present) enables the log types; V(absent) disables only the listed ones.
    type: str
    choices: [present, absent]
    default: present
seealso:
  - module: keyless.wif.gcp_project_iam_member
  - name: projects.setIamPolicy
    description: The Resource Manager v1 method this module uses, with its updateMask.
    link: https://cloud.google.com/resource-manager/reference/rest/v1/projects/setIamPolicy
  - name: Enable Data Access audit logs
    description: Google's guide to auditConfigs.
    link: https://cloud.google.com/logging/docs/audit/configure-data-access
"""

EXAMPLES = r"""
- name: Audit token exchanges and token minting
  keyless.wif.gcp_project_audit_config:
    project: my-project
    service: "{{ item }}"
    log_types: [ADMIN_READ, DATA_READ, DATA_WRITE]
  loop: [sts.googleapis.com, iamcredentials.googleapis.com]

- name: Data reads of every service, except those of a monitoring account
  keyless.wif.gcp_project_audit_config:
    project: my-project
    service: allServices
    log_types: [DATA_READ]
    exempted_members: [serviceAccount:monitor@my-project.iam.gserviceaccount.com]

- name: Stop logging data reads of STS
  keyless.wif.gcp_project_audit_config:
    project: my-project
    service: sts.googleapis.com
    log_types: [DATA_READ]
    state: absent
"""

RETURN = r"""
audit_config:
  description: The service's audit config after the task (null when the project has none for it).
  returned: always
  type: dict
  sample: {"service": "sts.googleapis.com", "audit_log_configs": [{"log_type": "DATA_READ", "exempted_members": []}]}
  contains:
    service:
      description: The service.
      type: str
    audit_log_configs:
      description: One entry per enabled log type.
      type: list
      elements: dict
      contains:
        log_type:
          description: ADMIN_READ, DATA_WRITE or DATA_READ.
          type: str
        exempted_members:
          description: Identities exempted from this log type.
          type: list
          elements: str
log_types:
  description: The log types the project's entry for the service enables after the task.
  returned: always
  type: list
  elements: str
  sample: [ADMIN_READ, DATA_WRITE, DATA_READ]
etag:
  description: Etag of the policy after the task (of the policy read, in check mode or when nothing changed).
  returned: always
  type: str
  sample: BwXhqD3Zg7A=
version:
  description: Version of the policy after the task.
  returned: always
  type: int
  sample: 1
retries_used:
  description:
    - Requests that were retried after HTTP 429, 5xx, C(ABORTED) or an etag conflict, with the status, the path
      and the seconds waited.
  returned: when a retry happened
  type: list
  elements: dict
  sample: [{"http_status": 409, "google_status": "ABORTED", "path": "setIamPolicy (etag conflict, re-read)", "wait": 0}]
"""

from ansible_collections.keyless.wif.plugins.module_utils.gcp.audit import (
    audit_config_argument_spec,
    audit_config_view,
    desired_audit_config,
    enabled_log_types,
    ensure_audit_config,
)
from ansible_collections.keyless.wif.plugins.module_utils.gcp.iam import IamPolicyTarget, policy_result
from ansible_collections.keyless.wif.plugins.module_utils.gcp.module import GcpModule


def run(module):
    params = module.params
    wanted = desired_audit_config(params["service"], params["log_types"], params["exempted_members"], params["state"])
    target = IamPolicyTarget("cloudresourcemanager", "projects/%s" % params["project"])
    changed, before, after = ensure_audit_config(module.client, target, wanted, check_mode=module.check_mode)
    service = params["service"]
    module.exit(changed, before=audit_config_view(before, service) or {}, after=audit_config_view(after, service) or {},
                audit_config=audit_config_view(after, service), log_types=enabled_log_types(after, service),
                **policy_result(after))


def main():
    module = GcpModule(argument_spec=audit_config_argument_spec())
    module.run(run)


if __name__ == "__main__":
    main()
