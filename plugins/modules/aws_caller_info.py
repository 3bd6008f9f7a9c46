#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: aws_caller_info
short_description: Tell who this host is to AWS, in the forms Workload Identity Federation needs
version_added: 0.1.0
description:
  - Calls AWS STS C(GetCallerIdentity) with the host's normal boto3 credential chain
    (environment, shared config, container credentials, EC2 instance metadata).
  - Region and endpoint are resolved by botocore as for any boto3 client (profile, E(AWS_DEFAULT_REGION),
    E(AWS_ENDPOINT_URL_STS), E(AWS_ENDPOINT_URL), C(sts_regional_endpoints), C(endpoint_url) in the
    shared config) unless O(region) or O(endpoint_url) is given; the region and endpoint the call
    really went to are returned.
  - Works in every AWS partition, including AWS China (C(aws-cn)) and AWS GovCloud (US) (C(aws-us-gov)).
  - Returns the caller's account, ARN and user id, and the forms derived from them that
    Google's default AWS attribute mapping and IAM bindings need, including the
    C(principalSet://...attribute.aws_role/arn:aws:sts::ACCOUNT:assumed-role/ROLE) member
    when a pool is given.
  - The IAM-role form C(arn:aws:iam::ACCOUNT:role/ROLE) is returned as O(ignore:iam_role_arn) for
    reference only; bindings built from it never match an EC2 role session.
  - Read-only; safe in check mode.
author:
  - keyless.wif maintainers (@keyless-wif)
options:
  region:
    description:
      - AWS region whose STS endpoint is called, for example V(cn-north-1) or V(us-gov-west-1).
      - Defaults to E(AWS_REGION) (as the other AWS SDKs and google-auth read it), else the region
        botocore resolves (E(AWS_DEFAULT_REGION), the profile's C(region)); with none of them botocore
        calls the global endpoint C(sts.amazonaws.com).
    type: str
  endpoint_url:
    description:
      - Alternative STS endpoint, for VPC endpoints, private gateways or an emulator.
      - Defaults to what botocore resolves (E(AWS_ENDPOINT_URL_STS), E(AWS_ENDPOINT_URL), the
        profile's C(endpoint_url), else the regional endpoint of the region's partition).
    type: str
  project_number:
    description:
      - Google Cloud project number (digits) owning the workload identity pool.
      - With O(pool_id), the module returns RV(principal_set).
    type: str
  pool_id:
    description:
      - Workload identity pool id; requires O(project_number).
    type: str
  connect_timeout:
    description: Seconds to wait for a connection to STS (and to instance metadata).
    type: int
    default: 5
requirements:
  - boto3 >= 1.28
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - On EC2, boto3 reads credentials from IMDSv2. A container on the instance needs a
    metadata hop limit of 2 or more to reach it; otherwise this module fails with a
    message saying so.
"""

EXAMPLES = r"""
- name: Find the identity each host presents to AWS
  keyless.wif.aws_caller_info:
    region: eu-west-1
    project_number: "123456789012"
    pool_id: aws-hosts
  register: caller

- name: Show the member to bind on the service account
  ansible.builtin.debug:
    msg: "{{ caller.principal_set }}"
"""

RETURN = r"""
account:
  description: AWS account id of the caller.
  returned: success
  type: str
  sample: "111111111111"
arn:
  description: ARN of the caller as STS reports it.
  returned: success
  type: str
  sample: arn:aws:sts::111111111111:assumed-role/litellm-host/i-0123456789abcdef0
user_id:
  description: Unique id of the caller (for a role session, C(ROLEID:SESSION)).
  returned: success
  type: str
  sample: AROAEXAMPLEROLEID0001:i-0123456789abcdef0
identity_type:
  description: C(assumed-role), C(user) or C(role).
  returned: success
  type: str
  sample: assumed-role
role_name:
  description: Role name for a role session, else null.
  returned: success
  type: str
  sample: litellm-host
session_name:
  description: Session name for a role session (on EC2 the instance id), else null.
  returned: success
  type: str
  sample: i-0123456789abcdef0
iam_role_arn:
  description: IAM form of the role ARN (reference only; do not bind it in Google IAM).
  returned: success
  type: str
  sample: arn:aws:iam::111111111111:role/litellm-host
assumed_role_arn:
  description: >-
    The value Google's default AWS attribute mapping yields for C(attribute.aws_role):
    the assumed-role ARN without the session for a role session, the ARN itself otherwise.
  returned: success
  type: str
  sample: arn:aws:sts::111111111111:assumed-role/litellm-host
principal_set:
  description: The member to bind (C(roles/iam.workloadIdentityUser)) for this role; needs O(pool_id).
  returned: when O(pool_id) is given
  type: str
  sample: >-
    principalSet://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/aws-hosts/attribute.aws_role/arn:aws:sts::111111111111:assumed-role/litellm-host
region:
  description: >-
    Region the request was signed for (the credential scope of its signature): the STS
    endpoint's region, C(us-east-1) for the global endpoint.
  returned: success
  type: str
  sample: eu-west-1
endpoint_url:
  description: The STS endpoint the request was sent to (scheme, host and port).
  returned: success
  type: str
  sample: https://sts.eu-west-1.amazonaws.com
partition:
  description: AWS partition of the caller, from its ARN (C(aws), C(aws-cn), C(aws-us-gov), ...).
  returned: success
  type: str
  sample: aws
"""

import os
import re
from urllib.parse import urlsplit

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.keyless.wif.plugins.module_utils.wif.names import REGION_RE, ArnError, aws_role_principal_set, role_identity
from ansible_collections.keyless.wif.plugins.module_utils.wif.validate import PROJECT_NUMBER_RE, WIF_ID_RE, ValidationError, check_url

try:
    import boto3
    import botocore.config
    import botocore.exceptions

    HAS_BOTO3 = True
    BOTO3_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - depends on the host
    HAS_BOTO3 = False
    BOTO3_IMPORT_ERROR = exc


def validate(module):
    params = module.params
    if params["pool_id"] is not None:
        if params["project_number"] is None:
            module.fail_json(msg="pool_id requires project_number (the digits of the Google Cloud project number)")
        if not WIF_ID_RE.fullmatch(params["pool_id"]) or params["pool_id"].startswith("gcp-"):
            module.fail_json(msg="pool_id must be 4-32 characters of [a-z0-9-] and must not start with 'gcp-', got %r" % params["pool_id"])
    if params["project_number"] is not None and not PROJECT_NUMBER_RE.fullmatch(params["project_number"]):
        module.fail_json(msg="project_number must be the project's number (digits only), got %r" % params["project_number"])
    if params["region"] is not None and not REGION_RE.fullmatch(params["region"]):
        module.fail_json(msg="region must be an AWS region such as us-east-1, got %r" % params["region"])
    if params["endpoint_url"] is not None:
        try:
            check_url("endpoint_url", params["endpoint_url"])
        except ValidationError as exc:
            module.fail_json(msg=str(exc))
    if params["connect_timeout"] < 1 or params["connect_timeout"] > 300:
        module.fail_json(msg="connect_timeout must be between 1 and 300 seconds, got %d" % params["connect_timeout"])


_SCOPE_RE = re.compile(r"Credential=[^/,\s]+/[0-9]{8}/(?P<region>[a-z0-9-]+)/")


class _SentRequest:
    """Records where the last attempt of GetCallerIdentity went and which region signed it.

    A before-send handler that returns nothing: botocore goes on and sends the request.
    """

    def __init__(self):
        self.endpoint_url = None
        self.region = None

    def __call__(self, request, **kwargs):
        parts = urlsplit(request.url)
        self.endpoint_url = "%s://%s%s" % (parts.scheme, parts.netloc, parts.path.rstrip("/"))
        authorization = request.headers.get("Authorization") or b""
        if isinstance(authorization, bytes):
            authorization = authorization.decode("ascii", "replace")
        match = _SCOPE_RE.search(authorization)
        self.region = match.group("region") if match else None


def get_caller_identity(module):
    params = module.params
    config = botocore.config.Config(
        connect_timeout=params["connect_timeout"],
        read_timeout=max(params["connect_timeout"], 10),
        retries={"max_attempts": 4, "mode": "standard"},
    )
    client_args = {"config": config}
    # botocore reads AWS_DEFAULT_REGION and the profile but not AWS_REGION, which the other SDKs
    # and google-auth read first: honour it too. Everything else (endpoint variables, profile
    # endpoint_url, sts_regional_endpoints, partition) is botocore's to resolve.
    region = params["region"] or os.environ.get("AWS_REGION")
    if region:
        client_args["region_name"] = region
    if params["endpoint_url"]:
        client_args["endpoint_url"] = params["endpoint_url"]
    sent = _SentRequest()
    try:
        client = boto3.session.Session().client("sts", **client_args)
        client.meta.events.register("before-send.sts.GetCallerIdentity", sent)
        answer = client.get_caller_identity()
    except botocore.exceptions.NoCredentialsError:
        module.fail_json(
            msg="no AWS credentials found: boto3 looked in the environment, shared config and instance "
            "metadata. On EC2, attach an instance profile; from a container on EC2, raise the IMDSv2 "
            "hop limit to 2 (aws ec2 modify-instance-metadata-options --http-put-response-hop-limit 2)."
        )
    except botocore.exceptions.EndpointConnectionError as exc:
        module.fail_json(msg="cannot reach AWS STS at %s: %s" % (exc.kwargs.get("endpoint_url"), exc))
    except botocore.exceptions.ClientError as exc:
        error = exc.response.get("Error", {})
        module.fail_json(
            msg="AWS STS GetCallerIdentity failed: %s %s: %s"
            % (exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode"), error.get("Code"), error.get("Message")),
        )
    except botocore.exceptions.BotoCoreError as exc:
        module.fail_json(msg="AWS STS GetCallerIdentity failed: %s" % exc)
    return answer, sent


def main():
    module = AnsibleModule(
        argument_spec=dict(
            region=dict(type="str"),
            endpoint_url=dict(type="str"),
            project_number=dict(type="str"),
            pool_id=dict(type="str"),
            connect_timeout=dict(type="int", default=5),
        ),
        supports_check_mode=True,
    )
    if not HAS_BOTO3:
        module.fail_json(msg=missing_required_lib("boto3"), exception=str(BOTO3_IMPORT_ERROR))
    validate(module)

    answer, sent = get_caller_identity(module)
    try:
        identity = role_identity(answer["Arn"], field="the caller ARN returned by STS")
    except ArnError as exc:
        module.fail_json(msg=str(exc))

    result = dict(
        changed=False,
        account=answer["Account"],
        arn=answer["Arn"],
        user_id=answer["UserId"],
        identity_type=identity["kind"],
        role_name=identity["name"] if identity["kind"] != "user" else None,
        session_name=identity["session_name"],
        iam_role_arn=identity["iam_arn"] if identity["kind"] != "user" else None,
        assumed_role_arn=identity["aws_role"],
        region=sent.region,
        endpoint_url=sent.endpoint_url,
        partition=identity["partition"],
    )
    if module.params["pool_id"]:
        result["principal_set"] = aws_role_principal_set(module.params["project_number"], module.params["pool_id"], identity["aws_role"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
