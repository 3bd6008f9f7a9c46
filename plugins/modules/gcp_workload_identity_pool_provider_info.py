#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: gcp_workload_identity_pool_provider_info
short_description: List the providers of a Google Cloud workload identity pool
version_added: 0.1.0
description:
  - Lists the providers of a workload identity pool (IAM v1 C(providers.list)), every page.
  - A pool that does not exist has no providers; the answer is then an empty list, not an error.
  - The C(keyless.wif.gcp_federation) role reads it to keep each AWS account's provider and to remove the providers
    it derived for accounts that are no longer listed.
author:
  - keyless.wif maintainers (@keyless-wif)
options:
  pool_id:
    description: ID of the workload identity pool.
    type: str
    required: true
    aliases: [workload_identity_pool_id]
  show_deleted:
    description: Also list soft-deleted providers (C(state=DELETED), kept 30 days).
    type: bool
    default: false
extends_documentation_fragment:
  - keyless.wif.gcp
  - keyless.wif.gcp.info_attributes
seealso:
  - module: keyless.wif.gcp_workload_identity_pool_provider
  - name: providers.list
    description: The IAM v1 method this module uses.
    link: https://cloud.google.com/iam/docs/reference/rest/v1/projects.locations.workloadIdentityPools.providers/list
"""

EXAMPLES = r"""
- name: The providers of a pool
  keyless.wif.gcp_workload_identity_pool_provider_info:
    project: my-project
    pool_id: aws-workloads
  register: listed

- name: Their AWS accounts
  ansible.builtin.debug:
    msg: "{{ listed.providers | map(attribute='aws') | select | map(attribute='account_id') | list }}"
"""

RETURN = r"""
providers:
  description:
    - The pool's providers as returned by the API, with snake_case keys (attribute_mapping keys kept as is), in the
      API's order, each with its C(provider_id) (the last part of its C(name)).
    - Empty when the pool does not exist.
  returned: always
  type: list
  elements: dict
  sample:
    - name: projects/123456789012/locations/global/workloadIdentityPools/aws-workloads/providers/aws-provider
      provider_id: aws-provider
      state: ACTIVE
      aws:
        account_id: "111111111111"
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
from ansible_collections.keyless.wif.plugins.module_utils.gcp.module import GcpModule
from ansible_collections.keyless.wif.plugins.module_utils.wif.names import parse_provider_name, pool_name
from ansible_collections.keyless.wif.plugins.module_utils.wif.validate import check_wif_id

# A bound on the pages read (Google allows at most 100 providers a pool; 50 a page by default).
MAX_PAGES = 100


def run(module):
    params = module.params
    check_wif_id("pool_id", params["pool_id"])
    pool = pool_name(params["project"], params["pool_id"])
    providers = []
    query = {"showDeleted": "true"} if params["show_deleted"] else {}
    for _page in range(MAX_PAGES):
        try:
            answer = module.client.request("GET", "iam", "v1/%s/providers" % pool, params=dict(query), resource=pool,
                                           action="list workload identity pool providers")
        except GcpError as exc:
            if module.client.absent(exc):
                break
            raise
        for provider in answer.get("workloadIdentityPoolProviders", []):
            entry = snake(provider)
            entry["provider_id"] = (parse_provider_name(provider.get("name")) or {}).get("provider", "")
            providers.append(entry)
        if not answer.get("nextPageToken"):
            break
        query["pageToken"] = answer["nextPageToken"]
    module.exit(False, providers=providers)


def main():
    module = GcpModule(argument_spec=dict(
        pool_id=dict(type="str", required=True, aliases=["workload_identity_pool_id"]),
        show_deleted=dict(type="bool", default=False),
    ))
    module.run(run)


if __name__ == "__main__":
    main()
