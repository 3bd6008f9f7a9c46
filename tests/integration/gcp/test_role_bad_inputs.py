"""Bad role variables fail naming the variable and the rule, before any change.

Every case includes the role inside a block whose rescue records the failed task and its
message; a case the role accepts reaches the marker task instead and fails the test.
gcp_federation runs for real against the emulator (a wrongly accepted input would write);
the host roles run in check mode on a local connection, so even a wrongly accepted input
cannot change this machine.
"""

from __future__ import annotations

import pytest

from .gcp_harness import AWS_ACCOUNT, PROJECT_ID, run_play

ARN = "arn:aws:iam::%s:role/wif-bound-role" % AWS_ACCOUNT
FED_BASE = {"gcp_federation_project": PROJECT_ID, "gcp_federation_pool_id": "bad-inputs",
            "gcp_federation_aws_role_arns": [ARN]}
MAPPING = {"google.subject": "assertion.arn", "attribute.aws_role": "assertion.arn"}
AUDIENCE = ("//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/aws-pool"
            "/providers/aws-provider")
EMAIL = "litellm-vertex@wif-sandbox.iam.gserviceaccount.com"
EA_BASE = {"external_account_audience": AUDIENCE, "external_account_service_account_email": EMAIL}
EX = dict(EA_BASE, external_account_mode="explicit", external_account_aws_region_name="us-east-1")
KEY = "sk-" + "k" * 40
MODEL = {"name": "gemini", "model": "vertex_ai/gemini-2.5-flash", "vertex_project": PROJECT_ID,
         "vertex_location": "us-central1"}
LP_BASE = {"litellm_proxy_master_key": KEY, "litellm_proxy_models": [MODEL]}
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def model(**change):
    return [dict(MODEL, **change)]


# (role, variables, text the message must contain: the variable, and the rule)
FEDERATION = [
    ({"gcp_federation_pool_id": "aws-pool\n"}, ["gcp_federation_pool_id", "one line"]),
    ({"gcp_federation_pool_id": "abc"}, ["gcp_federation_pool_id", "4-32"]),
    ({"gcp_federation_pool_id": "gcp-pool"}, ["gcp_federation_pool_id", "reserved prefix"]),
    ({"gcp_federation_provider_id": "AWS-provider"}, ["gcp_federation_provider_id", "[a-z0-9-]"]),
    ({"gcp_federation_provider_id": "aws"}, ["gcp_federation_provider_id", "4-32"]),
    ({"gcp_federation_project": "Bad_Project"}, ["gcp_federation_project", "project ID"]),
    ({"gcp_federation_project": "wif-sandbox\n"}, ["gcp_federation_project", "one line"]),
    ({"gcp_federation_project": ""}, ["gcp_federation_project", "required"]),
    ({"gcp_federation_service_account_id": "short"}, ["gcp_federation_service_account_id", "6-30"]),
    ({"gcp_federation_service_account_id": "litellm_vertex"}, ["gcp_federation_service_account_id", "[a-z]"]),
    ({"gcp_federation_service_account_display_name": "\u00e9" * 51},
     ["gcp_federation_service_account_display_name", "at most 100 UTF-8 bytes"]),
    ({"gcp_federation_service_account_display_name": "d" * 101},
     ["gcp_federation_service_account_display_name", "at most 100 UTF-8 bytes"]),
    ({"gcp_federation_service_account_description": "\u00fc" * 129},
     ["gcp_federation_service_account_description", "at most 256 UTF-8 bytes"]),
    ({"gcp_federation_pool_display_name": "d" * 33}, ["gcp_federation_pool_display_name", "at most 32"]),
    ({"gcp_federation_provider_display_name": "d" * 33}, ["gcp_federation_provider_display_name", "at most 32"]),
    ({"gcp_federation_provider_description": "d" * 257}, ["gcp_federation_provider_description", "at most 256"]),
    ({"gcp_federation_vertex_roles": ["aiplatform.user"]}, ["gcp_federation_vertex_roles[0]", "roles/NAME"]),
    ({"gcp_federation_vertex_roles": ["roles/aiplatform.user\n"]}, ["gcp_federation_vertex_roles[0]", "roles/NAME"]),
    ({"gcp_federation_services": ["aiplatform"]}, ["gcp_federation_services[0]", "aiplatform.googleapis.com"]),
    ({"gcp_federation_services": ["iam.googleapis.com\n"]}, ["gcp_federation_services[0]", "full service name"]),
    ({"gcp_federation_services": []}, ["gcp_federation_services", "at least one"]),
    ({"gcp_federation_manage_services": "maybe"}, ["gcp_federation_manage_services", "boolean"]),
    ({"gcp_federation_restrict_to_roles": "sometimes"}, ["gcp_federation_restrict_to_roles", "boolean"]),
    ({"gcp_federation_attribute_condition": "assertion.arn == 'x"}, ["gcp_federation_attribute_condition", "CEL"]),
    ({"gcp_federation_attribute_condition": "(assertion.arn.startsWith('a')"},
     ["gcp_federation_attribute_condition", "CEL"]),
    ({"gcp_federation_attribute_condition": "assertion.arn.startsWith('a') &&"},
     ["gcp_federation_attribute_condition", "CEL"]),
    ({"gcp_federation_attribute_condition": "assertion.arn.startsWith('a') assertion.arn"},
     ["gcp_federation_attribute_condition", "CEL"]),
    ({"gcp_federation_attribute_condition": "assertoin.arn == 'x'"},
     ["gcp_federation_attribute_condition", "assertoin"]),
    ({"gcp_federation_attribute_condition": "true && " * 600 + "true"},
     ["gcp_federation_attribute_condition", "at most 4096"]),
    ({"gcp_federation_attribute_mapping": {"attribute.aws_role": "assertion.arn"}},
     ["gcp_federation_attribute_mapping", "google.subject"]),
    ({"gcp_federation_attribute_mapping": {"google.subject": "assertion.arn"}},
     ["gcp_federation_attribute_mapping", "attribute.aws_role"]),
    ({"gcp_federation_attribute_mapping": dict(MAPPING, **{"attribute.aws_role": "assertion.arn +"})},
     ["gcp_federation_attribute_mapping[attribute.aws_role]", "CEL"]),
    ({"gcp_federation_attribute_mapping": dict(MAPPING, **{"Attribute.Role": "assertion.arn"})},
     ["gcp_federation_attribute_mapping[Attribute.Role]", "key must be"]),
    ({"gcp_federation_attribute_mapping": dict(MAPPING, **{"google.subject": "attribute.x"})},
     ["gcp_federation_attribute_mapping[google.subject]", "attribute"]),
    ({"gcp_federation_aws_role_arns": ["arn:aws:iam::%s:user/bob" % AWS_ACCOUNT]},
     ["gcp_federation_aws_role_arns[0]", "IAM user"]),
    ({"gcp_federation_aws_role_arns": ["arn:aws:iam::%s:root" % AWS_ACCOUNT]},
     ["gcp_federation_aws_role_arns[0]", "root user"]),
    ({"gcp_federation_aws_role_arns": ["arn:aws:sts::%s:federated-user/bob" % AWS_ACCOUNT]},
     ["gcp_federation_aws_role_arns[0]", "federated user"]),
    ({"gcp_federation_aws_role_arns": ["arn:aws:sts::%s:assumed-role/r/s/extra" % AWS_ACCOUNT]},
     ["gcp_federation_aws_role_arns[0]", "assumed-role/ROLE"]),
    ({"gcp_federation_aws_role_arns": ["arn:aws:sts::%s:assumed-role/r/s p" % AWS_ACCOUNT]},
     ["gcp_federation_aws_role_arns[0]", "session name"]),
    ({"gcp_federation_aws_role_arns": ["arn:aws:iam::%s:role/r\u00f4le" % AWS_ACCOUNT]},
     ["gcp_federation_aws_role_arns[0]", "invalid role name"]),
    ({"gcp_federation_aws_role_arns": [ARN + "\n"]}, ["gcp_federation_aws_role_arns[0]", "ARN of the form"]),
    ({"gcp_federation_aws_role_arns": ["arn:aws:iam::12345:role/x"]}, ["gcp_federation_aws_role_arns[0]", "12 digits"]),
    ({"gcp_federation_aws_role_arns": ["arn:aws:iam:us-east-1:%s:role/x" % AWS_ACCOUNT]},
     ["gcp_federation_aws_role_arns[0]", "region"]),
    ({"gcp_federation_aws_role_arns": ["arn:aws:s3:::bucket"]}, ["gcp_federation_aws_role_arns[0]", "ACCOUNT_ID"]),
    # Several accounts are admitted (one provider each), but not past an account the user pinned.
    ({"gcp_federation_aws_role_arns": [ARN, "arn:aws:iam::222222222222:role/x"], "gcp_federation_aws_account_id": AWS_ACCOUNT},
     ["gcp_federation_aws_role_arns", "must all belong to gcp_federation_aws_account_id"]),
    ({"gcp_federation_aws_role_arns": [ARN, "arn:aws:iam::222222222222:role/x"], "gcp_federation_aws_account_ids": [AWS_ACCOUNT]},
     ["gcp_federation_aws_role_arns[1]", "does not list"]),
    ({"gcp_federation_aws_role_arns": [123]}, ["gcp_federation_aws_role_arns[0]", "string"]),
    ({"gcp_federation_aws_role_arns": {"arn": ARN}}, ["gcp_federation_aws_role_arns", "list"]),
    ({"gcp_federation_aws_role_arns": []}, ["gcp_federation_aws_role_arns", "is empty"]),
    ({"gcp_federation_aws_account_id": 12345}, ["gcp_federation_aws_account_id", "12-digit"]),
    ({"gcp_federation_aws_account_id": "222222222222"}, ["gcp_federation_aws_role_arns", "must all belong"]),
    ({"gcp_federation_aws_account_id": "11111111111a"}, ["gcp_federation_aws_account_id", "12-digit"]),
    ({"gcp_federation_aws_account_id": AWS_ACCOUNT + "\n"}, ["gcp_federation_aws_account_id", "one line"]),
    ({"gcp_federation_state": "deleted"}, ["gcp_federation_state", "present, absent"]),
]

EXTERNAL_ACCOUNT = [
    ({"external_account_audience": ""}, ["external_account_audience", "required"]),
    ({"external_account_audience": AUDIENCE.replace("123456789012", "my-project")},
     ["external_account_audience", "project NUMBER"]),
    ({"external_account_audience": AUDIENCE + "\n"}, ["external_account_audience", "one line"]),
    ({"external_account_audience": AUDIENCE.replace("aws-pool", "gcp-pool")}, ["external_account_audience", "4-32"]),
    ({"external_account_audience": AUDIENCE.replace("//iam", "https://iam")}, ["external_account_audience", "//iam"]),
    ({"external_account_service_account_email": "bob@example.com"},
     ["external_account_service_account_email", "service-account e-mail"]),
    ({"external_account_service_account_email": EMAIL + "\n"}, ["external_account_service_account_email", "one line"]),
    ({"external_account_token_url": "sts.googleapis.com/v1/token"}, ["external_account_token_url", "URL"]),
    ({"external_account_token_url": "http://"}, ["external_account_token_url", "must name a host"]),
    ({"external_account_iamcredentials_url": "https://exa mple.com"},
     ["external_account_iamcredentials_url", "white space"]),
    ({"external_account_region_url": "ftp://169.254.169.254/latest"}, ["external_account_region_url", "URL"]),
    ({"external_account_credentials_url": ""}, ["external_account_credentials_url", "required"]),
    ({"external_account_regional_cred_verification_url": "https://sts.us-east-1.amazonaws.com"},
     ["external_account_regional_cred_verification_url", "{region}"]),
    ({"external_account_aws_partition": "aws-mars"}, ["external_account_aws_partition", "aws-us-gov"]),
    ({"external_account_service_account_impersonation_url": "https://iamcredentials.googleapis.com/v1/x"},
     ["external_account_service_account_impersonation_url", "generateAccessToken"]),
    ({"external_account_environment_id": "aws2"}, ["external_account_environment_id", "aws1"]),
    ({"external_account_mode": "fargate"}, ["external_account_mode", "ec2, explicit"]),
    ({"external_account_state": "gone"}, ["external_account_state", "present, absent"]),
    (dict(EX, external_account_aws_region_name="us-east-1\n"), ["external_account_aws_region_name", "one line"]),
    (dict(EX, external_account_aws_region_name="useast1"), ["external_account_aws_region_name", "AWS region"]),
    (dict(EX, external_account_aws_region_name=""), ["external_account_aws_region_name", "required"]),
    ({"external_account_aws_region_name": "us-east-1"}, ["external_account_aws_region_name", "mode is ec2"]),
    (dict(EX, external_account_aws_web_identity_token="eyJ0"), ["external_account_aws_web_identity_token", "needs"]),
    (dict(EX, external_account_aws_access_key_id="AKIAEXAMPLE"),
     ["external_account_aws_secret_access_key", "go together"]),
    (dict(EX, external_account_aws_session_token="FQoGZXIvYXdzEXAMPLE"),
     ["external_account_aws_session_token", "needs"]),
    (dict(EX, external_account_aws_role_name="litellm-host"), ["external_account_aws_role_name", "role ARN"]),
    (dict(EX, external_account_aws_role_name="arn:aws:iam::%s:user/bob" % AWS_ACCOUNT),
     ["external_account_aws_role_name", "IAM role ARN"]),
    (dict(EX, external_account_aws_role_name=ARN, external_account_aws_session_name="s",
          external_account_aws_web_identity_token="os.environ/TOKEN"),
     ["external_account_aws_web_identity_token", "token itself"]),
    (dict(EX, external_account_aws_sts_endpoint="sts.amazonaws.com"), ["external_account_aws_sts_endpoint", "URL"]),
    (dict(EX, external_account_aws_access_key_id="AKIAEXAMPLE", external_account_aws_secret_access_key=SECRET + "\n"),
     ["external_account_aws_secret_access_key", "value not shown"]),
    ({"external_account_path": "/etc/gcp.json"}, ["external_account_path", "directory of its own"]),
    ({"external_account_path": "/var/gcp.json"}, ["external_account_path", "directory of its own"]),
    ({"external_account_path": "/gcp.json"}, ["external_account_path", "directory of its own"]),
    ({"external_account_path": "/litellm/gcp.json"}, ["external_account_path", "directory of its own"]),
    ({"external_account_path": "gcp.json"}, ["external_account_path", "absolute"]),
    ({"external_account_path": "/etc/litellm/../gcp.json"}, ["external_account_path", "normalised"]),
    ({"external_account_path": "/etc/gcp.json", "external_account_state": "absent"},
     ["external_account_path", "directory of its own"]),
    ({"external_account_file_mode": "0644"}, ["external_account_file_mode", "others"]),
    ({"external_account_file_mode": "640"}, ["external_account_file_mode", "octal"]),
    ({"external_account_directory_mode": "750"}, ["external_account_directory_mode", "octal"]),
    ({"external_account_owner": "Root User"}, ["external_account_owner", "user or group name"]),
    ({"external_account_group": ""}, ["external_account_group", "required"]),
    ({"external_account_validate_python": "python3"}, ["external_account_validate_python", "absolute"]),
    ({"external_account_create_group": "perhaps"}, ["external_account_create_group", "boolean"]),
]

LITELLM_PROXY = [
    ({"litellm_proxy_master_key": None}, ["litellm_proxy_master_key", "sk-"]),
    ({"litellm_proxy_master_key": "sk-1234"}, ["litellm_proxy_master_key", "publicly"]),
    ({"litellm_proxy_master_key": KEY + "\n"}, ["litellm_proxy_master_key", "not shown"]),
    ({"litellm_proxy_master_key": "short"}, ["litellm_proxy_master_key", "at least 32"]),
    ({"litellm_proxy_models": []}, ["litellm_proxy_models", "non-empty list"]),
    # The argument spec (elements: dict, options) answers these first, in Ansible's words.
    ({"litellm_proxy_models": "gemini"}, ["_models", "unable to convert to dict"]),
    ({"litellm_proxy_models": model(model="gemini/gemini-2.5-flash")}, ["litellm_proxy_models[0].model", "gemini/"]),
    ({"litellm_proxy_models": model(model="openai/gpt-4o")}, ["litellm_proxy_models[0].model", "vertex_ai/MODEL"]),
    ({"litellm_proxy_models": model(vertex_project="wif-sandbox\n")},
     ["litellm_proxy_models[0].vertex_project", "one line"]),
    ({"litellm_proxy_models": model(vertex_project="Bad_Project")},
     ["litellm_proxy_models[0].vertex_project", "project ID"]),
    ({"litellm_proxy_models": model(vertex_location="mars-1")}, ["litellm_proxy_models[0].vertex_location", "region"]),
    ({"litellm_proxy_models": model(api_base="localhost:8080")}, ["litellm_proxy_models[0].api_base", "URL"]),
    ({"litellm_proxy_models": [MODEL, MODEL]}, ["litellm_proxy_models[1]", "same deployment as litellm_proxy_models[0]"]),
    ({"litellm_proxy_models": model(temperature=0)}, ["litellm_proxy_models.temperature", "Supported parameters"]),
    ({"litellm_proxy_models": model(name="")}, ["litellm_proxy_models[0].name", "required"]),
    ({"litellm_proxy_models": ["gemini"]}, ["_models", "unable to convert to dict"]),
    ({"litellm_proxy_models": model(vertex_credentials="creds.json")},
     ["litellm_proxy_models[0].vertex_credentials", "absolute"]),
    ({"litellm_proxy_listen_address": "999.1.1.1"}, ["litellm_proxy_listen_address", "IPv4 or IPv6"]),
    ({"litellm_proxy_listen_address": ":::"}, ["litellm_proxy_listen_address", "IPv4 or IPv6"]),
    ({"litellm_proxy_listen_address": "localhost"}, ["litellm_proxy_listen_address", "IPv4 or IPv6"]),
    ({"litellm_proxy_listen_address": "127.0.0.1\n"}, ["litellm_proxy_listen_address", "one line"]),
    ({"litellm_proxy_port": 0}, ["litellm_proxy_port", "at least 1"]),
    ({"litellm_proxy_port": 70000}, ["litellm_proxy_port", "at most 65535"]),
    ({"litellm_proxy_num_workers": 0}, ["litellm_proxy_num_workers", "at least 1"]),
    ({"litellm_proxy_readiness_timeout": 5}, ["litellm_proxy_readiness_timeout", "at least 10"]),
    ({"litellm_proxy_environment": {"BAD KEY": "x"}}, ["litellm_proxy_environment", "environment variable name"]),
    ({"litellm_proxy_environment": {"LITELLM_MASTER_KEY": KEY}}, ["litellm_proxy_environment", "LITELLM_MASTER_KEY"]),
    ({"litellm_proxy_environment": {"A": "x\nB=y"}}, ["litellm_proxy_environment[A]", "one line"]),
    ({"litellm_proxy_environment": {"A": {"x": 1}}}, ["litellm_proxy_environment[A]", "string, number or boolean"]),
    ({"litellm_proxy_ip_address_allow": ["10.0.0.0/33"]}, ["litellm_proxy_ip_address_allow[0]", "CIDR"]),
    ({"litellm_proxy_ip_address_allow": ["example.com"]}, ["litellm_proxy_ip_address_allow[0]", "CIDR"]),
    ({"litellm_proxy_memory_max": "1 GB"}, ["litellm_proxy_memory_max", "systemd size"]),
    ({"litellm_proxy_memory_max": "lots"}, ["litellm_proxy_memory_max", "systemd size"]),
    ({"litellm_proxy_tasks_max": 0}, ["litellm_proxy_tasks_max", "at least 16"]),
    ({"litellm_proxy_wheelhouse": "/opt/wheelhouse", "litellm_proxy_pip_index_url": "https://pypi.example/simple"},
     ["litellm_proxy_pip_index_url", "at most one"]),
    ({"litellm_proxy_wheelhouse": "wheels"}, ["litellm_proxy_wheelhouse", "absolute"]),
    ({"litellm_proxy_pip_index_url": "pypi.example/simple"}, ["litellm_proxy_pip_index_url", "URL"]),
    ({"litellm_proxy_packages": ["litellm==1.108.14\n--index-url http://pypi.example"]},
     ["litellm_proxy_packages[0]", "one line"]),
    ({"litellm_proxy_packages": [""]}, ["litellm_proxy_packages[0]", "required"]),
    ({"litellm_proxy_venv": "/opt"}, ["litellm_proxy_venv", "directory of its own"]),
    ({"litellm_proxy_venv": "/"}, ["litellm_proxy_venv", "directory of its own"]),
    ({"litellm_proxy_home": "/var/lib"}, ["litellm_proxy_home", "directory of its own"]),
    ({"litellm_proxy_home": "/var"}, ["litellm_proxy_home", "directory of its own"]),
    ({"litellm_proxy_config_dir": "/etc"}, ["litellm_proxy_config_dir", "directory of its own"]),
    ({"litellm_proxy_config_dir": "etc/litellm"}, ["litellm_proxy_config_dir", "absolute"]),
    ({"litellm_proxy_config_dir": "/etc/litellm/"}, ["litellm_proxy_config_dir", "normalised"]),
    ({"litellm_proxy_venv": "/usr", "litellm_proxy_state": "absent"}, ["litellm_proxy_venv", "directory of its own"]),
    ({"litellm_proxy_home": "/etc", "litellm_proxy_state": "absent"}, ["litellm_proxy_home", "directory of its own"]),
    ({"litellm_proxy_service_name": "litellm proxy"}, ["litellm_proxy_service_name", "unit name"]),
    ({"litellm_proxy_service_name": "../x"}, ["litellm_proxy_service_name", "unit name"]),
    ({"litellm_proxy_user": "Lite LLM"}, ["litellm_proxy_user", "user or group name"]),
    ({"litellm_proxy_group": "-x"}, ["litellm_proxy_group", "user or group name"]),
    ({"litellm_proxy_python": "python3"}, ["litellm_proxy_python", "absolute"]),
    ({"litellm_proxy_state": "stopped"}, ["litellm_proxy_state", "present, absent"]),
    ({"litellm_proxy_general_settings": {"master_key": KEY}}, ["litellm_proxy_general_settings", "master_key"]),
    ({"litellm_proxy_vertex_credentials": "gcp.json"}, ["litellm_proxy_vertex_credentials", "absolute"]),
    ({"litellm_proxy_requirements_file": "req.txt"}, ["litellm_proxy_requirements_file", "absolute"]),
    # What LiteLLM is given, after extra_params: the rules the host-side validator applied to the rendered file.
    ({"litellm_proxy_models": model(extra_params={"model": "openai/gpt-4o"})}, ["litellm_proxy_models[0]", "vertex_ai/"]),
    ({"litellm_proxy_models": [MODEL, dict(MODEL, name="b", extra_params={"vertex_credentials": ""})]},
     ["litellm_proxy_models[1]", "vertex_credentials"]),
]

VERIFY = [
    ({"verify_expect": "OK"}, ["verify_expect", "diagnosis code"]),
    ({"verify_expect": "binding missing"}, ["verify_expect", "diagnosis code"]),
    ({"verify_expect": "ok\n"}, ["verify_expect", "one line"]),
    ({"verify_credentials_path": "gcp.json"}, ["verify_credentials_path", "absolute"]),
    ({"verify_python": "python"}, ["verify_python", "absolute"]),
    ({"verify_environment_file": "litellm.env"}, ["verify_environment_file", "absolute"]),
    ({"verify_service": "litellm proxy"}, ["verify_service", "systemd unit name"]),
    ({"verify_service": "../litellm-proxy"}, ["verify_service", "systemd unit name"]),
    ({"verify_service": ".hidden"}, ["verify_service", "not starting with a dot"]),
    ({"verify_service": "litellm-proxy\n"}, ["verify_service", "one line"]),
    ({"verify_check_timeout": 0}, ["verify_check_timeout", "positive"]),
    ({"verify_metadata_timeout": -1}, ["verify_metadata_timeout", "positive"]),
    ({"verify_master_key": ""}, ["verify_master_key", "must be set"]),
    ({"verify_proxy_url": "localhost:4000"}, ["verify_proxy_url", "URL"]),
    ({"verify_model": ""}, ["verify_model", "required"]),
    ({"verify_max_tokens": 0}, ["verify_max_tokens", "at least 1"]),
    ({"verify_completion_timeout": 0}, ["verify_completion_timeout", "at least 1"]),
    ({"verify_prompt": ""}, ["verify_prompt", "required"]),
]
VERIFY_BASE = {"verify_master_key": KEY, "verify_model": "gemini"}

CASES = ([("gcp_federation", dict(FED_BASE, **v), n) for v, n in FEDERATION]
         + [("external_account", dict(EA_BASE, **v), n) for v, n in EXTERNAL_ACCOUNT]
         + [("litellm_proxy", dict(LP_BASE, **v), n) for v, n in LITELLM_PROXY]
         + [("verify", dict(VERIFY_BASE, **v), n) for v, n in VERIFY])


def case_task(index, role, variables):
    return {
        "name": "block %d" % index,
        "block": [
            {"name": "include %d" % index, "ansible.builtin.include_role": {"name": "keyless.wif." + role},
             "vars": variables},
            {"name": "ACCEPTED %d" % index, "ansible.builtin.fail": {"msg": "the role accepted the input"}},
        ],
        "rescue": [
            {"name": "case %d" % index, "ansible.builtin.debug": {
                "msg": {"task": "{{ ansible_failed_task.name }}", "msg": "{{ ansible_failed_result.msg | default('') }}"}}},
        ],
    }


def test_table_is_big_enough():
    from .test_bad_inputs import CASES as MODULE_CASES

    assert len(CASES) + len(MODULE_CASES) >= 150
    assert {c[0] for c in CASES} == {"gcp_federation", "external_account", "litellm_proxy", "verify"}


@pytest.fixture(scope="module")
def outcome(emulator, tmp_path_factory):
    emulator.reset()
    google = [case_task(i, role, v) for i, (role, v, _unused) in enumerate(CASES) if role == "gcp_federation"]
    hosts = [case_task(i, role, v) for i, (role, v, _unused) in enumerate(CASES) if role != "gcp_federation"]
    first = run_play(emulator, tmp_path_factory.mktemp("roles"), google, lanes=2, timeout=600)
    # Host roles in check mode: a wrongly accepted input still changes nothing on this machine.
    second = run_play(emulator, tmp_path_factory.mktemp("hosts"), hosts, lanes=2, timeout=600,
                      extra_args=("--check",))
    return first, second, emulator.writes()


@pytest.mark.parametrize("index", range(len(CASES)))
def test_bad_role_input(outcome, index):
    role, variables, needles = CASES[index]
    result = outcome[0] if role == "gcp_federation" else outcome[1]
    rec = result["case %d" % index]["result"]["msg"]
    assert not rec["task"].startswith("ACCEPTED"), (role, variables)
    for needle in needles:
        assert needle in rec["msg"], (needle, rec["msg"])
    assert "Traceback" not in rec["msg"]
    assert SECRET not in rec["msg"] and KEY not in rec["msg"]


def test_no_role_case_wrote_anything(outcome):
    assert outcome[2] == []
