"""Role keyless.wif.gcp_federation with AWS roles in several accounts, against the emulator.

One provider per account (gcp_federation_provider_id for one account, PROVIDER_ID-ACCOUNT_ID
for several), each with its account's roles in its condition, bindings for every role; the
four steps (check, apply, check, apply) change nothing the second time; removing an account
removes its provider and keeps the other's; a role of a third account gets no token.
"""

from __future__ import annotations

import copy
from unittest import mock

import pytest

from . import gcp_harness
from .gcp_harness import AWS_ACCOUNT, PROJECT_ID, PROJECT_NUMBER, Emulator, changed_tasks, federated_token, federation_role_task, run_play

OTHER_ACCOUNT = "222222222222"
THIRD_ACCOUNT = "333333333333"
POOL = "multi-test"
ROLES_A = ["arn:aws:iam::%s:role/wif-bound-role" % AWS_ACCOUNT, "arn:aws:sts::%s:assumed-role/second-role/i-0123" % AWS_ACCOUNT]
ROLES_B = ["arn:aws:iam::%s:role/other-role" % OTHER_ACCOUNT]
PROVIDERS = "projects/%s/locations/global/workloadIdentityPools/%s/providers/" % (PROJECT_NUMBER, POOL)
AUDIENCE = "//iam.googleapis.com/" + PROVIDERS
REMOVE_TASK = "keyless.wif.gcp_federation : Remove the providers of accounts no longer listed"


@pytest.fixture(scope="module")
def accounts_emulator():
    """An emulator whose AWS side has three accounts (the shared one has one)."""
    config = copy.deepcopy(gcp_harness.CONFIG)
    config["aws"]["accounts"] = [{"id": AWS_ACCOUNT, "roles": ["wif-bound-role", "second-role"]},
                                 {"id": OTHER_ACCOUNT, "roles": ["other-role"]},
                                 {"id": THIRD_ACCOUNT, "roles": ["wif-bound-role"]}]
    with mock.patch.object(gcp_harness, "CONFIG", config):
        emu = Emulator()
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture
def emu(accounts_emulator):
    accounts_emulator.reset()
    return accounts_emulator


@pytest.fixture
def play(emu, tmp_path):
    def run(tasks, **kw):
        return run_play(emu, tmp_path, tasks, **kw)
    return run


def role_task(roles, **variables):
    return federation_role_task(**{"gcp_federation_project": PROJECT_ID, "gcp_federation_pool_id": POOL, "gcp_federation_aws_role_arns": roles,
                                   **variables})


def report_task():
    return {"name": "report", "ansible.builtin.debug": {"msg": {"audience": "{{ gcp_federation_audience }}",
                                                                "audiences": "{{ gcp_federation_audiences }}"}}}


def live_providers(emu):
    """provider id -> (account, condition) of the pool's providers that are not deleted."""
    return {name[len(PROVIDERS):]: (p["aws"]["accountId"], p.get("attributeCondition", ""))
            for name, p in emu.state()["providers"].items() if name.startswith(PROVIDERS) and p["state"] != "DELETED"}


def in_condition(*roles):
    # The role lists each account's roles sorted, whatever order the hosts came in.
    return "(attribute.aws_role in [%s])" % ", ".join('"%s"' % r for r in sorted(roles))


def bound_members(emu):
    text = str(emu.state())
    return [role for role in ("%s:assumed-role/wif-bound-role" % AWS_ACCOUNT, "%s:assumed-role/second-role" % AWS_ACCOUNT,
                              "%s:assumed-role/other-role" % OTHER_ACCOUNT)
            if "principalSet://iam.googleapis.com/projects/%s/locations/global/workloadIdentityPools/%s/attribute.aws_role/"
               "arn:aws:sts::%s" % (PROJECT_NUMBER, POOL, role) in text]


def token(emu, monkeypatch, audience, account, role):
    return federated_token(emu, monkeypatch, audience, role, account=account)


def test_two_accounts_get_a_provider_each_in_four_steps(emu, play):
    roles = ROLES_A + ROLES_B
    check = play([role_task(roles), report_task()], extra_args=("--check",))
    assert check.rc == 0, check.output[-4000:]
    assert emu.writes() == []
    apply = play([role_task(roles), report_task()])
    assert apply.rc == 0, apply.output[-4000:]
    assert changed_tasks(check) == changed_tasks(apply)
    assert check["report"]["result"]["msg"] == apply["report"]["result"]["msg"]

    assert live_providers(emu) == {
        "aws-provider-%s" % AWS_ACCOUNT: (AWS_ACCOUNT, in_condition("arn:aws:sts::%s:assumed-role/wif-bound-role" % AWS_ACCOUNT,
                                                                    "arn:aws:sts::%s:assumed-role/second-role" % AWS_ACCOUNT)),
        "aws-provider-%s" % OTHER_ACCOUNT: (OTHER_ACCOUNT, in_condition("arn:aws:sts::%s:assumed-role/other-role" % OTHER_ACCOUNT)),
    }
    assert len(bound_members(emu)) == 3
    exported = apply["report"]["result"]["msg"]
    assert exported["audiences"] == {AWS_ACCOUNT: AUDIENCE + "aws-provider-%s" % AWS_ACCOUNT,
                                     OTHER_ACCOUNT: AUDIENCE + "aws-provider-%s" % OTHER_ACCOUNT}
    assert exported["audience"] == exported["audiences"][AWS_ACCOUNT]

    writes = len(emu.writes())
    check_again = play([role_task(roles)], extra_args=("--check",))
    assert check_again.rc == 0, check_again.output[-4000:]
    assert changed_tasks(check_again) == []
    again = play([role_task(roles)])
    assert again.rc == 0, again.output[-4000:]
    assert changed_tasks(again) == []
    assert len(emu.writes()) == writes


def test_an_existing_single_account_setup_keeps_its_provider_when_an_account_is_added_and_removed(emu, play):
    first = play([role_task(ROLES_A), report_task()])
    assert first.rc == 0, first.output[-4000:]
    assert first["report"]["result"]["msg"]["audience"] == AUDIENCE + "aws-provider"
    assert list(live_providers(emu)) == ["aws-provider"]

    added = play([role_task(ROLES_A + ROLES_B), report_task()])
    assert added.rc == 0, added.output[-4000:]
    assert sorted(live_providers(emu)) == ["aws-provider", "aws-provider-%s" % OTHER_ACCOUNT]
    assert added["report"]["result"]["msg"]["audiences"] == {AWS_ACCOUNT: AUDIENCE + "aws-provider",
                                                             OTHER_ACCOUNT: AUDIENCE + "aws-provider-%s" % OTHER_ACCOUNT}

    removed = play([role_task(ROLES_A), report_task()])
    assert removed.rc == 0, removed.output[-4000:]
    assert live_providers(emu) == {"aws-provider": (AWS_ACCOUNT, in_condition(
        "arn:aws:sts::%s:assumed-role/wif-bound-role" % AWS_ACCOUNT, "arn:aws:sts::%s:assumed-role/second-role" % AWS_ACCOUNT))}
    assert REMOVE_TASK in changed_tasks(removed)
    again = play([role_task(ROLES_A)])
    assert again.rc == 0, again.output[-4000:]
    assert changed_tasks(again) == []


def test_removing_an_account_deletes_its_provider_and_keeps_the_other(emu, play):
    assert play([role_task(ROLES_A + ROLES_B)]).rc == 0
    # A provider the role did not derive is never touched.
    other = play([{"name": "foreign", "keyless.wif.gcp_workload_identity_pool_provider": {
        "pool_id": POOL, "provider_id": "hand-made", "account_id": THIRD_ACCOUNT}}])
    assert other.rc == 0, other.output[-4000:]

    check = play([role_task(ROLES_B)], extra_args=("--check",))
    assert check.rc == 0, check.output[-4000:]
    assert REMOVE_TASK in changed_tasks(check)
    assert sorted(live_providers(emu)) == ["aws-provider-%s" % AWS_ACCOUNT, "aws-provider-%s" % OTHER_ACCOUNT, "hand-made"]

    result = play([role_task(ROLES_B), report_task()])
    assert result.rc == 0, result.output[-4000:]
    deletes = [r["path"].rsplit("/workloadIdentityPools/", 1)[-1] for r in emu.writes() if r["method"] == "DELETE"]
    assert deletes == ["%s/providers/aws-provider-%s" % (POOL, AWS_ACCOUNT)]
    # The account left keeps its provider (and its hosts' audience).
    assert sorted(live_providers(emu)) == ["aws-provider-%s" % OTHER_ACCOUNT, "hand-made"]
    assert result["report"]["result"]["msg"]["audiences"] == {OTHER_ACCOUNT: AUDIENCE + "aws-provider-%s" % OTHER_ACCOUNT}
    again = play([role_task(ROLES_B)])
    assert again.rc == 0, again.output[-4000:]
    assert changed_tasks(again) == []

    gone = play([role_task(ROLES_B, gcp_federation_state="absent")])
    assert gone.rc == 0, gone.output[-4000:]
    assert list(live_providers(emu)) == ["hand-made"]


def test_a_third_accounts_role_gets_no_token(emu, play, monkeypatch):
    result = play([role_task(ROLES_A + ROLES_B), report_task()])
    assert result.rc == 0, result.output[-4000:]
    audiences = result["report"]["result"]["msg"]["audiences"]
    assert token(emu, monkeypatch, audiences[AWS_ACCOUNT], AWS_ACCOUNT, "wif-bound-role") == "admitted"
    assert token(emu, monkeypatch, audiences[OTHER_ACCOUNT], OTHER_ACCOUNT, "other-role") == "admitted"
    # Each account's provider admits its own account only, and only its listed roles.
    crossed = token(emu, monkeypatch, audiences[OTHER_ACCOUNT], AWS_ACCOUNT, "wif-bound-role")
    assert crossed.startswith("refused") and "configured on" in crossed and "provider" in crossed, crossed
    # A host of a third account: no provider of the pool admits it, whichever audience it names.
    for account_audience in audiences.values():
        third = token(emu, monkeypatch, account_audience, THIRD_ACCOUNT, "wif-bound-role")
        assert third.startswith("refused") and "does not match the account" in third and "provider" in third, third
    derived = token(emu, monkeypatch, AUDIENCE + "aws-provider-%s" % THIRD_ACCOUNT, THIRD_ACCOUNT, "wif-bound-role")
    assert derived.startswith("refused") and "invalid_target" in derived, derived


def test_a_third_account_is_refused_before_any_write_when_the_accounts_are_pinned(emu, play):
    result = play([role_task(ROLES_A + ROLES_B + ["arn:aws:iam::%s:role/wif-bound-role" % THIRD_ACCOUNT],
                             gcp_federation_aws_account_ids=[AWS_ACCOUNT, OTHER_ACCOUNT])])
    assert result.rc != 0
    assert ("gcp_federation_aws_role_arns[3] belongs to AWS account %s, which gcp_federation_aws_account_ids" % THIRD_ACCOUNT
            in result.output)
    assert emu.writes() == []


def test_a_provider_id_too_long_to_derive_from_is_refused_before_any_write(emu, play):
    result = play([role_task(ROLES_A + ROLES_B, gcp_federation_provider_id="aws-provider-for-keyless")])
    assert result.rc != 0
    assert "gcp_federation_provider_id must be at most 19 characters when the roles span several AWS accounts" in result.output
    assert emu.writes() == []
    assert play([role_task(ROLES_A, gcp_federation_provider_id="aws-provider-for-keyless")]).rc == 0
