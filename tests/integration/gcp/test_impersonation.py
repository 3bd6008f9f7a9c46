"""A controller that runs as an admin service account through impersonate_service_account (and a delegate),
set once in module_defaults for group/keyless.wif.gcp, against the emulator with real modules.

The emulator's admin token is the source credential (auth_kind=accesstoken); it stands for the
config's admin_principal, which holds roles/iam.serviceAccountTokenCreator on the hop account only.
The hop holds it on the admin account, which owns the project and is one of
control_plane_service_accounts, so the impersonated token may manage the project.
"""

from __future__ import annotations

import copy

import pytest
from wif_emulator.server import EmulatorServer

from .gcp_harness import ADMIN_TOKEN, AWS_ACCOUNT, CONFIG, PROJECT_ID, changed_tasks, federation_role_task, run_play

ADMIN_PRINCIPAL = "user:admin@example.com"
ADMIN_SA = "kwif-admin@%s.iam.gserviceaccount.com" % PROJECT_ID
HOP_SA = "kwif-hop@%s.iam.gserviceaccount.com" % PROJECT_ID
TOKEN_CREATOR = "roles/iam.serviceAccountTokenCreator"
ENDPOINT_KEYS = ("iam", "cloudresourcemanager", "serviceusage", "sts", "iamcredentials")


class _Emulator:
    def __init__(self):
        config = copy.deepcopy(CONFIG)
        config["control_plane_service_accounts"] = [ADMIN_SA]
        config["admin_principal"] = ADMIN_PRINCIPAL
        self.server = EmulatorServer(config).start()
        self.url = self.server.base_url

    def generate_calls(self):
        routes = self.server.app.stats_snapshot()["routes"]
        return routes.get("POST iamcredentials.projects.serviceAccounts.generateAccessToken", {}).get("status", {})

    def tokens_of(self, email):
        return [r for r in self.server.app.state.data["tokens"].values() if r.get("email") == email]


def _defaults(emu, **extra):
    values = {"project": PROJECT_ID, "auth_kind": "accesstoken", "access_token": ADMIN_TOKEN,
              "endpoints": {k: emu.url for k in ENDPOINT_KEYS}}
    values.update(extra)
    return {"group/keyless.wif.gcp": values}


def _impersonating(emu, **extra):
    return _defaults(emu, impersonate_service_account=ADMIN_SA, impersonate_delegates=[HOP_SA], **extra)


@pytest.fixture(scope="module")
def emu(tmp_path_factory):
    emu = _Emulator()
    tmp = tmp_path_factory.mktemp("impersonation")
    setup = [
        {"name": "apis", "keyless.wif.gcp_project_service": {"services": ["iamcredentials.googleapis.com"]}},
        {"name": "admin sa", "keyless.wif.gcp_service_account": {"account_id": "kwif-admin"}},
        {"name": "hop sa", "keyless.wif.gcp_service_account": {"account_id": "kwif-hop"}},
        {"name": "admin may use the hop", "keyless.wif.gcp_service_account_iam_member": {
            "service_account": HOP_SA, "role": TOKEN_CREATOR, "members": [ADMIN_PRINCIPAL]}},
        {"name": "hop may use the admin sa", "keyless.wif.gcp_service_account_iam_member": {
            "service_account": ADMIN_SA, "role": TOKEN_CREATOR, "members": ["serviceAccount:" + HOP_SA]}},
        {"name": "admin sa owns the project", "keyless.wif.gcp_project_iam_member": {
            "role": "roles/owner", "members": ["serviceAccount:" + ADMIN_SA]}},
    ]
    result = run_play(emu, tmp, setup, defaults=_defaults(emu))
    assert result.rc == 0, result.output[-3000:]
    try:
        yield emu
    finally:
        emu.server.stop()


@pytest.fixture
def cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("GCP_TOKEN_CACHE_DIR", str(tmp_path / "tokens"))
    monkeypatch.delenv("GCP_TOKEN_CACHE", raising=False)
    for name in ("GCP_IMPERSONATE_SERVICE_ACCOUNT", "GCP_IMPERSONATE_DELEGATES"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "tokens"


def _tasks(suffix=""):
    return [
        {"name": "sa" + suffix, "keyless.wif.gcp_service_account": {
            "account_id": "made-by-impersonation", "display_name": "Made as kwif-admin"}},
        {"name": "pool" + suffix, "keyless.wif.gcp_workload_identity_pool": {"pool_id": "imp-pool"}},
        {"name": "binding" + suffix, "keyless.wif.gcp_project_iam_member": {
            "role": "roles/viewer", "members": ["user:auditor@example.com"]}},
    ]


def test_four_steps_as_the_impersonated_admin(emu, cache_dir, tmp_path):
    before_ok = emu.generate_calls().get("200", 0)
    steps = []
    for check in (True, False, True, False):
        result = run_play(emu, tmp_path, _tasks(), defaults=_impersonating(emu),
                          extra_args=("--check",) if check else ())
        assert result.rc == 0, result.output[-3000:]
        steps.append([result[name]["result"]["changed"] for name in ("sa", "pool", "binding")])
    assert steps == [[True] * 3, [True] * 3, [False] * 3, [False] * 3]
    # The writes were made by the impersonated account: its token (minted over the hop) exists,
    # and the token cache let the four plays share one generateAccessToken.
    minted = emu.tokens_of(ADMIN_SA)
    assert minted and all(r["delegates"] == [HOP_SA] for r in minted)
    assert emu.generate_calls().get("200", 0) - before_ok == 1
    assert [p.name for p in cache_dir.iterdir() if p.name.endswith(".json")]


def test_env_fallbacks_and_a_missing_link_fail_naming_the_option(emu, cache_dir, tmp_path, monkeypatch):
    # Without the delegate the admin principal holds nothing on the admin account.
    monkeypatch.setenv("GCP_IMPERSONATE_SERVICE_ACCOUNT", ADMIN_SA)
    result = run_play(emu, tmp_path, [{"name": "read", "keyless.wif.gcp_project_info": {}}], defaults=_defaults(emu))
    assert result.rc != 0
    msg = result["read"]["result"]["msg"]
    assert msg.startswith("impersonate_service_account: cannot impersonate %s" % ADMIN_SA), msg
    assert "iam.serviceAccounts.getAccessToken" in msg and "HTTP 403" in msg
    # With the delegate from the environment too, it works.
    monkeypatch.setenv("GCP_IMPERSONATE_DELEGATES", HOP_SA)
    result = run_play(emu, tmp_path, [{"name": "read", "keyless.wif.gcp_project_info": {}}], defaults=_defaults(emu))
    assert result.rc == 0, result.output[-3000:]


@pytest.mark.parametrize(("extra", "field"), [
    ({"impersonate_service_account": "kwif-admin"}, "impersonate_service_account"),
    ({"impersonate_service_account": ADMIN_SA, "impersonate_delegates": ["user:" + HOP_SA]}, "impersonate_delegates[0]"),
    ({"impersonate_delegates": [HOP_SA]}, "impersonate_delegates"),
])
def test_bad_values_fail_before_any_request(emu, cache_dir, tmp_path, extra, field):
    before = emu.server.app.stats_snapshot()["totals"]["all"]
    result = run_play(emu, tmp_path, _tasks()[:1], defaults=_defaults(emu, **extra))
    assert result.rc != 0
    outcome = result["sa"]["result"]
    assert outcome["field"] == field and outcome["msg"].startswith("invalid input: " + field)
    assert emu.server.app.stats_snapshot()["totals"]["all"] == before


def test_the_federation_role_runs_as_the_impersonated_admin(emu, cache_dir, tmp_path):
    """playbooks/site.yml style: the role's modules take the impersonation from module_defaults."""
    role = federation_role_task(gcp_federation_project=PROJECT_ID, gcp_federation_pool_id="imp-role",
                                gcp_federation_service_account_id="imp-role-sa",
                                gcp_federation_aws_role_arns=["arn:aws:iam::%s:role/wif-bound-role" % AWS_ACCOUNT])
    before = emu.generate_calls().get("200", 0)
    first = run_play(emu, tmp_path, [role], defaults=_impersonating(emu))
    assert first.rc == 0, first.output[-4000:]
    assert changed_tasks(first)
    second = run_play(emu, tmp_path, [role], defaults=_impersonating(emu))
    assert second.rc == 0, second.output[-4000:]
    assert changed_tasks(second) == []
    gone = run_play(emu, tmp_path, [federation_role_task(**dict(role["vars"], gcp_federation_state="absent"))],
                    defaults=_impersonating(emu))
    assert gone.rc == 0, gone.output[-4000:]
    assert changed_tasks(gone)
    # The three plays ran on one impersonated token (the cache); without impersonation there would be none.
    assert emu.generate_calls().get("200", 0) - before == 1
    pools = emu.server.app.state.data["pools"]
    assert any(name.endswith("/imp-role") for name in pools)
