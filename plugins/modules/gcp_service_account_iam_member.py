#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: gcp_service_account_iam_member
short_description: Add or remove members of role bindings on a Google Cloud service account
version_added: 0.1.0
description:
  - Additive management of a service account's IAM policy (IAM v1); members and bindings not named are never touched.
  - For workload identity federation from AWS, give O(aws_role_arns) and O(pool) instead of spelling out members.
    The module builds, for each role,
    C(principalSet://iam.googleapis.com/projects/NUMBER/locations/global/workloadIdentityPools/POOL/attribute.aws_role/arn:aws:sts::ACCOUNT:assumed-role/ROLE),
    the form Google's default AWS attribute mapping produces for every session of the role (for example an EC2
    instance profile session). The project number is looked up when O(pool) is an ID, not when it is a full name.
  - The widely copied form C(arn:aws:iam::ACCOUNT:role/ROLE) never matches that mapping (the exchange then fails with
    C(PERMISSION_DENIED iam.serviceAccounts.getAccessToken)), so such an ARN is converted to the assumed-role form and
    the conversion is reported in RV(conversions) and as a warning. A plain member in that never-matching form is
    kept but warned about.
author:
  - keyless.wif maintainers (@keyless-wif)
options:
  service_account:
    description:
      - The service account whose policy is changed, as an e-mail address or as an account ID in O(project).
    type: str
    required: true
  aws_role_arns:
    description:
      - AWS role ARNs whose sessions may use O(role) on the service account, V(arn:aws:iam::ACCOUNT:role/NAME) or
        V(arn:aws:sts::ACCOUNT:assumed-role/NAME). Added to O(members) of O(role). Requires O(pool).
    type: list
    elements: str
  pool:
    description:
      - The workload identity pool the AWS principals come from, as a pool ID (in O(pool_project)) or a full name
        V(projects/NUMBER/locations/global/workloadIdentityPools/ID) (optionally prefixed with
        V(//iam.googleapis.com/)), such as the C(name) that M(keyless.wif.gcp_workload_identity_pool) returns.
      - With a pool ID the module reads the pool's project to learn its number; a full name carries the number, so
        no project is read and O(pool_project) is ignored. The full name must use the project number, not the ID.
    type: str
    aliases: [pool_id, workload_identity_pool]
  pool_project:
    description:
      - Project of O(pool) when it is given as an ID and lives in another project than O(project). Defaults to O(project).
    type: str
extends_documentation_fragment:
  - keyless.wif.gcp
  - keyless.wif.gcp.bindings
  - keyless.wif.gcp.attributes
seealso:
  - module: keyless.wif.gcp_workload_identity_pool_provider
  - module: keyless.wif.gcp_project_iam_member
"""

EXAMPLES = r"""
- name: Let EC2 instances with the litellm-proxy role impersonate the service account
  keyless.wif.gcp_service_account_iam_member:
    project: my-project
    service_account: litellm-vertex
    role: roles/iam.workloadIdentityUser
    pool: aws-workloads
    aws_role_arns:
      - arn:aws:iam::111111111111:role/litellm-proxy   # converted to arn:aws:sts::...:assumed-role/litellm-proxy
  register: binding

- name: Same, with the pool's full name (registered from keyless.wif.gcp_workload_identity_pool) - no project lookup
  keyless.wif.gcp_service_account_iam_member:
    project: my-project
    service_account: litellm-vertex
    role: roles/iam.workloadIdentityUser
    pool: "{{ pool.name }}"   # projects/123456789012/locations/global/workloadIdentityPools/aws-workloads
    aws_role_arns:
      - arn:aws:iam::111111111111:role/litellm-proxy

- name: Show what was converted
  ansible.builtin.debug:
    var: binding.conversions

- name: Plain members
  keyless.wif.gcp_service_account_iam_member:
    project: my-project
    service_account: litellm-vertex@my-project.iam.gserviceaccount.com
    role: roles/iam.serviceAccountTokenCreator
    members: [user:alice@example.com]
"""

RETURN = r"""
members:
  description: The members the task manages for O(role), after AWS ARNs were turned into principalSets.
  returned: always
  type: list
  elements: str
  sample:
    - "principalSet://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/aws-workloads/\
      attribute.aws_role/arn:aws:sts::111111111111:assumed-role/litellm-proxy"
conversions:
  description: One sentence per AWS ARN that was rewritten (IAM role form to assumed-role form, session dropped).
  returned: always
  type: list
  elements: str
bindings:
  description: For each managed binding, which of the requested members it holds after the task.
  returned: always
  type: dict
etag:
  description: Etag of the policy after the task.
  returned: always
  type: str
version:
  description: Version of the policy after the task.
  returned: always
  type: int
service_account_email:
  description: E-mail of the service account.
  returned: always
  type: str
  sample: litellm-vertex@my-project.iam.gserviceaccount.com
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
    aws_role_principal,
    bindings_argument_spec,
    desired_bindings,
    iam_role_form_in_member,
    normalize_condition,
    parse_pool,
    policy_result,
    validate_bindings,
)
from ansible_collections.keyless.wif.plugins.module_utils.gcp.module import GcpModule, check_service_account_ref
from ansible_collections.keyless.wif.plugins.module_utils.wif.validate import (
    ValidationError,
    check_condition,
    check_member,
    check_project,
    check_role,
    parse_aws_role_arn,
)


def validate(params):
    check_service_account_ref("service_account", params["service_account"])
    if params["aws_role_arns"] is not None:
        if not params["aws_role_arns"]:
            raise ValidationError("aws_role_arns", "must list at least one ARN when given")
        if not params["pool"]:
            raise ValidationError("pool", "is required with aws_role_arns (the principalSet names the pool)")
        for index, arn in enumerate(params["aws_role_arns"]):
            parse_aws_role_arn("aws_role_arns[%d]" % index, arn)
    if params["pool"] is not None:
        parse_pool("pool", params["pool"])
    if params["pool_project"] is not None:
        check_project(params["pool_project"], "pool_project")
    if params["bindings"] is not None:
        validate_bindings(desired_bindings(bindings=params["bindings"]), nested=True)
        return
    check_role("role", params["role"])
    check_condition("condition", normalize_condition(params["condition"]))
    if not params["members"] and not params["aws_role_arns"]:
        raise ValidationError("members", "or aws_role_arns must name at least one member")
    for index, member in enumerate(params["members"] or []):
        check_member("members[%d]" % index, member)


def aws_members(module):
    """principalSets for aws_role_arns, with notes on every conversion."""
    params = module.params
    if not params["aws_role_arns"]:
        return [], []
    number, pool_id = parse_pool("pool", params["pool"])
    if number is None:
        # A pool ID: its name carries the number of its project. A full name already has it.
        number = module.project_number(params["pool_project"] or params["project"])
    members, notes = [], []
    for index, arn in enumerate(params["aws_role_arns"]):
        member, note = aws_role_principal("aws_role_arns[%d]" % index, arn, number, pool_id)
        if member not in members:
            members.append(member)
        if note:
            notes.append(note)
    return members, notes


def run(module):
    params = module.params
    validate(params)
    members = list(params["members"] or [])

    extra, conversions = aws_members(module)
    for member in extra:
        if member not in members:
            members.append(member)
    for note in conversions:
        module.warn(note)
    wanted = desired_bindings(params["role"], members, params["condition"], params["bindings"])
    for binding in wanted:
        for member in binding[1]:
            if iam_role_form_in_member(member):
                module.warn("member %s uses the arn:aws:iam::...:role/ form, which Google's default AWS mapping "
                            "never produces; use aws_role_arns (converted for you) or the "
                            "arn:aws:sts::ACCOUNT:assumed-role/ROLE form" % member)

    _account_id, email = module.service_account("service_account", params["service_account"])
    present = params["state"] == "present"
    # A new account's policy answers 404 for a while: wait for it when adding members. With
    # nothing to add (absent) or nothing to write (check mode, where the account may only be
    # predicted), a missing account has an empty policy.
    target = IamPolicyTarget("iam", "projects/%s/serviceAccounts/%s" % (params["project"], email), version_in_query=True,
                             missing="wait" if present and not module.check_mode else "empty")
    changed, before, after, policy = module.ensure_bindings(target, wanted, present)
    module.exit(changed, before=before, after=after, bindings=after, members=members, conversions=conversions,
                service_account_email=email, **policy_result(policy))


def main():
    spec = bindings_argument_spec()
    spec.update(
        service_account=dict(type="str", required=True),
        aws_role_arns=dict(type="list", elements="str"),
        pool=dict(type="str", aliases=["pool_id", "workload_identity_pool"]),
        pool_project=dict(type="str"),
    )
    module = GcpModule(
        argument_spec=spec,
        required_one_of=[("role", "bindings")],
        mutually_exclusive=[("role", "bindings"), ("bindings", "condition"), ("bindings", "members"),
                            ("bindings", "aws_role_arns")],
    )
    module.run(run)


if __name__ == "__main__":
    main()
