#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: gcp_service_account
short_description: Manage a Google Cloud service account
version_added: 0.1.0
description:
  - Creates, updates, disables, enables and deletes a service account (IAM v1). No key is ever created.
  - Display name and description are changed with one C(patch) whose C(updateMask) lists exactly the changed fields;
    O(disabled) is changed with C(:disable) / C(:enable), the only way the API allows.
  - Only the fields given are managed; an omitted O(display_name), O(description) or O(disabled) is left as is.
  - Deleting a service account is final from this module's point of view. Google keeps a deleted account
    undeletable (by unique ID) for 30 days, but the e-mail address is free at once; O(state=present) on a deleted
    account creates a B(new) account with a new C(unique_id). Role bindings that named the old account are shown by
    Google as C(deleted:serviceAccount:...) and do not apply to the new one, so re-run the binding tasks as well.
author:
  - keyless.wif maintainers (@keyless-wif)
options:
  account_id:
    description:
      - The account ID, the part of the e-mail before C(@), 6-30 characters matching C([a-z]([-a-z0-9]*[a-z0-9])).
      - A full service-account e-mail address is accepted too.
    type: str
    required: true
  display_name:
    description: Display name, at most 100 characters. Use an empty string to clear it.
    type: str
  description:
    description: Description, at most 256 characters. Use an empty string to clear it.
    type: str
  disabled:
    description: Whether the account is disabled. A disabled account cannot be impersonated.
    type: bool
  state:
    description: V(present) creates or updates the account, V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - keyless.wif.gcp
  - keyless.wif.gcp.attributes
seealso:
  - module: keyless.wif.gcp_service_account_iam_member
  - module: keyless.wif.gcp_project_iam_member
"""

EXAMPLES = r"""
- name: Service account the LiteLLM proxy impersonates
  keyless.wif.gcp_service_account:
    project: my-project
    account_id: litellm-vertex
    display_name: LiteLLM proxy (Vertex AI)
    description: Impersonated by EC2 instances through workload identity federation
  register: sa

- name: Use its e-mail
  ansible.builtin.debug:
    msg: "{{ sa.email }}"

- name: Temporarily disable it
  keyless.wif.gcp_service_account:
    project: my-project
    account_id: litellm-vertex
    disabled: true
"""

RETURN = r"""
email:
  description: E-mail address of the service account.
  returned: always
  type: str
  sample: litellm-vertex@my-project.iam.gserviceaccount.com
unique_id:
  description: Numeric unique ID of the account; empty when it does not exist (or in check mode before creation).
  returned: always
  type: str
  sample: "104885372924517112345"
name:
  description: Full resource name.
  returned: always
  type: str
  sample: projects/my-project/serviceAccounts/litellm-vertex@my-project.iam.gserviceaccount.com
actions:
  description: What was done (or would be done in check mode), in order.
  returned: always
  type: list
  elements: str
  sample: ["create", "disable"]
service_account:
  description: The service account as returned by the API, snake_case keys; empty when absent.
  returned: always
  type: dict
  contains:
    email:
      description: E-mail address.
      type: str
    unique_id:
      description: Unique ID.
      type: str
    display_name:
      description: Display name.
      type: str
    description:
      description: Description.
      type: str
    disabled:
      description: Whether the account is disabled.
      type: bool
    project_id:
      description: Project ID.
      type: str
    oauth2_client_id:
      description: OAuth2 client ID.
      type: str
  sample:
    email: litellm-vertex@my-project.iam.gserviceaccount.com
    unique_id: "104885372924517112345"
    display_name: LiteLLM proxy (Vertex AI)
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

from ansible_collections.keyless.wif.plugins.module_utils.gcp.errors import GcpError, snake
from ansible_collections.keyless.wif.plugins.module_utils.gcp.module import (
    GcpModule,
    check_service_account_ref,
    resource_argument_spec,
)
from ansible_collections.keyless.wif.plugins.module_utils.wif.validate import (
    SA_DESCRIPTION_MAX,
    SA_DISPLAY_NAME_MAX,
    check_utf8_length,
)

TEXT_FIELDS = (("display_name", "displayName"), ("description", "description"))


def validate(params):
    """All input checks, before any request (a numeric project is resolved only afterwards)."""
    check_utf8_length("display_name", params["display_name"], SA_DISPLAY_NAME_MAX)
    check_utf8_length("description", params["description"], SA_DESCRIPTION_MAX)
    check_service_account_ref("account_id", params["account_id"])


def view(account):
    if account is None:
        return {}
    return {
        "display_name": account.get("displayName", ""),
        "description": account.get("description", ""),
        "disabled": bool(account.get("disabled", False)),
    }


def run(module):
    params = module.params
    validate(params)
    # An e-mail must be of the module's project: checked here, where a numeric project is known
    # by its ID; still before any write.
    account_id, email = module.service_account("account_id", params["account_id"], same_project=True)
    project = params["project"]
    name = "projects/%s/serviceAccounts/%s" % (project, email)
    client = module.client
    current = client.get_or_none("iam", "v1/" + name, resource=name, action="read service account")
    before = view(current)
    actions = []

    if params["state"] == "absent":
        if current is not None:
            actions.append("delete")
            if not module.check_mode:
                # A retried DELETE answering 404 means the first attempt landed.
                client.request("DELETE", "iam", "v1/" + name, resource=name, action="delete service account",
                               landed_if=lambda exc: exc.is_not_found)
        finish(module, actions, None, (email, name), (before, {}))
        return

    if current is None:
        actions.append("create")
        account = {k_api: params[k] for k, k_api in TEXT_FIELDS if params[k] is not None}
        predicted = dict(account, email=email, name=name, projectId=project)
        current = predicted if module.check_mode else create(client, project, name, account_id, account)
    mask = [api for opt, api in TEXT_FIELDS
            if params[opt] is not None and current.get(api, "") != params[opt]]
    if mask:
        actions.append("update " + ",".join(mask))
        patch = {api: params[opt] for opt, api in TEXT_FIELDS if api in mask}
        if module.check_mode:
            current = dict(current, **patch)
        else:
            if current.get("etag"):
                patch["etag"] = current["etag"]
            current = client.request("PATCH", "iam", "v1/" + name,
                                     body={"serviceAccount": patch, "updateMask": ",".join(mask)},
                                     resource=name, action="update service account")
    if params["disabled"] is not None and bool(current.get("disabled", False)) != params["disabled"]:
        verb = "disable" if params["disabled"] else "enable"
        actions.append(verb)
        if not module.check_mode:
            client.request("POST", "iam", "v1/%s:%s" % (name, verb), body={}, resource=name,
                           action=verb + " service account")
        current = dict(current, disabled=params["disabled"])
    finish(module, actions, current, (email, name), (before, view(current)))


def create(client, project, name, account_id, account):
    """Create the account, then wait until it is visible: IAM answers 404 for a new account for a while."""
    created = None
    try:
        created = client.request("POST", "iam", "v1/projects/%s/serviceAccounts" % project,
                                 body={"accountId": account_id, "serviceAccount": account},
                                 resource=name, action="create service account")
    except GcpError as exc:
        # Created between our GET and POST (a retried request that had landed, or a concurrent
        # run): converge on the account that exists.
        if exc.google_status != "ALREADY_EXISTS":
            raise
    return client.wait_visible("iam", "v1/" + name, resource=name, action="read new service account", created=created)


def finish(module, actions, account, ids, diff):
    email, name = ids
    before, after = diff
    module.exit(bool(actions), before=before, after=after,
                email=email,
                unique_id=(account or {}).get("uniqueId", ""),
                name=(account or {}).get("name", name),
                actions=actions,
                service_account=snake(account) if account else {})


def main():
    module = GcpModule(
        argument_spec=resource_argument_spec(account_id=dict(type="str", required=True)),
    )
    module.run(run)


if __name__ == "__main__":
    main()
