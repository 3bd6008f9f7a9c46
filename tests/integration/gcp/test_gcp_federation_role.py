"""Role keyless.wif.gcp_federation against the emulator: set up, no-op re-run, teardown."""

from __future__ import annotations

from .gcp_harness import AWS_ACCOUNT, PROJECT_ID, PROJECT_NUMBER, changed_tasks, federated_token, federation_role_task

ROLES = [
    "arn:aws:iam::%s:role/wif-bound-role" % AWS_ACCOUNT,
    "arn:aws:sts::%s:assumed-role/second-role/i-0123" % AWS_ACCOUNT,
]


def role_task(**variables):
    return federation_role_task(**{"gcp_federation_project": PROJECT_ID, "gcp_federation_pool_id": "role-test", "gcp_federation_aws_role_arns": ROLES,
                                   **variables})


def report_task():
    return {
        "name": "report",
        "ansible.builtin.debug": {
            "msg": {"audience": "{{ gcp_federation_audience }}", "email": "{{ gcp_federation_service_account_email }}",
                    "number": "{{ gcp_federation_project_number }}"},
        },
    }


def test_role_sets_up_everything_then_changes_nothing_then_tears_down(emu, play):
    first = play([role_task(), report_task()])
    assert first.rc == 0, first.output[-4000:]
    exported = first["report"]["result"]["msg"]
    assert exported["audience"] == (
        "//iam.googleapis.com/projects/%s/locations/global/workloadIdentityPools/role-test/providers/aws-provider" % PROJECT_NUMBER
    )
    assert exported["email"] == "litellm-vertex@%s.iam.gserviceaccount.com" % PROJECT_ID

    state = emu.state()
    text = str(state)
    # The condition admits exactly the listed roles, in the assumed-role form, sorted.
    assert (
        'attribute.aws_role in ["arn:aws:sts::%s:assumed-role/second-role", "arn:aws:sts::%s:assumed-role/wif-bound-role"]'
        % (AWS_ACCOUNT, AWS_ACCOUNT)
    ) in text
    for role in ("wif-bound-role", "second-role"):
        assert (
            "principalSet://iam.googleapis.com/projects/%s/locations/global/workloadIdentityPools/role-test"
            "/attribute.aws_role/arn:aws:sts::%s:assumed-role/%s" % (PROJECT_NUMBER, AWS_ACCOUNT, role)
        ) in text
    assert "arn:aws:iam::" not in text  # the IAM-role form never reaches a binding or condition

    writes_before = len(emu.writes())
    second = play([role_task()])
    assert second.rc == 0, second.output[-4000:]
    assert changed_tasks(second) == []
    assert len(emu.writes()) == writes_before

    gone = play([role_task(gcp_federation_state="absent")])
    assert gone.rc == 0, gone.output[-4000:]
    assert changed_tasks(gone)
    again = play([role_task(gcp_federation_state="absent")])
    assert again.rc == 0, again.output[-4000:]
    assert changed_tasks(again) == []


def test_role_refuses_a_role_outside_the_one_account_it_is_told_before_any_write(emu, play):
    # Several accounts are admitted (test_several_accounts.py), unless gcp_federation_aws_account_id pins one.
    result = play([role_task(gcp_federation_aws_role_arns=[*ROLES, "arn:aws:iam::222222222222:role/x"],
                             gcp_federation_aws_account_id=AWS_ACCOUNT)])
    assert result.rc != 0
    assert "gcp_federation_aws_role_arns must all belong to gcp_federation_aws_account_id %s" % AWS_ACCOUNT in result.output
    assert emu.writes() == []


def test_role_refuses_a_malformed_arn_naming_it(emu, play):
    result = play([role_task(gcp_federation_aws_role_arns=["arn:aws:iam::12345:role/x"])])
    assert result.rc != 0
    assert "12 digits" in result.output
    assert emu.writes() == []


def test_role_refuses_a_bad_provider_id_before_any_write(emu, play):
    result = play([role_task(gcp_federation_provider_id="aws")])
    assert result.rc != 0
    assert "gcp_federation_provider_id must be 4-32" in result.output
    assert emu.writes() == []


EITHER_INSTANCE = "assertion.arn.endsWith('/i-0aaa') || assertion.arn.endsWith('/i-0bbb')"


def test_an_extra_or_condition_cannot_widen_the_role_restriction(emu, play, monkeypatch):
    # Before the fix the role joined the parts unparenthesised: A || B && restriction, which let
    # any role in the account through when its session matched A.
    result = play([role_task(gcp_federation_aws_role_arns=[ROLES[0]], gcp_federation_attribute_condition=EITHER_INSTANCE),
                   report_task()])
    assert result.rc == 0, result.output[-4000:]
    audience = result["report"]["result"]["msg"]["audience"]

    unlisted = federated_token(emu, monkeypatch, audience, "unlisted-role", "i-0aaa")
    assert unlisted.startswith("refused") and "unauthorized_client" in unlisted, unlisted
    assert "rejected by the attribute condition" in unlisted
    other_instance = federated_token(emu, monkeypatch, audience, "wif-bound-role", "i-0ccc")
    assert other_instance.startswith("refused") and "unauthorized_client" in other_instance, other_instance
    assert federated_token(emu, monkeypatch, audience, "wif-bound-role", "i-0aaa") == "admitted"
    assert federated_token(emu, monkeypatch, audience, "wif-bound-role", "i-0bbb") == "admitted"
    condition = next(p["attributeCondition"] for p in emu.state()["providers"].values() if p["name"].endswith("/role-test/providers/aws-provider"))
    assert condition == "(%s) && (attribute.aws_role in [\"arn:aws:sts::%s:assumed-role/wif-bound-role\"])" % (EITHER_INSTANCE, AWS_ACCOUNT)


def test_types_that_are_unambiguous_are_coerced(emu, play):
    # One ARN as a string, the account as a YAML int: both mean exactly one thing.
    result = play([role_task(gcp_federation_aws_role_arns=ROLES[0], gcp_federation_aws_account_id=int(AWS_ACCOUNT)),
                   report_task()])
    assert result.rc == 0, result.output[-4000:]
    provider = next(p for p in emu.state()["providers"].values() if p["name"].endswith("/role-test/providers/aws-provider"))
    assert provider["aws"]["accountId"] == AWS_ACCOUNT
    assert provider["attributeCondition"] == "(attribute.aws_role in [\"arn:aws:sts::%s:assumed-role/wif-bound-role\"])" % AWS_ACCOUNT


def test_check_mode_on_a_fresh_project_predicts_what_apply_then_changes(emu, play):
    # Before, check mode failed reading the policy of the service account it had only predicted (404).
    check = play([role_task(), report_task()], extra_args=("--check",))
    assert check.rc == 0, check.output[-4000:]
    assert emu.writes() == []
    apply = play([role_task(), report_task()])
    assert apply.rc == 0, apply.output[-4000:]
    assert changed_tasks(check) == changed_tasks(apply)
    assert check["report"]["result"]["msg"] == apply["report"]["result"]["msg"]


def test_check_mode_on_a_project_without_the_iam_api_predicts_what_apply_then_changes(emu, play):
    """A truly fresh project (as the sandbox's): IAM is off, and check mode only predicts enabling it.

    Before, the reads after that prediction failed: "List the pool's providers" answered 403 SERVICE_DISABLED.
    """
    off = play([{"name": "iam off", "keyless.wif.gcp_project_service": {
        "project": PROJECT_ID, "services": ["iam.googleapis.com"], "state": "disabled"}}])
    assert off.rc == 0, off.output[-4000:]
    writes_before = len(emu.writes())
    check = play([role_task(), report_task()], extra_args=("--check",))
    assert check.rc == 0, check.output[-4000:]
    assert len(emu.writes()) == writes_before
    assert "keyless.wif.gcp_federation : Enable the APIs the flow needs" in changed_tasks(check)
    apply = play([role_task(), report_task()])
    assert apply.rc == 0, apply.output[-4000:]
    assert changed_tasks(check) == changed_tasks(apply)
    assert check["report"]["result"]["msg"] == apply["report"]["result"]["msg"]


def test_on_a_project_without_the_iam_api_the_role_enables_it_before_reading_iam(emu, play):
    """As on a fresh project (and in the sandbox): IAM answers 403 SERVICE_DISABLED until enabled."""
    off = play([{"name": "iam off", "keyless.wif.gcp_project_service": {
        "project": PROJECT_ID, "services": ["iam.googleapis.com"], "state": "disabled"}}])
    assert off.rc == 0, off.output[-4000:]
    first = play([role_task(), report_task()])
    assert first.rc == 0, first.output[-4000:]
    assert first["report"]["result"]["msg"]["audience"].endswith("/workloadIdentityPools/role-test/providers/aws-provider")
