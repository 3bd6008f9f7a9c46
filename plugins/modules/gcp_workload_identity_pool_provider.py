#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: gcp_workload_identity_pool_provider
short_description: Manage an AWS provider in a Google Cloud workload identity pool
version_added: 0.1.0
description:
  - Creates, updates, disables, deletes and undeletes an AWS workload identity pool provider (IAM v1).
  - When O(attribute_mapping) is omitted, Google's default AWS mapping is used and compared, so leaving it out
    and spelling the default out are the same desired state. Whitespace outside CEL string literals is ignored
    when comparing expressions.
  - A provider with C(state=DELETED) (soft-deleted, kept 30 days) is undeleted by O(state=present), then updated.
  - An update sends exactly the changed fields in C(updateMask) (C(displayName), C(description), C(disabled),
    C(attributeMapping), C(attributeCondition), C(aws)).
  - Returns the RV(audience) string that C(external_account) credential files need.
author:
  - keyless.wif maintainers (@keyless-wif)
options:
  pool_id:
    description: ID of the workload identity pool the provider belongs to.
    type: str
    required: true
    aliases: [workload_identity_pool_id]
  provider_id:
    description:
      - ID of the provider, 4-32 characters of lowercase letters, digits and hyphens. The prefix C(gcp-) is reserved.
    type: str
    required: true
    aliases: [workload_identity_pool_provider_id]
  account_id:
    description:
      - The 12-digit AWS account ID whose identities may exchange tokens. Quote it in YAML.
      - Required when O(state=present).
    type: str
    aliases: [aws_account_id]
  attribute_mapping:
    description:
      - Map of Google attributes to CEL expressions over the AWS assertion. Must include C(google.subject).
      - Keys are C(google.subject), C(google.groups), C(google.display_name), C(google.posix_username) or
        C(attribute.NAME); each expression at most 2048 characters.
      - >-
        Omitted means Google's default AWS mapping, C(google.subject) = C(assertion.arn) and C(attribute.aws_role) =
        C(assertion.arn.contains('assumed-role') ? assertion.arn.extract('{account_arn}assumed-role/') + 'assumed-role/' +
        assertion.arn.extract('assumed-role/{role_name}/') : assertion.arn), which turns an EC2 instance's caller ARN
        C(arn:aws:sts::ACCOUNT:assumed-role/ROLE/i-0abc...) into C(arn:aws:sts::ACCOUNT:assumed-role/ROLE).
    type: dict
  attribute_condition:
    description:
      - CEL expression (at most 4096 characters) that every credential must satisfy, for example
        V(attribute.aws_role == 'arn:aws:sts::123456789012:assumed-role/litellm').
      - Omit to leave the current condition as is; an empty string removes it.
    type: str
  state:
    description:
      - V(present) creates, undeletes or updates the provider.
      - V(absent) deletes it (soft delete). A provider that does not exist or is already deleted is not a change.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - keyless.wif.gcp
  - keyless.wif.gcp.wif_resource
  - keyless.wif.gcp.attributes
seealso:
  - module: keyless.wif.gcp_workload_identity_pool
  - module: keyless.wif.gcp_service_account_iam_member
  - name: Workload identity pool providers REST reference
    description: The IAM v1 API resource this module manages.
    link: https://cloud.google.com/iam/docs/reference/rest/v1/projects.locations.workloadIdentityPools.providers
"""

EXAMPLES = r"""
- name: AWS provider with Google's default mapping, limited to one role
  keyless.wif.gcp_workload_identity_pool_provider:
    project: my-project
    pool_id: aws-workloads
    provider_id: aws-prod
    account_id: "111111111111"
    attribute_condition: >-
      attribute.aws_role == 'arn:aws:sts::111111111111:assumed-role/litellm-proxy'
  register: provider

- name: The audience for the external_account credential file
  ansible.builtin.debug:
    msg: "{{ provider.audience }}"

- name: Custom mapping (must map google.subject)
  keyless.wif.gcp_workload_identity_pool_provider:
    project: my-project
    pool_id: aws-workloads
    provider_id: aws-prod
    account_id: "111111111111"
    attribute_mapping:
      google.subject: assertion.arn
      attribute.aws_account: assertion.account
      attribute.aws_role: >-
        assertion.arn.contains('assumed-role')
        ? assertion.arn.extract('{account_arn}assumed-role/') + 'assumed-role/' + assertion.arn.extract('assumed-role/{role_name}/')
        : assertion.arn

- name: Delete the provider (soft; state=present undeletes it within 30 days)
  keyless.wif.gcp_workload_identity_pool_provider:
    project: my-project
    pool_id: aws-workloads
    provider_id: aws-prod
    state: absent
"""

RETURN = r"""
name:
  description: Full resource name, with the project number.
  returned: always
  type: str
  sample: projects/123456789012/locations/global/workloadIdentityPools/aws-workloads/providers/aws-prod
audience:
  description:
    - The audience for C(external_account) credential files and the STS token exchange.
    - Empty when the provider does not exist.
  returned: always
  type: str
  sample: //iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/aws-workloads/providers/aws-prod
state:
  description: Google's state of the provider after the task (V(ACTIVE), V(DELETED)), V(ABSENT) when it does not exist.
  returned: always
  type: str
  sample: ACTIVE
actions:
  description: What was done (or would be done in check mode), in order.
  returned: always
  type: list
  elements: str
  sample: ["update attributeCondition"]
workload_identity_pool_provider:
  description: The provider as returned by the API, with snake_case keys (attribute_mapping keys kept as is).
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
      description: Whether the provider is disabled.
      type: bool
    state:
      description: V(ACTIVE) or V(DELETED).
      type: str
    attribute_mapping:
      description: Attribute mapping in effect.
      type: dict
    attribute_condition:
      description: Attribute condition in effect.
      type: str
    aws:
      description: AWS settings, C(account_id).
      type: dict
  sample:
    name: projects/123456789012/locations/global/workloadIdentityPools/aws-workloads/providers/aws-prod
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

from ansible_collections.keyless.wif.plugins.module_utils.gcp.module import GcpModule, resource_argument_spec
from ansible_collections.keyless.wif.plugins.module_utils.gcp.resources import (
    DEFAULT_AWS_ATTRIBUTE_MAPPING,
    PROVIDER_FIELDS,
    LroResource,
    check_pool_fields,
    ensure_lro_resource,
    named_with_number,
    resource_exit,
)
from ansible_collections.keyless.wif.plugins.module_utils.wif.names import audience_of, pool_name
from ansible_collections.keyless.wif.plugins.module_utils.wif.validate import (
    CONDITION_VARIABLES,
    ValidationError,
    check_attribute_mapping,
    check_aws_account_id,
    check_cel,
)


def validate(params):
    check_pool_fields(params, "provider_id")
    if params["state"] == "present":
        check_aws_account_id("account_id", params["account_id"])
    check_attribute_mapping("attribute_mapping", params["attribute_mapping"])
    if params["attribute_condition"]:
        check_cel("attribute_condition", params["attribute_condition"], variables=CONDITION_VARIABLES)


def ensure_aws(resource):
    if "aws" not in resource and resource.get("oidc") is not None:
        raise ValidationError("provider_id", "names an existing OIDC provider; this module manages AWS providers "
                                             "only", resource.get("name"))
    if "aws" not in resource and resource.get("saml") is not None:
        raise ValidationError("provider_id", "names an existing SAML provider; this module manages AWS providers "
                                             "only", resource.get("name"))


def run(module):
    params = module.params
    validate(params)
    provider = LroResource(module, "workload identity pool provider", parent=pool_name(params["project"], params["pool_id"]),
                           collection="providers",
                           id_param="workloadIdentityPoolProviderId", resource_id=params["provider_id"])
    desired = {f.option: params[f.option] for f in PROVIDER_FIELDS}
    if desired["attribute_mapping"] is None:
        desired["attribute_mapping"] = dict(DEFAULT_AWS_ATTRIBUTE_MAPPING)
    changed, resource, before, after, actions = ensure_lro_resource(
        module, provider, PROVIDER_FIELDS, desired, params["state"], validate_existing=ensure_aws)
    name, resource = named_with_number(module, provider, resource)
    audience = audience_of(name) if resource else ""
    resource_exit(module, changed, resource, before, after, actions, "workload_identity_pool_provider",
                  name=name, audience=audience)


def main():
    module = GcpModule(
        argument_spec=resource_argument_spec(
            pool_id=dict(type="str", required=True, aliases=["workload_identity_pool_id"]),
            provider_id=dict(type="str", required=True, aliases=["workload_identity_pool_provider_id"]),
            account_id=dict(type="str", aliases=["aws_account_id"]),
            attribute_mapping=dict(type="dict"),
            attribute_condition=dict(type="str"),
        ),
    )
    module.run(run)


if __name__ == "__main__":
    main()
