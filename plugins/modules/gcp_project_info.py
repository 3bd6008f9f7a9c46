#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: gcp_project_info
short_description: Look up a Google Cloud project (ID, number, state)
version_added: 0.1.0
description:
  - Reads a project with Cloud Resource Manager v1 C(projects.get) and returns its number, ID and lifecycle state.
  - Workload identity resource names and audiences carry the project B(number); this module turns an ID into it.
author:
  - keyless.wif maintainers (@keyless-wif)
extends_documentation_fragment:
  - keyless.wif.gcp
  - keyless.wif.gcp.info_attributes
seealso:
  - name: projects.get
    description: The Resource Manager v1 method this module uses.
    link: https://cloud.google.com/resource-manager/reference/rest/v1/projects/get
"""

EXAMPLES = r"""
- name: Project number for audiences and principalSets
  keyless.wif.gcp_project_info:
    project: my-project
  register: project

- name: Use it
  ansible.builtin.debug:
    msg: "//iam.googleapis.com/projects/{{ project.project_number }}/locations/global/workloadIdentityPools/aws"
"""

RETURN = r"""
project_number:
  description: The project number (a string of digits).
  returned: success
  type: str
  sample: "123456789012"
project_id:
  description: The project ID.
  returned: success
  type: str
  sample: my-project
lifecycle_state:
  description: V(ACTIVE), V(DELETE_REQUESTED) or V(DELETE_IN_PROGRESS).
  returned: success
  type: str
  sample: ACTIVE
project:
  description: The project as returned by the API, snake_case keys (labels kept as is).
  returned: success
  type: dict
  sample:
    project_number: "123456789012"
    project_id: my-project
    lifecycle_state: ACTIVE
    name: My project
retries_used:
  description:
    - Requests that were retried after HTTP 429, 5xx, C(ABORTED) or an etag conflict, with the status, the path
      and the seconds waited.
  returned: when a retry happened
  type: list
  elements: dict
  sample: [{"http_status": 503, "google_status": "UNAVAILABLE", "path": "v1/projects/p/...", "wait": 0.41}]
"""

from ansible_collections.keyless.wif.plugins.module_utils.gcp.errors import snake
from ansible_collections.keyless.wif.plugins.module_utils.gcp.module import GcpModule


def run(module):
    project = module.project_info()
    if module.params["project"] != project.get("projectId") and not module.params["project"].isdigit():
        module.warn("asked for project %s, the API answered for %s"
                    % (module.params["project"], project.get("projectId")))
    module.exit(False,
                project_number=str(project.get("projectNumber", "")),
                project_id=project.get("projectId", ""),
                lifecycle_state=project.get("lifecycleState", ""),
                project=snake(project))


def main():
    module = GcpModule(argument_spec={})
    module.run(run)


if __name__ == "__main__":
    main()
