#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: gcp_workload_identity_pool
short_description: Manage a Google Cloud workload identity pool
version_added: 0.1.0
description:
  - Creates, updates, disables, deletes and undeletes a workload identity pool (IAM v1, location C(global)).
  - Deleting a pool is soft on Google's side; the pool stays readable with C(state=DELETED) for 30 days and its
    ID cannot be reused. Asking for O(state=present) on such a pool undeletes it and then applies the other options.
  - Only the fields given are managed; an omitted O(display_name), O(description) or O(disabled) is left as is.
  - An update sends exactly the changed fields in C(updateMask).
author:
  - keyless.wif maintainers (@keyless-wif)
options:
  pool_id:
    description:
      - ID of the pool, 4-32 characters of lowercase letters, digits and hyphens. The prefix C(gcp-) is reserved.
    type: str
    required: true
    aliases: [workload_identity_pool_id]
  state:
    description:
      - V(present) creates, undeletes or updates the pool.
      - V(absent) deletes it (soft delete). A pool that does not exist or is already deleted is not a change.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - keyless.wif.gcp
  - keyless.wif.gcp.wif_resource
  - keyless.wif.gcp.attributes
seealso:
  - module: keyless.wif.gcp_workload_identity_pool_provider
  - name: Workload identity pools REST reference
    description: The IAM v1 API resource this module manages.
    link: https://cloud.google.com/iam/docs/reference/rest/v1/projects.locations.workloadIdentityPools
"""

EXAMPLES = r"""
- name: Pool for AWS workloads
  keyless.wif.gcp_workload_identity_pool:
    project: my-project
    pool_id: aws-workloads
    display_name: AWS workloads
    description: EC2 instances of the LiteLLM proxy fleet
    auth_kind: application

- name: Same, with auth and endpoints set once for every GCP module
  module_defaults:
    group/keyless.wif.gcp:
      project: my-project
      auth_kind: external_account
      external_account_file: /etc/keyless/controller.json
  block:
    - name: Ensure the pool exists and is enabled
      keyless.wif.gcp_workload_identity_pool:
        pool_id: aws-workloads
        disabled: false

- name: Remove a pool (soft delete, undone by state=present within 30 days)
  keyless.wif.gcp_workload_identity_pool:
    project: my-project
    pool_id: aws-workloads
    state: absent
"""

RETURN = r"""
name:
  description: Full resource name, with the project number.
  returned: always
  type: str
  sample: projects/123456789012/locations/global/workloadIdentityPools/aws-workloads
state:
  description: Google's state of the pool after the task (V(ACTIVE), V(DELETED)), V(ABSENT) when it does not exist.
  returned: always
  type: str
  sample: ACTIVE
actions:
  description: What was done (or would be done in check mode), in order.
  returned: always
  type: list
  elements: str
  sample: ["undelete", "update description"]
workload_identity_pool:
  description: The pool as returned by the API, with snake_case keys. Empty when the pool does not exist.
  returned: always
  type: dict
  contains:
    name:
      description: Full resource name.
      type: str
    display_name:
      description: Display name.
      type: str
    description:
      description: Description.
      type: str
    disabled:
      description: Whether the pool is disabled.
      type: bool
    state:
      description: V(ACTIVE) or V(DELETED).
      type: str
    expire_time:
      description: When a deleted pool will be purged.
      type: str
  sample:
    name: projects/123456789012/locations/global/workloadIdentityPools/aws-workloads
    display_name: AWS workloads
    state: ACTIVE
    disabled: false
retries_used:
  description:
    - Requests that were retried after HTTP 429, 5xx, C(ABORTED) or an etag conflict, with the status, the path
      and the seconds waited.
  returned: when a retry happened
  type: list
  elements: dict
  sample: [{"http_status": 503, "google_status": "UNAVAILABLE", "path": "v1/projects/p/...", "wait": 0.41}]
"""

from ansible_collections.keyless.wif.plugins.module_utils.gcp.module import GcpModule, resource_argument_spec
from ansible_collections.keyless.wif.plugins.module_utils.gcp.resources import (
    POOL_FIELDS,
    LroResource,
    check_pool_fields,
    ensure_lro_resource,
    named_with_number,
    resource_exit,
)


def run(module):
    params = module.params
    check_pool_fields(params)
    parent = "projects/%s/locations/global" % params["project"]
    pool = LroResource(module, "workload identity pool", parent=parent, collection="workloadIdentityPools",
                       id_param="workloadIdentityPoolId", resource_id=params["pool_id"])
    desired = {f.option: params[f.option] for f in POOL_FIELDS}
    changed, resource, before, after, actions = ensure_lro_resource(module, pool, POOL_FIELDS, desired, params["state"])
    # The name carries the project number, predicted creates included: gcp_service_account_iam_member takes it as pool.
    name, resource = named_with_number(module, pool, resource)
    resource_exit(module, changed, resource, before, after, actions, "workload_identity_pool", name=name)


def main():
    module = GcpModule(
        argument_spec=resource_argument_spec(
            pool_id=dict(type="str", required=True, aliases=["workload_identity_pool_id"]),
        ),
    )
    module.run(run)


if __name__ == "__main__":
    main()
