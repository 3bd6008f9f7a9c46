"""keyless.wif.aws_caller_info through ansible-playbook, against the emulator's AWS STS."""

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from wif_emulator.aws import mint_credentials
from wif_emulator.server import EmulatorServer

REPO = Path(__file__).resolve().parents[3]
SECRET = "caller-info-test-secret"
CONFIG = {
    "admin_tokens": ["admin"],
    "projects": [{"id": "wif-test", "number": "123456789012"}],
    "aws": {"credential_secret": SECRET, "accounts": [{"id": "111111111111", "roles": ["litellm-host"]}]},
}


@pytest.fixture(scope="module")
def emulator():
    with EmulatorServer(CONFIG) as server:
        yield server


def run_module(args, env_creds, tmp_path, check=False):
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        json.dumps(
            [
                {
                    "hosts": "localhost",
                    "gather_facts": False,
                    "tasks": [
                        {"name": "caller", "keyless.wif.aws_caller_info": args, "register": "caller", "ignore_errors": True},
                        {"ansible.builtin.copy": {"content": "{{ caller | to_json }}", "dest": str(tmp_path / "result.json")}, "check_mode": False},
                    ],
                }
            ]
        )
    )
    env = {
        "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin",
        "HOME": str(tmp_path),
        "ANSIBLE_COLLECTIONS_PATH": str(REPO / "build" / "collections"),
        "ANSIBLE_LOCALHOST_WARNING": "false",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        **env_creds,
    }
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-c", "local", "-e", "ansible_python_interpreter=" + sys.executable, str(playbook)]
    if check:
        cmd.append("--check")
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, check=False)
    result_file = tmp_path / "result.json"
    assert result_file.exists(), proc.stdout + proc.stderr
    return json.loads(result_file.read_text())


def creds_env(**overrides):
    creds = mint_credentials(SECRET, "111111111111", "litellm-host", "i-0123456789abcdef0", 3600)
    env = {"AWS_ACCESS_KEY_ID": creds["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"], "AWS_SESSION_TOKEN": creds["Token"]}
    env.update(overrides)
    return env


def test_reports_identity_and_the_member_that_matches(emulator, tmp_path):
    result = run_module(
        {"region": "us-east-1", "endpoint_url": emulator.base_url, "project_number": "123456789012", "pool_id": "aws-hosts"},
        creds_env(),
        tmp_path,
        check=True,
    )
    assert not result.get("failed"), result
    assert result["changed"] is False
    assert result["account"] == "111111111111"
    assert result["arn"] == "arn:aws:sts::111111111111:assumed-role/litellm-host/i-0123456789abcdef0"
    assert result["role_name"] == "litellm-host"
    assert result["session_name"] == "i-0123456789abcdef0"
    assert result["iam_role_arn"] == "arn:aws:iam::111111111111:role/litellm-host"
    assert result["assumed_role_arn"] == "arn:aws:sts::111111111111:assumed-role/litellm-host"
    assert result["principal_set"].endswith("workloadIdentityPools/aws-hosts/attribute.aws_role/arn:aws:sts::111111111111:assumed-role/litellm-host")
    assert result["principal_set"].startswith("principalSet://iam.googleapis.com/projects/123456789012/")


def test_forged_credentials_are_reported_with_the_aws_error(emulator, tmp_path):
    result = run_module({"region": "us-east-1", "endpoint_url": emulator.base_url}, creds_env(AWS_SECRET_ACCESS_KEY="x" * 40), tmp_path)
    assert result["failed"]
    assert "GetCallerIdentity failed: 403 SignatureDoesNotMatch" in result["msg"]


def test_no_credentials_names_the_fix(emulator, tmp_path):
    result = run_module({"region": "us-east-1", "endpoint_url": emulator.base_url}, {}, tmp_path)
    assert result["failed"]
    assert "no AWS credentials found" in result["msg"]
    assert "hop limit" in result["msg"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"pool_id": "aws-hosts"}, "pool_id requires project_number"),
        ({"pool_id": "gcp-reserved", "project_number": "1"}, "must not start with 'gcp-'"),
        ({"pool_id": "x", "project_number": "1"}, "pool_id must be 4-32 characters"),
        ({"project_number": "my-project"}, "project_number must be the project's number"),
        ({"connect_timeout": 0}, "connect_timeout must be between 1 and 300"),
    ],
)
def test_bad_input_fails_before_any_call(emulator, tmp_path, args, message):
    before = _sts_calls(emulator)
    result = run_module({"region": "us-east-1", "endpoint_url": emulator.base_url, **args}, creds_env(), tmp_path)
    assert result["failed"]
    assert message in result["msg"]
    assert _sts_calls(emulator) == before


def _sts_calls(emulator):
    with urllib.request.urlopen(emulator.base_url + "/_emulator/stats", timeout=10) as answer:  # noqa: S310 - loopback emulator
        return json.load(answer)["totals"].get("all", 0)
