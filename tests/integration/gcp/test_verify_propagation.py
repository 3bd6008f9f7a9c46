"""keyless.wif.verify right after gcp_federation, against a cloud whose changes take time to arrive.

Google documents IAM changes taking up to 7 minutes and new providers a while to reach STS. The
role must wait (bounded, with progress) instead of reporting a binding that is already right as
missing, and when it gives up it must say whether the controller sees the binding.
"""

from __future__ import annotations

import json
import sys

import pytest
from wif_emulator.imds import MetadataServer

from .gcp_harness import AWS_ACCOUNT, CONFIG, PROJECT_ID, PROJECT_NUMBER

POOL = "verify-pool"
SA_EMAIL = "litellm-vertex@%s.iam.gserviceaccount.com" % PROJECT_ID
AUDIENCE = ("//iam.googleapis.com/projects/%s/locations/global/workloadIdentityPools/%s/providers/aws-provider"
            % (PROJECT_NUMBER, POOL))
PRINCIPAL = ("principalSet://iam.googleapis.com/projects/%s/locations/global/workloadIdentityPools/%s"
             "/attribute.aws_role/arn:aws:sts::%s:assumed-role/wif-bound-role" % (PROJECT_NUMBER, POOL, AWS_ACCOUNT))


@pytest.fixture
def imds():
    server = MetadataServer(CONFIG["aws"]["credential_secret"], AWS_ACCOUNT, "wif-bound-role", "i-0123456789abcdef0",
                            "us-east-1a", host="127.0.0.1", port=0, require_token=True).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def credentials(emu, imds, tmp_path):
    md = imds.base_url
    path = tmp_path / "external_account.json"
    path.write_text(json.dumps({
        "type": "external_account",
        "audience": AUDIENCE,
        "subject_token_type": "urn:ietf:params:aws:token-type:aws4_request",
        "token_url": emu.url + "/v1/token",
        "service_account_impersonation_url": "%s/v1/projects/-/serviceAccounts/%s:generateAccessToken" % (emu.url, SA_EMAIL),
        "credential_source": {
            "environment_id": "aws1",
            "region_url": md + "/latest/meta-data/placement/availability-zone",
            "url": md + "/latest/meta-data/iam/security-credentials",
            "imdsv2_session_token_url": md + "/latest/api/token",
            "regional_cred_verification_url": "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15",
        },
    }))
    return str(path)


def federation():
    return {"name": "federation", "ansible.builtin.include_role": {"name": "keyless.wif.gcp_federation"},
            "vars": {"gcp_federation_project": PROJECT_ID, "gcp_federation_pool_id": POOL,
                     "gcp_federation_aws_role_arns": ["arn:aws:iam::%s:role/wif-bound-role" % AWS_ACCOUNT]}}


def verify(credentials, **variables):
    return {"name": "verify", "ansible.builtin.include_role": {"name": "keyless.wif.verify"},
            "vars": dict({"verify_credentials_path": credentials, "verify_python": sys.executable,
                          "verify_environment_file": "", "verify_service": "", "verify_completion": False,
                          "verify_propagation_interval": 2}, **variables)}


def report():
    return {"name": "report", "ansible.builtin.debug": {"msg": {
        "ok": "{{ verify_check.ok }}", "waited_seconds": "{{ verify_check.waited_seconds }}",
        "waited_for": "{{ verify_check.waited_for }}"}}}


def test_site_delays_first_run_converges_and_verifies(emu, play, delays, credentials):
    # The delays the sandbox and the molecule site scenario run with. Before the consistency
    # work the role failed at "Grant the service account the Vertex roles" (400 does not exist).
    delays(service_account_visibility_seconds=5, iam_propagation_seconds=20, provider_propagation_seconds=10,
           service_enablement_seconds=5)
    result = play([federation(), verify(credentials, verify_propagation_timeout=120), report()], timeout=400)
    assert result.rc == 0, result.output[-5000:]
    summary = result["report"]["result"]["msg"]
    assert summary["ok"] in (True, "True")
    assert float(summary["waited_seconds"]) >= 2
    waited_for = summary["waited_for"]
    assert waited_for and set(waited_for) <= {"invalid_target", "binding_missing", "iamcredentials_api_disabled"}, summary
    assert "waiting for " in result.output and " s of 120 s)" in result.output


def test_verify_that_gives_up_says_the_controller_sees_the_binding(emu, play, delays, credentials):
    delays(iam_propagation_seconds=60)
    result = play([federation(), verify(credentials, verify_propagation_timeout=4)], timeout=300)
    assert result.rc != 0
    assert "binding_missing" in result.output
    assert "The controller sees %s" % PRINCIPAL in result.output, result.output[-6000:]
    assert "the cause is IAM propagation" in result.output


def test_verify_that_gives_up_says_a_missing_binding_is_missing(emu, play, credentials):
    setup = play([federation(),
                  {"name": "remove the binding", "keyless.wif.gcp_service_account_iam_member": {
                      "service_account": SA_EMAIL, "role": "roles/iam.workloadIdentityUser",
                      "members": [PRINCIPAL], "state": "absent"}}])
    assert setup.rc == 0, setup.output[-4000:]
    result = play([verify(credentials, verify_propagation_timeout=3)])
    assert result.rc != 0
    assert "The controller does not see %s" % PRINCIPAL in result.output, result.output[-6000:]
    assert "the binding is missing" in result.output


def test_without_waiting_today_s_verify_reports_a_right_binding_as_missing(emu, play, delays, credentials):
    # What a user met before: verify right after the bindings, no wait.
    delays(iam_propagation_seconds=60)
    result = play([federation(), verify(credentials, verify_propagation_timeout=0, verify_controller_check=False)])
    assert result.rc != 0
    assert "binding_missing" in result.output


def test_without_waiting_today_s_verify_reports_a_new_provider_as_an_invalid_target(emu, play, delays, credentials):
    # The twin for provider propagation: a provider STS does not know yet, no wait.
    delays(provider_propagation_seconds=10)
    result = play([federation(), verify(credentials, verify_propagation_timeout=0, verify_controller_check=False)])
    assert result.rc != 0
    assert "fails at hop sts_exchange (invalid_target)" in result.output, result.output[-6000:]
