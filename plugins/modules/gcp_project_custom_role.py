#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: gcp_project_custom_role
short_description: Manage a project-level IAM custom role
version_added: 0.2.0
description:
  - Creates, updates, deletes and undeletes a custom role of a project (IAM v1 C(projects.roles)).
  - The role holds exactly O(permissions); a change is one C(patch) whose C(updateMask) lists the changed fields.
  - A deleted role (Google keeps it, C(deleted=true), until it is purged) is undeleted by O(state=present), then updated.
  - With C(query('keyless.wif.controller_permissions', 'all')) as O(permissions) it is the least-privilege role of the
    identity that runs the collection (see C(docs/least-privilege.md)).
author:
  - keyless.wif maintainers (@keyless-wif)
options:
  role_id:
    description: The role ID, 3-64 characters of letters, digits, underscores and periods.
    type: str
    required: true
  title:
    description: Title, at most 100 characters. Defaults to the role ID when the role is created.
    type: str
  description:
    description: Description, at most 300 characters.
    type: str
  permissions:
    description:
      - The permissions the role includes (required with O(state=present)). Order and repeats do not matter.
    type: list
    elements: str
  stage:
    description: The launch stage.
    type: str
    choices: [ALPHA, BETA, GA, DEPRECATED, DISABLED, EAP]
    default: GA
  state:
    description: V(present) creates, undeletes or updates the role, V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - keyless.wif.gcp
  - keyless.wif.gcp.attributes
seealso:
  - module: keyless.wif.gcp_project_iam_member
"""

EXAMPLES = r"""
- name: The controller's least-privilege role
  keyless.wif.gcp_project_custom_role:
    project: my-project
    role_id: keylessController
    title: keyless.wif controller
    permissions: "{{ query('keyless.wif.controller_permissions', 'all') }}"

- name: Bind the controller to it
  keyless.wif.gcp_project_iam_member:
    project: my-project
    role: projects/my-project/roles/keylessController
    members:
      - serviceAccount:controller@my-project.iam.gserviceaccount.com
"""

RETURN = r"""
name:
  description: Full name of the role, the value to bind (C(projects/PROJECT_ID/roles/ROLE_ID)).
  returned: always
  type: str
  sample: projects/my-project/roles/keylessController
actions:
  description: What was done (or would be done in check mode), in order.
  returned: always
  type: list
  elements: str
  sample: ["create"]
role:
  description: The role as returned by the API, snake_case keys; empty when absent.
  returned: always
  type: dict
  contains:
    name:
      description: Full name.
      type: str
    title:
      description: Title.
      type: str
    description:
      description: Description.
      type: str
    included_permissions:
      description: The permissions, sorted.
      type: list
      elements: str
    stage:
      description: Launch stage.
      type: str
    deleted:
      description: Whether the role is deleted.
      type: bool
  sample:
    name: projects/my-project/roles/keylessController
    title: keyless.wif controller
    included_permissions: ["iam.workloadIdentityPools.create"]
    stage: GA
retries_used:
  description:
    - Requests that were retried after HTTP 429, 5xx, C(ABORTED) or an etag conflict, with the status, the path
      and the seconds waited.
  returned: when a retry happened
  type: list
  elements: dict
  sample: [{"http_status": 503, "google_status": "UNAVAILABLE", "path": "v1/projects/p/roles/r", "wait": 0.41}]
"""

import re

from ansible_collections.keyless.wif.plugins.module_utils.gcp.errors import snake
from ansible_collections.keyless.wif.plugins.module_utils.gcp.module import GcpModule
from ansible_collections.keyless.wif.plugins.module_utils.wif.validate import ValidationError, check_length

ROLE_ID_RE = re.compile(r"[a-zA-Z0-9_.]{3,64}")
PERMISSION_RE = re.compile(r"[a-zA-Z0-9-]+(\.[a-zA-Z0-9-]+)+")


def validate(params):
    """All input checks, before any request."""
    if not ROLE_ID_RE.fullmatch(params["role_id"]):
        raise ValidationError("role_id", "must be 3-64 characters of letters, digits, underscores and periods", params["role_id"])
    if params["title"] is not None:
        check_length("title", params["title"], 100)
    if params["description"] is not None:
        check_length("description", params["description"], 300)
    if params["state"] == "present" and params["permissions"] is None:
        raise ValidationError("permissions", "is required with state=present (the role holds exactly these)")
    for index, perm in enumerate(params["permissions"] or []):
        if not PERMISSION_RE.fullmatch(perm):
            raise ValidationError("permissions[%d]" % index, "must be a permission name such as iam.roles.get", perm)


def wanted(params):
    """The role's API fields as the options ask (None: left as is)."""
    return {
        "title": params["title"],
        "description": params["description"],
        "includedPermissions": sorted(set(params["permissions"])) if params["permissions"] is not None else None,
        "stage": params["stage"],
    }


def view(role):
    if role is None or role.get("deleted"):
        return {}
    return {"title": role.get("title", ""), "description": role.get("description", ""),
            "permissions": sorted(role.get("includedPermissions", [])), "stage": role.get("stage", "")}


def run(module):
    params = module.params
    validate(params)
    project = module.project_id()
    name = "projects/%s/roles/%s" % (project, params["role_id"])
    client = module.client
    current = client.get_or_none("iam", "v1/" + name, resource=name, action="read custom role")
    before = view(current)
    actions = []

    if params["state"] == "absent":
        if current is not None and not current.get("deleted"):
            actions.append("delete")
            if not module.check_mode:
                current = client.request("DELETE", "iam", "v1/" + name, resource=name, action="delete custom role")
            else:
                current = dict(current, deleted=True)
        finish(module, actions, name, current, before)
        return

    want = wanted(params)
    if current is None:
        actions.append("create")
        role = {api: value for api, value in want.items() if value is not None}
        role.setdefault("title", params["role_id"])
        if module.check_mode:
            current = dict(role, name=name)
        else:
            current = client.request("POST", "iam", "v1/projects/%s/roles" % project, body={"roleId": params["role_id"], "role": role},
                                     resource=name, action="create custom role")
        finish(module, actions, name, current, before)
        return
    if current.get("deleted"):
        actions.append("undelete")
        current = dict(current, deleted=False) if module.check_mode else client.request(
            "POST", "iam", "v1/%s:undelete" % name, body={"etag": current.get("etag")}, resource=name, action="undelete custom role")
    have = dict(current, includedPermissions=sorted(current.get("includedPermissions", [])))
    mask = [api for api, value in want.items() if value is not None and have.get(api, "") != value]
    if mask:
        actions.append("update " + ",".join(mask))
        patch = {api: want[api] for api in mask}
        if module.check_mode:
            current = dict(current, **patch)
        else:
            patch["etag"] = current.get("etag")
            current = client.request("PATCH", "iam", "v1/" + name, params={"updateMask": ",".join(mask)}, body=patch,
                                     resource=name, action="update custom role")
    finish(module, actions, name, current, before)


def finish(module, actions, name, role, before):
    module.exit(bool(actions), before=before, after=view(role), name=name, actions=actions,
                role=snake(role) if role else {})


def main():
    module = GcpModule(
        argument_spec=dict(
            role_id=dict(type="str", required=True),
            title=dict(type="str"),
            description=dict(type="str"),
            permissions=dict(type="list", elements="str"),
            stage=dict(type="str", choices=["ALPHA", "BETA", "GA", "DEPRECATED", "DISABLED", "EAP"], default="GA"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
        ),
    )
    module.run(run)


if __name__ == "__main__":
    main()
