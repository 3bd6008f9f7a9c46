"""keyless.wif.aws_caller_info through ansible-playbook, against the emulator's AWS STS.

botocore resolves region and endpoint; each resolution path has a test that looks at where the
request really went: the Host header the loopback emulator received, or the CONNECT target the
loopback recording proxy saw (for real AWS names, which are never contacted).
"""

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from aws_harness import SECRET, LoggedEmulator, RecordingProxy
from wif_emulator.aws import mint_credentials

REPO = Path(__file__).resolve().parents[3]
_SAFETY = {}


@pytest.fixture(scope="module")
def emulator():
    emu = LoggedEmulator()
    yield emu
    emu.stop()


@pytest.fixture(scope="module")
def other_emulator():
    emu = LoggedEmulator()
    yield emu
    emu.stop()


@pytest.fixture
def proxy():
    recorder = RecordingProxy()
    yield recorder
    recorder.stop()


@pytest.fixture(autouse=True)
def _every_call_is_caught(proxy):
    """Any request not for loopback ends at the recording proxy (403), never on the network."""
    _SAFETY["proxy"] = proxy
    yield
    _SAFETY.clear()


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
        "HTTPS_PROXY": _SAFETY["proxy"].url,
        "HTTP_PROXY": _SAFETY["proxy"].url,
        "NO_PROXY": "127.0.0.1,localhost",
        **env_creds,
    }
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-c", "local", "-e", "ansible_python_interpreter=" + sys.executable, str(playbook)]
    if check:
        cmd.append("--check")
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, check=False)
    result_file = tmp_path / "result.json"
    assert result_file.exists(), proc.stdout + proc.stderr
    return json.loads(result_file.read_text())


def creds_env(partition="aws", **overrides):
    creds = mint_credentials(SECRET, "111111111111", "litellm-host", "i-0123456789abcdef0", 3600, partition=partition)
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
    assert result["partition"] == "aws"
    assert result["region"] == "us-east-1"
    assert result["endpoint_url"] == emulator.base_url


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


# --------------------------------------------------------------------------- where botocore sends it


def _host(emulator):
    return emulator.base_url.split("://", 1)[1]


def _scope_region(call):
    return call["authorization"].split("Credential=", 1)[1].split("/")[2]


def test_option_endpoint_wins_over_the_environment(emulator, other_emulator, tmp_path):
    before, other_before = len(emulator.sts_calls), len(other_emulator.sts_calls)
    result = run_module({"region": "eu-west-1", "endpoint_url": emulator.base_url},
                        creds_env(AWS_ENDPOINT_URL_STS=other_emulator.base_url, AWS_ENDPOINT_URL=other_emulator.base_url), tmp_path)
    assert not result.get("failed"), result
    assert len(other_emulator.sts_calls) == other_before
    call = emulator.sts_calls[before]
    assert call["host"] == _host(emulator)
    assert _scope_region(call) == "eu-west-1"
    assert (result["region"], result["endpoint_url"]) == ("eu-west-1", emulator.base_url)


def test_sts_endpoint_variable_is_used_when_no_option_is_given(emulator, other_emulator, tmp_path):
    before, other_before = len(emulator.sts_calls), len(other_emulator.sts_calls)
    result = run_module({}, creds_env(AWS_ENDPOINT_URL_STS=emulator.base_url, AWS_ENDPOINT_URL=other_emulator.base_url,
                                      AWS_DEFAULT_REGION="eu-central-1"), tmp_path)
    assert not result.get("failed"), result
    assert len(other_emulator.sts_calls) == other_before
    assert emulator.sts_calls[before]["host"] == _host(emulator)
    assert _scope_region(emulator.sts_calls[before]) == "eu-central-1"
    assert (result["region"], result["endpoint_url"]) == ("eu-central-1", emulator.base_url)


def test_generic_endpoint_variable_is_used_without_a_service_one(emulator, tmp_path):
    before = len(emulator.sts_calls)
    result = run_module({}, creds_env(AWS_ENDPOINT_URL=emulator.base_url, AWS_REGION="ap-south-1"), tmp_path)
    assert not result.get("failed"), result
    assert emulator.sts_calls[before]["host"] == _host(emulator)
    assert (result["region"], result["endpoint_url"]) == ("ap-south-1", emulator.base_url)


def test_profile_region_and_endpoint_in_the_shared_config(emulator, tmp_path):
    config = tmp_path / "aws-config"
    config.write_text("[profile cn]\nregion = cn-north-1\nservices = emu\n\n[services emu]\nsts =\n  endpoint_url = %s\n" % emulator.base_url)
    before = len(emulator.sts_calls)
    result = run_module({"project_number": "123456789012", "pool_id": "aws-hosts"},
                        creds_env(partition="aws-cn", AWS_CONFIG_FILE=str(config), AWS_PROFILE="cn"), tmp_path)
    assert not result.get("failed"), result
    assert emulator.sts_calls[before]["host"] == _host(emulator)
    assert _scope_region(emulator.sts_calls[before]) == "cn-north-1"
    assert result["region"] == "cn-north-1"
    assert result["endpoint_url"] == emulator.base_url
    assert result["partition"] == "aws-cn"
    assert result["arn"] == "arn:aws-cn:sts::111111111111:assumed-role/litellm-host/i-0123456789abcdef0"
    assert result["assumed_role_arn"] == "arn:aws-cn:sts::111111111111:assumed-role/litellm-host"
    assert result["iam_role_arn"] == "arn:aws-cn:iam::111111111111:role/litellm-host"
    assert result["principal_set"].endswith("/attribute.aws_role/arn:aws-cn:sts::111111111111:assumed-role/litellm-host")


@pytest.mark.parametrize(
    ("env", "target"),
    [
        # No region anywhere: botocore's own choice is the global endpoint (aws-global).
        ({}, "sts.amazonaws.com:443"),
        ({"AWS_DEFAULT_REGION": "cn-north-1"}, "sts.cn-north-1.amazonaws.com.cn:443"),
        ({"AWS_REGION": "us-gov-west-1", "AWS_DEFAULT_REGION": "eu-west-1"}, "sts.us-gov-west-1.amazonaws.com:443"),
        ({"AWS_DEFAULT_REGION": "us-east-1", "AWS_STS_REGIONAL_ENDPOINTS": "legacy"}, "sts.amazonaws.com:443"),
    ],
)
def test_default_resolution_is_botocores(proxy, tmp_path, env, target):
    result = run_module({"connect_timeout": 1}, creds_env(**env), tmp_path)
    assert result["failed"]  # the proxy refuses: nothing reaches AWS
    assert proxy.targets and set(proxy.targets) == {target}, proxy.targets


def test_cn_credentials_are_unknown_to_an_aws_region(emulator, tmp_path):
    result = run_module({"region": "us-east-1", "endpoint_url": emulator.base_url}, creds_env(partition="aws-cn"), tmp_path)
    assert result["failed"]
    assert "403 InvalidClientTokenId" in result["msg"]


@pytest.mark.parametrize(("partition", "region"), [("aws-cn", "cn-northwest-1"), ("aws-us-gov", "us-gov-west-1")])
def test_partition_callers_get_their_partitions_forms(emulator, tmp_path, partition, region):
    result = run_module({"region": region, "endpoint_url": emulator.base_url}, creds_env(partition=partition), tmp_path)
    assert not result.get("failed"), result
    assert result["partition"] == partition
    assert result["region"] == region
    assert result["assumed_role_arn"] == "arn:%s:sts::111111111111:assumed-role/litellm-host" % partition
