"""Soft-deleted pools and providers are undeleted by state=present; absent on absent/deleted is no change."""

from __future__ import annotations

from .gcp_harness import AWS_ACCOUNT

POOL = {"pool_id": "soft-pool", "display_name": "soft"}
PROVIDER = {"pool_id": "soft-pool", "provider_id": "soft-provider", "account_id": AWS_ACCOUNT}


def t(name, module, args, **extra):
    return dict({"name": name, "keyless.wif." + module: args}, **extra)


def test_soft_delete_and_undelete(play, emu):
    pool, prov = "gcp_workload_identity_pool", "gcp_workload_identity_pool_provider"
    result = play([
        t("absent pool never existed", pool, dict(POOL, state="absent")),
        t("absent provider never existed", prov, dict(PROVIDER, state="absent")),
        t("create pool", pool, POOL),
        t("create provider", prov, PROVIDER),
        t("delete provider", prov, dict(PROVIDER, state="absent")),
        t("delete pool", pool, dict(POOL, state="absent")),
        t("delete provider again", prov, dict(PROVIDER, state="absent")),
        t("delete pool again", pool, dict(POOL, state="absent")),
        t("undelete pool check", pool, dict(POOL, description="back"), check_mode=True, diff=True),
        t("undelete pool", pool, dict(POOL, description="back"), diff=True),
        t("undelete provider", prov, PROVIDER, diff=True),
        t("provider stays", prov, PROVIDER),
    ])
    assert result.rc == 0, result.output[-3000:]
    for name in ("absent pool never existed", "absent provider never existed", "delete provider again",
                 "delete pool again", "provider stays"):
        assert result[name]["status"] == "ok", name
        assert emu.during(result[name], writes_only=True) == [], name
    assert result["absent pool never existed"]["result"]["state"] == "ABSENT"
    assert result["delete pool"]["result"]["state"] == "DELETED"

    check = result["undelete pool check"]
    assert check["status"] == "changed" and emu.during(check, writes_only=True) == []
    assert check["result"]["actions"] == ["undelete", "update description"]

    rec = result["undelete pool"]
    assert rec["status"] == "changed"
    assert rec["result"]["actions"] == ["undelete", "update description"]
    assert rec["result"]["diff"]["before"]["state"] == "DELETED"
    assert rec["result"]["diff"]["after"]["state"] == "ACTIVE"
    assert rec["result"]["diff"] == check["result"]["diff"]
    writes = emu.during(rec, writes_only=True)
    assert [(w["method"], w["path"].rsplit("/", 1)[-1]) for w in writes] == [("POST", "soft-pool:undelete"),
                                                                             ("PATCH", "soft-pool")]
    assert writes[1]["query"]["updateMask"] == ["description"]

    rec = result["undelete provider"]
    assert rec["status"] == "changed" and rec["result"]["actions"] == ["undelete"]
    assert rec["result"]["state"] == "ACTIVE"
    state = emu.state()
    assert {p["state"] for p in state["providers"].values()} == {"ACTIVE"}
    assert {p["state"] for p in state["pools"].values()} == {"ACTIVE"}


def test_service_account_delete_then_present_creates_a_new_account(play, emu):
    sa = "gcp_service_account"
    result = play([
        t("create", sa, {"account_id": "soft-account", "display_name": "one"}),
        t("delete", sa, {"account_id": "soft-account", "state": "absent"}),
        t("delete again", sa, {"account_id": "soft-account", "state": "absent"}),
        t("recreate", sa, {"account_id": "soft-account", "display_name": "one", "disabled": True}),
        t("recreate again", sa, {"account_id": "soft-account", "display_name": "one", "disabled": True}),
    ])
    assert result.rc == 0, result.output[-3000:]
    assert [result[n]["status"] for n in ("create", "delete", "delete again", "recreate", "recreate again")] == [
        "changed", "changed", "ok", "changed", "ok"]
    assert result["recreate"]["result"]["actions"] == ["create", "disable"]
    assert result["recreate"]["result"]["unique_id"] != result["create"]["result"]["unique_id"]
    assert result["recreate again"]["result"]["service_account"]["disabled"] is True
