#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: wif_credentials_check
short_description: Perform the AWS to Google Cloud token exchange hop by hop and say which hop fails and why
version_added: 0.1.0
description:
  - Runs on the workload host and reads an C(external_account) credential JSON (as rendered by the
    C(keyless.wif.external_account) role) with google-auth.
  - Performs each hop of the exchange separately and times it. In C(ec2) mode, the IMDSv2 session token (PUT),
    the instance role name, the role's temporary credentials and the region; in C(explicit) mode (the JSON carries LiteLLM's
    C(aws_*) keys), the AWS credentials through LiteLLM's own AWS credential chain and C(aws_region_name). Then the Google STS
    token exchange and the service account impersonation (C(generateAccessToken)).
  - Returns each hop's outcome and duration and the access token's expiry time. It never returns a token.
  - On failure it returns the likely cause and the fix, for instance the exact C(principalSet://...attribute.aws_role/arn:aws:sts::ACCT:assumed-role/ROLE)
    member to grant C(roles/iam.workloadIdentityUser) when the binding is missing or has the wrong form.
  - Run it with the proxy's virtualenv Python (C(ansible_python_interpreter=/opt/litellm/bin/python)), which has google-auth and LiteLLM.
author:
  - keyless.wif maintainers (@keyless-wif)
requirements:
  - google-auth >= 2.29
  - litellm (explicit mode only; otherwise boto3 is used for explicit AWS credentials)
options:
  path:
    description: Path of the external_account credential JSON on the host.
    type: path
    default: /etc/litellm/gcp_aws_external_account.json
  timeout:
    description: Seconds to wait for each Google hop.
    type: float
    default: 10
  metadata_timeout:
    description:
      - Seconds to wait for each instance metadata request. A PUT that gets no answer within this time is reported as
        C(metadata_no_answer) (unreachable metadata service or IMDSv2 hop limit).
    type: float
    default: 2
  environment_file:
    description:
      - A systemd C(EnvironmentFile) on the host (C(KEY="value") lines) whose variables the check runs with, for example
        the proxy's own C(/etc/litellm/litellm-proxy.env), so that explicit mode sees the same C(AWS_*) variables as the
        service.
      - The file is read on the host, so its values never travel through task arguments or appear in the output.
    type: path
  wait_timeout:
    description:
      - Seconds to keep re-running the check while its diagnosis is one of O(wait_for). IAM policy changes
        "typically propagate in 2 minutes, but could take 7 minutes or longer" (Google), and new pools and providers
        take a while to reach STS. Progress is printed on the controller, for example
        C(waiting for IAM propagation (40 s of 600 s)). V(0) checks once.
      - Handled by the action plugin on the controller.
    type: float
    default: 0
  wait_interval:
    description: Seconds between two checks while waiting (handled by the action plugin).
    type: float
    default: 10
  wait_for:
    description: Diagnosis codes that are waited out, because they can be propagation delays (handled by the action plugin).
    type: list
    elements: str
    default: [binding_missing, invalid_target, attribute_condition, service_account_not_found, iamcredentials_api_disabled]
  expect:
    description:
      - The outcome the caller expects, V(ok) or a diagnosis code; the wait ends as soon as it is seen (handled by
        the action plugin).
    type: str
    default: ok
  fail_on_error:
    description:
      - Fail the task when a hop fails. With V(false) the task succeeds and RV(ok) is V(false); the diagnosis is returned either way.
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    description: The check only reads; it behaves the same in check mode.
  diff_mode:
    support: none
    description: Nothing changes, so there is no diff.
notes:
  - The requests go where the JSON says, including the instance metadata service; run it only on the host the JSON is for.
  - In explicit mode the process environment matters (C(AWS_CONFIG_FILE), C(AWS_PROFILE)...); point O(environment_file) at the
    proxy's EnvironmentFile rather than passing secrets through the task's C(environment), which C(-vvv) prints.
seealso:
  - name: Workload identity federation with AWS
    description: Google's guide for AWS workloads.
    link: https://cloud.google.com/iam/docs/workload-identity-federation-with-other-clouds
"""

EXAMPLES = r"""
- name: Check the credential chain with the proxy's Python
  keyless.wif.wif_credentials_check:
    path: /etc/litellm/gcp_aws_external_account.json
  vars:
    ansible_python_interpreter: /opt/litellm/bin/python
  register: wif

- name: Diagnose without failing, then show the fix
  keyless.wif.wif_credentials_check:
    fail_on_error: false
  vars:
    ansible_python_interpreter: /opt/litellm/bin/python
  register: wif

- name: Show the fix
  ansible.builtin.debug:
    msg: "{{ wif.diagnosis.fix }}"
  when: not wif.ok
"""

RETURN = r"""
ok:
  description: Whether every hop succeeded.
  returned: always
  type: bool
mode:
  description: C(ec2) (instance metadata) or C(explicit) (LiteLLM aws_* keys), decided the way LiteLLM decides it.
  returned: always
  type: str
  sample: ec2
hops:
  description: The hops performed, in order, up to and including the first failed one.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: imds_token, role_name, aws_credentials, region, sts_exchange or impersonation.
      type: str
    ok:
      description: Whether the hop succeeded.
      type: bool
    duration_ms:
      description: Wall time of the hop in milliseconds.
      type: float
    detail:
      description: What the hop obtained or the error it met (never a secret).
      type: str
    status:
      description: HTTP status of a failed hop, when it got an answer.
      type: int
  sample:
    - {name: imds_token, ok: true, duration_ms: 2.1, detail: IMDSv2 session token received}
failed_hop:
  description: Name of the first failed hop, C(config) for a problem in the JSON itself, or null.
  returned: always
  type: str
diagnosis:
  description: Likely cause and fix of the failure, or null.
  returned: always
  type: dict
  contains:
    code:
      description:
        - Stable identifier, for instance C(binding_missing), C(invalid_target), C(attribute_condition), C(metadata_no_answer),
          C(metadata_unreachable), C(no_instance_role), C(wrong_region), C(audience_project_id), C(explicit_aws_credentials_failed).
      type: str
    cause:
      description: What is most likely wrong.
      type: str
    fix:
      description: What to do about it, with the exact member or command where known.
      type: str
caller:
  description: What the check learned about the AWS identity.
  returned: always
  type: dict
  sample: {role_name: wif-bound-role, account_id: "111111111111", aws_role: "arn:aws:sts::111111111111:assumed-role/wif-bound-role", region: us-east-1}
service_account:
  description: The service account the JSON impersonates.
  returned: always
  type: str
service_account_project:
  description: The project ID in the service account's e-mail, or null for another kind of account.
  returned: always
  type: str
audience:
  description: The STS audience in the JSON.
  returned: always
  type: str
federated_token_expires_in:
  description: Lifetime in seconds of the federated token STS issued.
  returned: when the STS hop succeeded
  type: int
access_token_expiry:
  description: Expiry (UTC, RFC 3339) of the service account access token. The token itself is never returned.
  returned: when the impersonation hop succeeded
  type: str
  sample: "2026-11-25T21:00:00Z"
principal_set:
  description: The member C(roles/iam.workloadIdentityUser) must name for this caller, once the caller's role is known.
  returned: always
  type: str
  sample: >-
    principalSet://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/aws/attribute.aws_role/arn:aws:sts::1111:assumed-role/app
waited_seconds:
  description: Seconds spent waiting for propagation (see O(wait_timeout)).
  returned: always
  type: float
waited_for:
  description: The diagnoses that were waited out, in the order they were seen.
  returned: always
  type: list
  elements: str
total_ms:
  description: Sum of the hop durations in milliseconds.
  returned: always
  type: float
"""

import json
import os
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

try:
    from google.auth import aws as _google_aws  # noqa: F401 - presence check; used by module_utils

    HAS_GOOGLE_AUTH = True
    GOOGLE_AUTH_IMPORT_ERROR = None
except ImportError:
    HAS_GOOGLE_AUTH = False
    GOOGLE_AUTH_IMPORT_ERROR = traceback.format_exc()

from ansible_collections.keyless.wif.plugins.module_utils.wif.check import Checker
from ansible_collections.keyless.wif.plugins.module_utils.wif.diagnoses import PROPAGATION_DIAGNOSES
from ansible_collections.keyless.wif.plugins.module_utils.wif.external_account import mode as credential_mode
from ansible_collections.keyless.wif.plugins.module_utils.wif.systemd import read_environment_file


def explicit_credentials(params):
    """Resolve AWS credentials the way LiteLLM does for explicit-mode JSON.

    LiteLLM hands the aws_* keys to BaseAWSLLM.get_credentials(); using the same code means the
    check sees exactly what the proxy will see. Without LiteLLM, boto3's session does the
    common cases (profile, static keys, environment chain).
    """
    # Importing litellm would otherwise fetch its model cost map from the internet and read a .env file.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("LITELLM_MODE", "PRODUCTION")
    try:
        from litellm.llms.bedrock.base_aws_llm import BaseAWSLLM
    except ImportError:
        BaseAWSLLM = None
    if BaseAWSLLM is not None:
        creds = BaseAWSLLM().get_credentials(**params)
        how = "LiteLLM BaseAWSLLM.get_credentials"
    else:
        import boto3

        if params.get("aws_profile_name"):
            session = boto3.Session(profile_name=params["aws_profile_name"])
        else:
            session = boto3.Session(
                aws_access_key_id=params.get("aws_access_key_id"),
                aws_secret_access_key=params.get("aws_secret_access_key"),
                aws_session_token=params.get("aws_session_token"),
            )
        creds = session.get_credentials()
        how = "boto3 session"
    if creds is None:
        return None, how
    frozen = creds.get_frozen_credentials() if hasattr(creds, "get_frozen_credentials") else creds
    return {"AccessKeyId": frozen.access_key, "SecretAccessKey": frozen.secret_key, "Token": frozen.token}, how


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", default="/etc/litellm/gcp_aws_external_account.json"),
            timeout=dict(type="float", default=10.0),
            metadata_timeout=dict(type="float", default=2.0),
            fail_on_error=dict(type="bool", default=True),
            environment_file=dict(type="path"),
            # Used by the action plugin, which re-runs the module; accepted here so a direct run validates them.
            wait_timeout=dict(type="float", default=0.0),
            wait_interval=dict(type="float", default=10.0),
            wait_for=dict(type="list", elements="str", default=list(PROPAGATION_DIAGNOSES)),
            expect=dict(type="str", default="ok"),
        ),
        supports_check_mode=True,
    )
    if not HAS_GOOGLE_AUTH:
        module.fail_json(msg=missing_required_lib("google-auth"), exception=GOOGLE_AUTH_IMPORT_ERROR)

    for name in ("timeout", "metadata_timeout"):
        if not module.params[name] > 0:
            module.fail_json(msg="%s must be a positive number of seconds, got %s" % (name, module.params[name]),
                             ok=False, failed_hop="config")
    if module.params["environment_file"]:
        try:
            os.environ.update(read_environment_file(module.params["environment_file"]))
        except (OSError, ValueError) as exc:
            module.fail_json(msg="environment_file: cannot read it: %s" % exc, ok=False, failed_hop="config")

    path = module.params["path"]
    try:
        with open(path, encoding="utf-8") as handle:
            info = json.load(handle)
    except (OSError, ValueError) as exc:
        module.fail_json(msg="path: cannot read the credential JSON %s: %s" % (path, exc), ok=False, failed_hop="config")
    if not isinstance(info, dict):
        module.fail_json(msg="%s is not a JSON object" % path, ok=False, failed_hop="config")

    # Let google-auth parse it first: what it refuses, LiteLLM refuses too.
    from google.auth import aws

    if credential_mode(info) == "ec2":
        try:
            aws.Credentials.from_info(info)
        except Exception as exc:  # google-auth raises InvalidValue, InvalidResource, ValueError, KeyError
            module.fail_json(msg="google-auth rejects %s: %s" % (path, exc), ok=False, failed_hop="config")

    checker = Checker(info, timeout=module.params["timeout"], metadata_timeout=module.params["metadata_timeout"], explicit_supplier=explicit_credentials)
    result = checker.run()
    result["changed"] = False
    if not result["ok"] and module.params["fail_on_error"]:
        diag = result["diagnosis"]
        module.fail_json(msg="hop %s failed: %s Fix: %s" % (result["failed_hop"], diag["cause"], diag["fix"]), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
