"""A conditional binding on a service account's policy: written once, then left alone."""

from __future__ import annotations

from .gcp_harness import PROJECT_ID

SA_EMAIL = "conditional-sa@%s.iam.gserviceaccount.com" % PROJECT_ID
CONDITION = {"title": "until-2030", "expression": 'request.time < timestamp("2030-01-01T00:00:00Z")'}
BINDING = {"service_account": SA_EMAIL, "role": "roles/iam.serviceAccountTokenCreator",
           "members": ["user:carol@example.com"], "condition": CONDITION}


def test_conditional_service_account_binding_is_idempotent(emu, play):
    result = play([
        {"name": "account", "keyless.wif.gcp_service_account": {"account_id": "conditional-sa"}},
        {"name": "conditional", "keyless.wif.gcp_service_account_iam_member": BINDING},
        {"name": "conditional again", "keyless.wif.gcp_service_account_iam_member": BINDING},
    ])
    assert result.rc == 0, result.output[-4000:]
    assert result["conditional"]["result"]["changed"] is True
    assert result["conditional again"]["result"]["changed"] is False

    accounts = [sa for sa in emu.state()["service_accounts"].values() if sa.get("email") == SA_EMAIL]
    assert len(accounts) == 1
    policy = accounts[0]["iam_policy"]
    assert policy["version"] == 3  # a policy with a condition must be written as version 3
    conditional = [b for b in policy["bindings"] if b["role"] == "roles/iam.serviceAccountTokenCreator"]
    assert conditional == [{"role": "roles/iam.serviceAccountTokenCreator", "members": ["user:carol@example.com"],
                            "condition": CONDITION}]
