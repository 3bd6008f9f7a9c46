"""auth_kind=external_account: the modules themselves run keyless from AWS credentials.

The external_account file names Google's public STS and IAM Credentials URLs; the
``endpoints`` overrides must redirect both to the emulator. The emulator's control plane
only accepts its admin tokens, so the first control-plane call answers 401 — proving the
federated token, not the admin token, was used — and that must surface as one clear line.
"""

from __future__ import annotations

import json

from .gcp_harness import ADMIN_TOKEN, AWS_ACCOUNT, PROJECT_ID, PROJECT_NUMBER, module_defaults, run_play

SA_EMAIL = "controller@%s.iam.gserviceaccount.com" % PROJECT_ID
AUDIENCE = ("//iam.googleapis.com/projects/%s/locations/global/workloadIdentityPools/ctl-pool/providers/ctl-aws"
            % PROJECT_NUMBER)


def test_external_account_exchanges_tokens_through_overridden_endpoints(emu, tmp_path, monkeypatch):
    creds = emu.admin("POST", "aws/credentials", {"account_id": AWS_ACCOUNT, "role_name": "wif-bound-role",
                                                  "session_name": "i-0123456789abcdef0"})
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", creds["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", creds["SecretAccessKey"])
    monkeypatch.setenv("AWS_SESSION_TOKEN", creds["Token"])
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    ext = tmp_path / "external_account.json"
    ext.write_text(json.dumps({
        "universe_domain": "googleapis.com",
        "type": "external_account",
        "audience": AUDIENCE,
        "subject_token_type": "urn:ietf:params:aws:token-type:aws4_request",
        "token_url": "https://sts.googleapis.com/v1/token",
        "service_account_impersonation_url": "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/"
                                             "%s:generateAccessToken" % SA_EMAIL,
        "credential_source": {
            "environment_id": "aws1",
            "regional_cred_verification_url": "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15",
        },
    }))
    setup = run_play(emu, tmp_path, [
        {"name": "apis", "keyless.wif.gcp_project_service": {"services": ["sts.googleapis.com", "iamcredentials.googleapis.com"]}},
        {"name": "sa", "keyless.wif.gcp_service_account": {"account_id": "controller"}},
        {"name": "pool", "keyless.wif.gcp_workload_identity_pool": {"pool_id": "ctl-pool"}},
        {"name": "provider", "keyless.wif.gcp_workload_identity_pool_provider": {
            "pool_id": "ctl-pool", "provider_id": "ctl-aws", "account_id": AWS_ACCOUNT}},
        {"name": "binding", "keyless.wif.gcp_service_account_iam_member": {
            "service_account": SA_EMAIL, "role": "roles/iam.workloadIdentityUser", "pool": "ctl-pool",
            "aws_role_arns": ["arn:aws:iam::%s:role/wif-bound-role" % AWS_ACCOUNT]}},
    ])
    assert setup.rc == 0, setup.output[-3000:]
    assert setup["provider"]["result"]["audience"] == AUDIENCE

    defaults = module_defaults(emu, auth_kind="external_account", external_account_file=str(ext))
    defaults["group/keyless.wif.gcp"].pop("access_token")
    result = run_play(emu, tmp_path, [
        {"name": "keyless controller", "keyless.wif.gcp_project_info": {}, "ignore_errors": True},
    ], defaults=defaults)
    rec = result["keyless controller"]
    seen = [(r["method"], r["path"], r["status"]) for r in emu.during(rec)]
    assert ("POST", "/v1/token", 200) in seen, seen
    assert ("POST", "/v1/projects/-/serviceAccounts/%s:generateAccessToken" % SA_EMAIL, 200) in seen, seen
    assert ("GET", "/v1/projects/%s" % PROJECT_ID, 401) in seen, seen
    msg = rec["result"]["msg"]
    assert msg.startswith("read project projects/%s failed: HTTP 401 UNAUTHENTICATED" % PROJECT_ID), msg
    assert "\n" not in msg and ADMIN_TOKEN not in json.dumps(rec["result"])
