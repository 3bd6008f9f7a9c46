#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: gcp_project_iam_member
short_description: Add or remove members of role bindings in a Google Cloud project's IAM policy
version_added: 0.1.0
description:
  - Additive management of a project's IAM policy (Cloud Resource Manager v1), like Terraform's
    C(google_project_iam_member); members and bindings not named are never touched.
  - Supports IAM conditions; the policy is read and written with version 3.
  - Several bindings can be changed in one policy read-modify-write with O(bindings).
author:
  - keyless.wif maintainers (@keyless-wif)
extends_documentation_fragment:
  - keyless.wif.gcp
  - keyless.wif.gcp.bindings
  - keyless.wif.gcp.attributes
seealso:
  - module: keyless.wif.gcp_service_account_iam_member
  - name: projects.setIamPolicy
    description: The Resource Manager v1 method this module uses.
    link: https://cloud.google.com/resource-manager/reference/rest/v1/projects/setIamPolicy
"""

EXAMPLES = r"""
- name: Let the LiteLLM service account call Vertex AI
  keyless.wif.gcp_project_iam_member:
    project: my-project
    role: roles/aiplatform.user
    members:
      - serviceAccount:litellm-vertex@my-project.iam.gserviceaccount.com

- name: Time-limited grant with a condition
  keyless.wif.gcp_project_iam_member:
    project: my-project
    role: roles/aiplatform.user
    members: [user:alice@example.com]
    condition:
      title: until-2027
      expression: request.time < timestamp('2027-01-01T00:00:00Z')

- name: Several bindings in one policy update
  keyless.wif.gcp_project_iam_member:
    project: my-project
    bindings:
      - role: roles/aiplatform.user
        members: [serviceAccount:litellm-vertex@my-project.iam.gserviceaccount.com]
      - role: roles/logging.logWriter
        members: [serviceAccount:litellm-vertex@my-project.iam.gserviceaccount.com]

- name: Remove a member
  keyless.wif.gcp_project_iam_member:
    project: my-project
    role: roles/aiplatform.user
    members: [user:alice@example.com]
    state: absent
"""

RETURN = r"""
bindings:
  description:
    - For each managed binding (role, plus C(if TITLE) for a conditional one), which of the requested members it holds
      after the task.
  returned: always
  type: dict
  sample: {"roles/aiplatform.user": ["serviceAccount:litellm-vertex@my-project.iam.gserviceaccount.com"]}
etag:
  description: Etag of the policy after the task (of the policy read, in check mode or when nothing changed).
  returned: always
  type: str
  sample: BwXhqD3Zg7A=
version:
  description: Version of the policy after the task.
  returned: always
  type: int
  sample: 3
retries_used:
  description:
    - Requests that were retried after HTTP 429, 5xx, C(ABORTED) or an etag conflict, with the status, the path
      and the seconds waited.
  returned: when a retry happened
  type: list
  elements: dict
  sample: [{"http_status": 503, "google_status": "UNAVAILABLE", "path": "v1/projects/p/...", "wait": 0.41}]
"""

from ansible_collections.keyless.wif.plugins.module_utils.gcp.iam import (
    IamPolicyTarget,
    bindings_argument_spec,
    desired_bindings,
    policy_result,
    validate_bindings,
)
from ansible_collections.keyless.wif.plugins.module_utils.gcp.module import GcpModule


def run(module):
    params = module.params
    wanted = desired_bindings(params["role"], params["members"], params["condition"], params["bindings"])
    validate_bindings(wanted, nested=params["bindings"] is not None)
    target = IamPolicyTarget("cloudresourcemanager", "projects/%s" % params["project"])
    changed, before, after, policy = module.ensure_bindings(target, wanted, params["state"] == "present")
    module.exit(changed, before=before, after=after, bindings=after, **policy_result(policy))


def main():
    module = GcpModule(
        argument_spec=bindings_argument_spec(),
        required_one_of=[("role", "bindings")],
        mutually_exclusive=[("role", "bindings"), ("bindings", "condition"), ("bindings", "members")],
    )
    module.run(run)


if __name__ == "__main__":
    main()
