#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: gcp_project_service
short_description: Enable or disable APIs (services) of a Google Cloud project
version_added: 0.1.0
description:
  - Ensures a list of services is enabled or disabled with the Service Usage v1 API.
  - Reads the state of all listed services with C(services:batchGet) (one request per 30 services); services to
    enable are enabled together with C(services:batchEnable) (in batches of 20) and the long-running operation is
    awaited for up to O(wait_timeout) seconds.
author:
  - keyless.wif maintainers (@keyless-wif)
options:
  services:
    description:
      - Full service names, for example V(iam.googleapis.com), V(sts.googleapis.com),
        V(iamcredentials.googleapis.com), V(aiplatform.googleapis.com).
    type: list
    elements: str
    required: true
    aliases: [service]
  state:
    description: Whether the services should be enabled or disabled.
    type: str
    choices: [enabled, disabled]
    default: enabled
  disable_dependent_services:
    description:
      - When disabling, also disable services that depend on the ones listed. Without it, Google refuses to disable
        a service others depend on.
    type: bool
    default: false
extends_documentation_fragment:
  - keyless.wif.gcp
  - keyless.wif.gcp.attributes
seealso:
  - name: Service Usage v1 REST reference
    description: The API this module uses.
    link: https://cloud.google.com/service-usage/docs/reference/rest/v1/services
"""

EXAMPLES = r"""
- name: APIs the keyless Vertex AI flow needs
  keyless.wif.gcp_project_service:
    project: my-project
    services:
      - iam.googleapis.com
      - sts.googleapis.com
      - iamcredentials.googleapis.com
      - aiplatform.googleapis.com

- name: Turn an API off again
  keyless.wif.gcp_project_service:
    project: my-project
    services: [aiplatform.googleapis.com]
    state: disabled
"""

RETURN = r"""
services:
  description: State of every listed service after the task (predicted in check mode).
  returned: always
  type: dict
  sample: {"iam.googleapis.com": "ENABLED", "sts.googleapis.com": "ENABLED"}
changed_services:
  description: Services whose state was (or in check mode would be) changed.
  returned: always
  type: list
  elements: str
  sample: ["sts.googleapis.com"]
retries_used:
  description:
    - Requests that were retried after HTTP 429, 5xx, C(ABORTED) or an etag conflict, with the status, the path
      and the seconds waited.
  returned: when a retry happened
  type: list
  elements: dict
  sample: [{"http_status": 503, "google_status": "UNAVAILABLE", "path": "v1/projects/p/...", "wait": 0.41}]
"""

from ansible_collections.keyless.wif.plugins.module_utils.gcp.consistency import service_usage_busy
from ansible_collections.keyless.wif.plugins.module_utils.gcp.module import GcpModule
from ansible_collections.keyless.wif.plugins.module_utils.wif.validate import ValidationError, check_service_name

BATCH = 20
# Service Usage v1 BatchGetServicesRequest: "A single request can get a maximum of 30 services at a time."
READ_BATCH = 30


def validate(params):
    if not params["services"]:
        raise ValidationError("services", "must list at least one service")
    for index, name in enumerate(params["services"]):
        check_service_name("services[%d]" % index, name)


def change(module, path, body, resource, action):
    """One enable/disable and its operation, redone while Service Usage is busy with another change.

    Service Usage fails overlapping changes (400 "Another activation or deactivation is in
    progress", or an operation error 160009); Terraform retries both, and so do we, within
    consistency_timeout.
    """
    client = module.client

    def once():
        op = client.request("POST", "serviceusage", path, body=body, resource=resource, action=action)
        client.wait_operation("serviceusage", op, module.params["wait_timeout"], resource=resource, action=action)

    client.consistency.call(once, service_usage_busy, client.note_wait(path))


def read_states(client, project, services):
    """State of each service, read with services:batchGet (READ_BATCH names a call)."""
    parent = "projects/%s" % project
    states = {}
    for start in range(0, len(services), READ_BATCH):
        chunk = services[start:start + READ_BATCH]
        answer = client.request("GET", "serviceusage", "v1/%s/services:batchGet" % parent,
                                params={"names": ["%s/services/%s" % (parent, name) for name in chunk]},
                                resource="%s (%s)" % (parent, ", ".join(chunk)), action="read services")
        for service in answer.get("services") or []:
            name = (service.get("config") or {}).get("name") or service.get("name", "").rsplit("/", 1)[-1]
            states[name] = service.get("state", "STATE_UNSPECIFIED")
    return {name: states.get(name, "STATE_UNSPECIFIED") for name in services}


def run(module):
    params = module.params
    validate(params)
    project = params["project"]
    client = module.client
    wanted = "ENABLED" if params["state"] == "enabled" else "DISABLED"
    services = list(dict.fromkeys(params["services"]))
    current = read_states(client, project, services)
    todo = [name for name in services if current[name] != wanted]
    if todo and not module.check_mode:
        if wanted == "ENABLED":
            for start in range(0, len(todo), BATCH):
                chunk = todo[start:start + BATCH]
                change(module, "v1/projects/%s/services:batchEnable" % project, {"serviceIds": chunk},
                       "projects/%s (%s)" % (project, ", ".join(chunk)), "enable services")
        else:
            for name in todo:
                resource = "projects/%s/services/%s" % (project, name)
                change(module, "v1/%s:disable" % resource,
                       {"disableDependentServices": params["disable_dependent_services"]}, resource, "disable service")
    after = dict(current)
    for name in todo:
        after[name] = wanted
    module.exit(bool(todo), before=current, after=after, services=after, changed_services=todo)


def main():
    module = GcpModule(
        argument_spec=dict(
            services=dict(type="list", elements="str", required=True, aliases=["service"]),
            state=dict(type="str", choices=["enabled", "disabled"], default="enabled"),
            disable_dependent_services=dict(type="bool", default=False),
        ),
    )
    module.run(run)


if __name__ == "__main__":
    main()
