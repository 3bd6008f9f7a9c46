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
    C(keyless.wif.external_account) role).
  - Builds the credentials exactly as LiteLLM 1.108 does (C(google.auth.aws.Credentials.from_info) with the cloud-platform
    scope; in C(explicit) mode, the JSON carries LiteLLM's C(aws_*) keys, LiteLLM's own C(credentials_from_explicit_aws), or the
    same construction around a boto3 session without LiteLLM) and runs google-auth's own C(refresh()) through a recording
    transport (C(requests), as LiteLLM refreshes). Every request google-auth makes is a hop, timed; a classifier turns the
    recorded hops into a diagnosis.
  - Hops are C(imds_token), C(region), C(role_name), C(aws_credentials), C(sts_exchange), C(impersonation) (C(other) for any
    further URL), in the order google-auth makes them; a credential or region step that makes no request (environment
    variables, explicit mode) is a hop of its own with its C(source).
  - With O(service), the check runs in that systemd unit's environment (proxies, C(NO_PROXY), CA bundles, C(AWS_*)) instead
    of the one the module inherited, so a proxy that breaks the service breaks the check too.
  - Returns each hop's outcome and duration and the access token's expiry time. It never returns a token, credential or
    signed header.
  - On failure it returns the likely cause and the fix, for instance the exact C(principalSet://...attribute.aws_role/arn:aws:sts::ACCT:assumed-role/ROLE)
    member to grant C(roles/iam.workloadIdentityUser) when the binding is missing or has the wrong form.
  - Run it with the proxy's virtualenv Python (C(ansible_python_interpreter=/opt/litellm/current/bin/python)), which has google-auth and LiteLLM.
author:
  - keyless.wif maintainers (@keyless-wif)
requirements:
  - google-auth >= 2.29
  - requests
  - litellm (explicit mode only; otherwise boto3 is used for explicit AWS credentials)
options:
  path:
    description:
      - Path of the external_account credential JSON on the host.
      - The default is the collection's host layout, C(lookup('keyless.wif.host_layout', 'credential_path')), where the
        C(keyless.wif.external_account) role writes it.
    type: path
    default: /etc/litellm/gcp_aws_external_account.json
  timeout:
    description: Seconds to wait for each Google request (google-auth itself would wait 120 s).
    type: float
    default: 10
  metadata_timeout:
    description:
      - Seconds to wait for each instance metadata request. A PUT that gets no answer within this time is reported as
        C(metadata_no_answer) (unreachable metadata service or IMDSv2 hop limit).
    type: float
    default: 2
  service:
    description:
      - A systemd unit (for example C(litellm-proxy)) whose environment the check runs with, read on the host with
        C(systemctl show) (the manager's environment, C(Environment=), then each C(EnvironmentFile=)).
      - The proxy, CA bundle and C(AWS_*) variables the module inherited are dropped first, so requests go exactly where
        the service's go.
      - Values never travel through task arguments or appear in the output.
    type: str
  environment_file:
    description:
      - A systemd C(EnvironmentFile) on the host (C(KEY="value") lines) whose variables the check runs with, applied after
        those of O(service). As with O(service), the inherited proxy, CA bundle and C(AWS_*) variables are dropped first.
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
  - The process environment matters (proxies, C(NO_PROXY), C(REQUESTS_CA_BUNDLE), C(AWS_REGION), in explicit mode C(AWS_CONFIG_FILE)...);
    give O(service) (or O(environment_file)) rather than passing secrets through the task's C(environment), which C(-vvv) prints.
  - The instance identity document is read once more after the refresh (not a hop), for the account in RV(caller) and RV(principal_set).
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
    ansible_python_interpreter: /opt/litellm/current/bin/python
  register: wif

- name: Diagnose without failing, then show the fix
  keyless.wif.wif_credentials_check:
    fail_on_error: false
  vars:
    ansible_python_interpreter: /opt/litellm/current/bin/python
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
  description: The requests google-auth made (and the steps without a request), in order, up to and including the failed one.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: imds_token, region, role_name, aws_credentials, sts_exchange, impersonation or other.
      type: str
    ok:
      description: Whether the hop succeeded.
      type: bool
    duration_ms:
      description: Wall time of the hop in milliseconds.
      type: float
    method:
      description: HTTP method, for a request.
      type: str
    url:
      description: URL of the request without userinfo, query or fragment.
      type: str
    status:
      description: HTTP status, when the request got an answer.
      type: int
    source:
      description: For a step without a request, where google-auth or LiteLLM took the value (C(environment), C(AWS_REGION), C(aws_region_name)...).
      type: str
    error:
      description: Class and message of the exception the hop met (never a secret).
      type: str
    google_error:
      description: From an error answer only Google's error C(status), C(message) and ErrorInfo C(reason).
      type: dict
  sample:
    - {name: imds_token, ok: true, duration_ms: 2.1, method: PUT, url: "http://169.254.169.254/latest/api/token", status: 200}
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
        - One of C(not_external_account), C(wrong_subject_token_type), C(audience_malformed), C(audience_project_id), C(impersonation_url_malformed),
          C(explicit_region_missing), C(google_auth_rejected), C(metadata_no_answer), C(metadata_unreachable), C(metadata_token_refused),
          C(no_instance_role), C(metadata_role_error), C(metadata_credentials_error), C(credential_source_incomplete), C(region_unavailable),
          C(wrong_region), C(explicit_aws_credentials_failed), C(web_identity_token_expired), C(web_identity_audience),
          C(web_identity_provider_missing), C(web_identity_token_rejected), C(web_identity_token_missing), C(web_identity_role_denied),
          C(container_credentials_token_missing),
          C(container_credentials_token_expired), C(container_credentials_unauthorized), C(container_credentials_unreachable),
          C(container_credentials_error), C(explicit_unsupported), C(invalid_target), C(attribute_condition),
          C(aws_account_mismatch), C(unauthorized_client), C(aws_credentials_rejected), C(sts_bad_request), C(sts_error), C(sts_exchange_unreachable),
          C(iamcredentials_api_disabled), C(binding_missing), C(service_account_not_found), C(service_account_disabled), C(federated_token_rejected),
          C(impersonation_error), C(impersonation_bad_answer), C(impersonation_unreachable), C(proxy_failed), C(refresh_failed) (the README's
          troubleshooting table, generated from the same table).
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
  description: Wall time of the check (building the credentials and the refresh) in milliseconds.
  returned: always
  type: float
"""

import json
import os
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

try:
    import requests as _requests  # noqa: F401 - google-auth's requests transport
    from google.auth import aws as _google_aws  # noqa: F401 - presence check; used by module_utils

    HAS_GOOGLE_AUTH = True
    GOOGLE_AUTH_IMPORT_ERROR = None
except ImportError:
    HAS_GOOGLE_AUTH = False
    GOOGLE_AUTH_IMPORT_ERROR = traceback.format_exc()

from ansible_collections.keyless.wif.plugins.module_utils.wif.check import run_check
from ansible_collections.keyless.wif.plugins.module_utils.wif.diagnoses import PROPAGATION_DIAGNOSES
from ansible_collections.keyless.wif.plugins.module_utils.wif.host_layout import CREDENTIAL_PATH
from ansible_collections.keyless.wif.plugins.module_utils.wif.systemd import (
    SERVICE_SHOW_PROPERTIES,
    apply_environment,
    read_environment_file,
    service_environment,
)


def read_service_environment(module, unit):
    """The environment systemd gives ``unit`` (manager environment, Environment=, EnvironmentFile=)."""
    systemctl = module.get_bin_path("systemctl", required=True)
    rc, show, err = module.run_command([systemctl, "show", "--property=%s" % ",".join(SERVICE_SHOW_PROPERTIES), unit])
    if rc != 0:
        raise ValueError("systemctl show %s failed: %s" % (unit, (err or show).strip()))
    rc, manager, err = module.run_command([systemctl, "show-environment"])
    return service_environment(unit, show, manager if rc == 0 else "")


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", default=CREDENTIAL_PATH),
            timeout=dict(type="float", default=10.0),
            metadata_timeout=dict(type="float", default=2.0),
            fail_on_error=dict(type="bool", default=True),
            service=dict(type="str"),
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
        module.fail_json(msg=missing_required_lib("google-auth and requests"), exception=GOOGLE_AUTH_IMPORT_ERROR)

    for name in ("timeout", "metadata_timeout"):
        if not module.params[name] > 0:
            module.fail_json(msg="%s must be a positive number of seconds, got %s" % (name, module.params[name]),
                             ok=False, failed_hop="config")
    # The service's own environment (proxies, CA bundles, AWS_*), instead of the one the module inherited.
    variables = None
    if module.params["service"]:
        try:
            variables = read_service_environment(module, module.params["service"])
        except (OSError, ValueError) as exc:
            module.fail_json(msg="service: cannot read its environment: %s" % exc, ok=False, failed_hop="config")
    if module.params["environment_file"]:
        try:
            variables = dict(variables or {}, **read_environment_file(module.params["environment_file"]))
        except (OSError, ValueError) as exc:
            module.fail_json(msg="environment_file: cannot read it: %s" % exc, ok=False, failed_hop="config")
    if variables is not None:
        apply_environment(os.environ, variables)

    path = module.params["path"]
    try:
        with open(path, encoding="utf-8") as handle:
            info = json.load(handle)
    except (OSError, ValueError) as exc:
        module.fail_json(msg="path: cannot read the credential JSON %s: %s" % (path, exc), ok=False, failed_hop="config")
    if not isinstance(info, dict):
        module.fail_json(msg="%s is not a JSON object" % path, ok=False, failed_hop="config")

    result = run_check(info, timeout=module.params["timeout"], metadata_timeout=module.params["metadata_timeout"])
    result["changed"] = False
    if not result["ok"] and module.params["fail_on_error"]:
        diag = result["diagnosis"]
        module.fail_json(msg="hop %s failed: %s Fix: %s" % (result["failed_hop"], diag["cause"], diag["fix"]), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
