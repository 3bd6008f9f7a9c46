"""A keyless controller (auth_kind=external_account) makes one token exchange per identity per play.

Its own emulator admits the tokens of two controller service accounts on the control plane
(``control_plane_service_accounts``), so the GCP tasks succeed with federated credentials and
the emulator's STS route counts the exchanges.
"""

from __future__ import annotations

import copy
import json
import os
import stat

import pytest
from wif_emulator.server import EmulatorServer

from .gcp_harness import ADMIN_TOKEN, AWS_ACCOUNT, CONFIG, PROJECT_ID, PROJECT_NUMBER, run_play

CONTROLLERS = ["controller@%s.iam.gserviceaccount.com" % PROJECT_ID, "controller-two@%s.iam.gserviceaccount.com" % PROJECT_ID]
POOL = "projects/%s/locations/global/workloadIdentityPools/ctl-pool" % PROJECT_NUMBER
TASKS = 4


class _Emulator:
    def __init__(self):
        config = copy.deepcopy(CONFIG)
        config["control_plane_service_accounts"] = list(CONTROLLERS)
        self.server = EmulatorServer(config).start()
        self.url = self.server.base_url

    def exchanges(self):
        routes = self.server.app.stats_snapshot()["routes"]
        return routes.get("POST sts.token", {}).get("count", 0)


def _defaults(emu, **extra):
    values = {"project": PROJECT_ID,
              "endpoints": {k: emu.url for k in ("iam", "cloudresourcemanager", "serviceusage", "sts", "iamcredentials")}}
    values.update(extra)
    return {"group/keyless.wif.gcp": values}


@pytest.fixture(scope="module")
def keyless(tmp_path_factory):
    """The emulator with the controllers' federation set up, and one credential file per controller."""
    emu = _Emulator()
    tmp = tmp_path_factory.mktemp("keyless")
    setup = [{"name": "apis", "keyless.wif.gcp_project_service": {"services": ["sts.googleapis.com", "iamcredentials.googleapis.com"]}},
             {"name": "pool", "keyless.wif.gcp_workload_identity_pool": {"pool_id": "ctl-pool"}},
             {"name": "provider", "keyless.wif.gcp_workload_identity_pool_provider": {
                 "pool_id": "ctl-pool", "provider_id": "ctl-aws", "account_id": AWS_ACCOUNT}}]
    files = []
    for email in CONTROLLERS:
        account = email.split("@")[0]
        setup += [{"name": "sa " + account, "keyless.wif.gcp_service_account": {"account_id": account}},
                  {"name": "binding " + account, "keyless.wif.gcp_service_account_iam_member": {
                      "service_account": email, "role": "roles/iam.workloadIdentityUser", "pool": "ctl-pool",
                      "aws_role_arns": ["arn:aws:iam::%s:role/wif-bound-role" % AWS_ACCOUNT]}},
                  # The emulator checks each control-plane call's permission for these accounts.
                  {"name": "owner " + account, "keyless.wif.gcp_project_iam_member": {
                      "role": "roles/owner", "members": ["serviceAccount:" + email]}}]
        path = tmp / ("%s.json" % account)
        path.write_text(json.dumps({
            "type": "external_account",
            "audience": "//iam.googleapis.com/%s/providers/ctl-aws" % POOL,
            "subject_token_type": "urn:ietf:params:aws:token-type:aws4_request",
            "token_url": "https://sts.googleapis.com/v1/token",
            "service_account_impersonation_url": "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/"
                                                 "%s:generateAccessToken" % email,
            "credential_source": {"environment_id": "aws1", "regional_cred_verification_url":
                                  "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15"},
        }))
        files.append(str(path))
    result = run_play(emu, tmp, setup, defaults=_defaults(emu, auth_kind="accesstoken", access_token=ADMIN_TOKEN))
    assert result.rc == 0, result.output[-3000:]
    try:
        yield emu, files
    finally:
        emu.server.stop()


@pytest.fixture
def aws_env(keyless, monkeypatch, tmp_path):
    import urllib.request

    emu, _unused = keyless
    body = json.dumps({"account_id": AWS_ACCOUNT, "role_name": "wif-bound-role", "session_name": "i-0123456789abcdef0"})
    req = urllib.request.Request(emu.url + "/_emulator/aws/credentials", data=body.encode(), method="POST",  # noqa: S310
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - http://127.0.0.1 only
        creds = json.loads(resp.read())
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", creds["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", creds["SecretAccessKey"])
    monkeypatch.setenv("AWS_SESSION_TOKEN", creds["Token"])
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("GCP_TOKEN_CACHE_DIR", str(tmp_path / "tokens"))
    monkeypatch.delenv("GCP_TOKEN_CACHE", raising=False)
    return tmp_path / "tokens"


def _reads(files):
    """TASKS read-only GCP tasks, task i with the credential file files[i % len(files)]."""
    return [{"name": "read %d" % i, "keyless.wif.gcp_project_info": {"external_account_file": files[i % len(files)]}}
            for i in range(TASKS)]


def _play(keyless, tmp_path, files, **extra):
    emu, _unused = keyless
    before = emu.exchanges()
    result = run_play(emu, tmp_path, _reads(files), defaults=_defaults(emu, auth_kind="external_account", **extra))
    assert result.rc == 0, result.output[-3000:]
    assert all(result["read %d" % i]["result"]["project_number"] == PROJECT_NUMBER for i in range(TASKS))
    return emu.exchanges() - before


def test_one_play_makes_one_exchange_per_identity(keyless, aws_env, tmp_path):
    _unused, files = keyless
    assert _play(keyless, tmp_path, files[:1]) == 1
    # Entries are private files named by a digest, never by the token.
    entries = os.listdir(aws_env)
    assert [name for name in entries if name.endswith(".json")] and stat.S_IMODE(os.stat(aws_env).st_mode) == 0o700
    for name in entries:
        assert stat.S_IMODE(os.stat(aws_env / name).st_mode) == 0o600
        if name.endswith(".json"):
            assert json.loads((aws_env / name).read_text())["token"] not in name
    # A second play within the token's lifetime needs no exchange at all.
    assert _play(keyless, tmp_path, files[:1]) == 0


def test_a_second_identity_makes_a_second_exchange(keyless, aws_env, tmp_path):
    _unused, files = keyless
    assert _play(keyless, tmp_path, files) == 2


def test_without_the_cache_every_task_exchanges(keyless, aws_env, tmp_path):
    _unused, files = keyless
    assert _play(keyless, tmp_path, files[:1], token_cache=False) == TASKS
    assert not aws_env.exists()


def test_an_unsafe_cache_directory_is_refused_with_a_warning(keyless, aws_env, tmp_path):
    aws_env.mkdir(mode=0o755)
    aws_env.chmod(0o755)
    emu, files = keyless
    before = emu.exchanges()
    result = run_play(emu, tmp_path, _reads(files[:1]), defaults=_defaults(emu, auth_kind="external_account"))
    assert result.rc == 0, result.output[-3000:]
    assert emu.exchanges() - before == TASKS
    warnings = result["read 0"]["result"].get("warnings", [])
    assert any("token cache not used" in w and "0755" in w for w in warnings), warnings
    assert os.listdir(aws_env) == []
