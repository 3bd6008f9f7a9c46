# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Input rules of the host roles (external_account, litellm_proxy, verify).

Each ``check_*`` takes the role's variables keyed by their full names, raises
ValidationError naming the variable and the rule, and returns the checked values.
They run on the controller before the role changes anything on the host. Secret
values are never put into a message.
"""

from __future__ import annotations

import re

from ansible_collections.keyless.wif.plugins.module_utils import inputs
from ansible_collections.keyless.wif.plugins.module_utils.wif import names
from ansible_collections.keyless.wif.plugins.module_utils.wif.external_account import LITELLM_AWS_KEYS, SECRET_AWS_KEYS
from ansible_collections.keyless.wif.plugins.module_utils.wif.names import REGION_RE, ArnError, role_identity
from ansible_collections.keyless.wif.plugins.module_utils.wif.validate import (
    WIF_ID_RE,
    ValidationError,
    check_project,
    check_url,
)

SA_EMAIL_RE = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]@[a-z0-9.-]+\.gserviceaccount\.com")
AUDIENCE_PROJECT_NUMBER_RE = re.compile(r"[0-9]{6,20}")
MASTER_KEY_RE = re.compile(r"sk-[A-Za-z0-9_-]{32,}")
PUBLIC_MASTER_KEYS = ("sk-1234",)
VERTEX_LOCATION_RE = re.compile(r"global|[a-z]+-[a-z]+[0-9]+")
DIAGNOSIS_RE = re.compile(r"ok|[a-z][a-z_]*[a-z]")


def check_external_account(variables):
    var, field = inputs.prefixed(variables, "external_account_")
    state = inputs.choice(field("state"), var("state"), ("present", "absent"))
    inputs.owned_file(field("path"), var("path"))
    if state == "absent":
        return {"state": state}
    mode = inputs.choice(field("mode"), var("mode"), ("ec2", "explicit"))
    audience = inputs.text(field("audience"), var("audience"), required=True)
    parts = names.parse_audience(audience)
    if not parts or not AUDIENCE_PROJECT_NUMBER_RE.fullmatch(parts["project"]) or not all(
            WIF_ID_RE.fullmatch(parts[k]) and not parts[k].startswith("gcp-") for k in ("pool", "provider")):
        raise ValidationError(field("audience"), "must be //iam.googleapis.com/projects/PROJECT_NUMBER/locations/global/"
                                                 "workloadIdentityPools/POOL/providers/PROVIDER with the project NUMBER "
                                                 "and pool/provider IDs of 4-32 characters [a-z0-9-]", audience)
    email = inputs.text(field("service_account_email"), var("service_account_email"))
    if email and not SA_EMAIL_RE.fullmatch(email):
        raise ValidationError(field("service_account_email"), "must be a service-account e-mail such as "
                                                              "NAME@PROJECT_ID.iam.gserviceaccount.com, or empty for no "
                                                              "impersonation", email)
    urls = ["token_url", "iamcredentials_url"]
    if email:
        urls.append("service_account_impersonation_url")
    if mode == "ec2":
        urls += ["region_url", "credentials_url"]
        if var("imdsv2_session_token_url"):
            urls.append("imdsv2_session_token_url")
    for name in urls:
        check_url(field(name), inputs.text(field(name), var(name), required=True))
    if email and names.impersonated_email(var("service_account_impersonation_url")) is None:
        raise ValidationError(field("service_account_impersonation_url"), "must end in "
                              "/v1/projects/-/serviceAccounts/EMAIL:generateAccessToken",
                              var("service_account_impersonation_url"))
    if var("environment_id") != "aws1":
        raise ValidationError(field("environment_id"), "must be aws1 (the only version google-auth supports)",
                              var("environment_id"))
    verification = inputs.text(field("regional_cred_verification_url"), var("regional_cred_verification_url"))
    if mode == "ec2":
        if "{region}" not in verification:
            raise ValidationError(field("regional_cred_verification_url"), "must contain the literal {region} "
                                  "placeholder that google-auth fills in", verification)
        # The query (?Action=GetCallerIdentity&Version=...) is part of what google-auth signs.
        check_url(field("regional_cred_verification_url"), verification.replace("{region}", "us-east-1").split("?")[0])
    aws = {name: var(name) for name in LITELLM_AWS_KEYS}
    for name, value in aws.items():
        if value in (None, ""):
            continue
        if name in SECRET_AWS_KEYS:
            inputs.hidden_line(field(name), value)
        else:
            inputs.text(field(name), value)
    given = [name for name, value in aws.items() if value]
    if mode == "ec2" and given:
        raise ValidationError(", ".join(field(n) for n in given), "are set but external_account_mode is ec2: LiteLLM "
                              "switches to explicit AWS auth whenever any aws_* key is present. Set "
                              "external_account_mode: explicit, or clear them")
    if mode == "explicit":
        _check_explicit(field, aws)
    inputs.posix_name(field("owner"), var("owner"))
    inputs.posix_name(field("group"), var("group"))
    mode_file = inputs.octal_mode(field("mode_file"), var("mode_file"))
    inputs.octal_mode(field("mode_dir"), var("mode_dir"))
    if int(mode_file, 8) & 0o007:
        raise ValidationError(field("mode_file"), "must not give others any access (last digit 0)", mode_file)
    inputs.absolute_path(field("validate_python"), var("validate_python"))
    inputs.boolean(field("create_group"), var("create_group"))
    return {"state": state, "mode": mode, "aws_keys": given}


def _check_explicit(field, aws):
    region = aws["aws_region_name"] or ""
    if not REGION_RE.fullmatch(region):
        raise ValidationError(field("aws_region_name"), "is required in explicit mode and must be an AWS region such "
                                                        "as us-east-1 (LiteLLM refuses the JSON without it)", region)
    if aws["aws_role_name"]:
        try:
            identity = role_identity(aws["aws_role_name"], field("aws_role_name"))
        except ArnError as exc:
            raise ValidationError(field("aws_role_name"), "must be a role ARN: %s" % exc) from None
        if identity["kind"] != "role":
            raise ValidationError(field("aws_role_name"), "must be an IAM role ARN (arn:aws:iam::ACCOUNT_ID:role/NAME)",
                                  aws["aws_role_name"])
    if aws["aws_web_identity_token"]:
        if not (aws["aws_role_name"] and aws["aws_session_name"]):
            raise ValidationError(field("aws_web_identity_token"), "needs external_account_aws_role_name and "
                                                                   "external_account_aws_session_name")
        if aws["aws_web_identity_token"].startswith("os.environ/"):
            raise ValidationError(field("aws_web_identity_token"), "must be the token itself: LiteLLM 1.108 refuses "
                                                                   "os.environ/ references there")
    if bool(aws["aws_access_key_id"]) != bool(aws["aws_secret_access_key"]):
        raise ValidationError("external_account_aws_access_key_id, external_account_aws_secret_access_key",
                              "go together: set both or neither")
    if aws["aws_session_token"] and not aws["aws_access_key_id"]:
        raise ValidationError(field("aws_session_token"), "needs external_account_aws_access_key_id and "
                                                          "external_account_aws_secret_access_key")
    if aws["aws_sts_endpoint"]:
        check_url(field("aws_sts_endpoint"), aws["aws_sts_endpoint"])


def check_litellm_proxy(variables):
    var, field = inputs.prefixed(variables, "litellm_proxy_")
    state = inputs.choice(field("state"), var("state"), ("present", "absent"))
    # Removed on state=absent, so checked in both states.
    for name in ("venv", "home", "config_dir"):
        inputs.owned_dir(field(name), var(name))
    service = inputs.text(field("service_name"), var("service_name"), required=True)
    if not inputs.UNIT_NAME_RE.fullmatch(service) or service.startswith("."):
        raise ValidationError(field("service_name"), "must be a systemd unit name without .service "
                                                     "([A-Za-z0-9:_.@-], not starting with a dot)", service)
    inputs.posix_name(field("user"), var("user"))
    inputs.posix_name(field("group"), var("group"))
    inputs.boolean(field("remove_user"), var("remove_user"))
    if state == "absent":
        return {"state": state}

    key = var("master_key")
    if not isinstance(key, str) or not MASTER_KEY_RE.fullmatch(key) or key in PUBLIC_MASTER_KEYS:
        raise ValidationError(field("master_key"), 'must be "sk-" followed by at least 32 characters of '
                              '[A-Za-z0-9_-] (LiteLLM only accepts keys starting with sk- and refuses unset or publicly '
                              'known keys); generate one with: echo "sk-$(openssl rand -hex 32)". The value is not shown')
    inputs.absolute_path(field("vertex_credentials"), var("vertex_credentials"))
    _check_models(field, var("models"), var("vertex_credentials"))
    inputs.ip_address(field("listen_address"), var("listen_address"))
    inputs.integer(field("port"), var("port"), 1, 65535)
    inputs.integer(field("num_workers"), var("num_workers"), 1, 64)
    inputs.integer(field("readiness_timeout"), var("readiness_timeout"), 10, 3600)
    inputs.integer(field("tasks_max"), var("tasks_max"), 16)
    inputs.systemd_size(field("memory_max"), var("memory_max"))
    environment = inputs.mapping(field("environment"), var("environment"))
    for name, value in environment.items():
        inputs.env_name("%s key" % field("environment"), name)
        if name == "LITELLM_MASTER_KEY":
            raise ValidationError(field("environment"), "must not set LITELLM_MASTER_KEY (use litellm_proxy_master_key)")
        if isinstance(value, (dict, list)) or value is None:
            raise ValidationError("%s[%s]" % (field("environment"), name), "must be a string, number or boolean")
        inputs.hidden_line("%s[%s]" % (field("environment"), name), str(value),
                           ": an EnvironmentFile value cannot hold one")
    for index, cidr in enumerate(inputs.string_list(field("ip_address_allow"), var("ip_address_allow"))):
        inputs.ip_network("%s[%d]" % (field("ip_address_allow"), index), cidr)
    wheelhouse = inputs.text(field("wheelhouse"), var("wheelhouse"))
    index_url = inputs.text(field("pip_index_url"), var("pip_index_url"))
    if wheelhouse and index_url:
        raise ValidationError("litellm_proxy_wheelhouse, litellm_proxy_pip_index_url", "set at most one of them")
    if wheelhouse:
        inputs.absolute_path(field("wheelhouse"), wheelhouse)
    if index_url:
        check_url(field("pip_index_url"), index_url)
    if var("requirements_file"):
        inputs.absolute_path(field("requirements_file"), var("requirements_file"))
    if not inputs.string_list(field("packages"), var("packages")):
        raise ValidationError(field("packages"), "must not be empty")
    inputs.absolute_path(field("python"), var("python"))
    inputs.text(field("pip_extra_args"), var("pip_extra_args"))
    inputs.mapping(field("litellm_settings"), var("litellm_settings"))
    if "master_key" in inputs.mapping(field("general_settings"), var("general_settings")):
        raise ValidationError(field("general_settings"), "must not set master_key (use litellm_proxy_master_key)")
    inputs.boolean(field("validate_config"), var("validate_config"))
    return {"state": state}


def _check_models(field, models, default_credentials):
    name = field("models")
    if not isinstance(models, (list, tuple)) or not models:
        raise ValidationError(name, "must be a non-empty list of {name, model: vertex_ai/..., vertex_project, "
                                    "vertex_location}")
    seen = set()
    for index, model in enumerate(models):
        where = "%s[%d]" % (name, index)
        if not isinstance(model, dict):
            raise ValidationError(where, "must be a dict {name, model, vertex_project, vertex_location}", model)
        label = inputs.text(where + ".name", model.get("name"), required=True)
        if label in seen:
            raise ValidationError(where + ".name", "must be unique in litellm_proxy_models", label)
        seen.add(label)
        target = inputs.text(where + ".model", model.get("model"), required=True)
        if target.startswith("gemini/"):
            raise ValidationError(where + ".model", "uses LiteLLM's gemini/ provider (Google AI Studio), which ignores "
                                                    "vertex_credentials and needs an API key; for keyless access use "
                                                    "vertex_ai/%s with vertex_project and vertex_location" % target[7:],
                                  target)
        if not target.startswith("vertex_ai/") or len(target) <= len("vertex_ai/"):
            raise ValidationError(where + ".model", "must be vertex_ai/MODEL", target)
        project = inputs.text(where + ".vertex_project", model.get("vertex_project"), required=True)
        check_project(project, where + ".vertex_project")
        location = inputs.text(where + ".vertex_location", model.get("vertex_location"), required=True)
        if not VERTEX_LOCATION_RE.fullmatch(location):
            raise ValidationError(where + ".vertex_location", "must be a Vertex region such as us-central1, or "
                                                              "global", location)
        if model.get("api_base"):
            check_url(where + ".api_base", inputs.text(where + ".api_base", model["api_base"]))
        inputs.absolute_path(where + ".vertex_credentials", model.get("vertex_credentials", default_credentials))
        inputs.mapping(where + ".extra_params", model.get("extra_params"))
        unknown = sorted(set(model) - {"name", "model", "vertex_project", "vertex_location", "api_base",
                                       "vertex_credentials", "extra_params"})
        if unknown:
            raise ValidationError(where, "has unknown keys %s (put LiteLLM parameters in extra_params)"
                                  % ", ".join(unknown))


def check_verify(variables):
    var, field = inputs.prefixed(variables, "verify_")
    expect = inputs.text(field("expect"), var("expect"), required=True)
    if not DIAGNOSIS_RE.fullmatch(expect):
        raise ValidationError(field("expect"), "must be ok or a diagnosis code (lower_case)", expect)
    inputs.absolute_path(field("credentials_path"), var("credentials_path"))
    inputs.absolute_path(field("python"), var("python"))
    if var("environment_file"):
        inputs.absolute_path(field("environment_file"), var("environment_file"))
    for name in ("check_timeout", "metadata_timeout"):
        value = inputs.number(var(name))
        if value is None or value <= 0:
            raise ValidationError(field(name), "must be a positive number of seconds", var(name))
    inputs.seconds(field("propagation_timeout"), var("propagation_timeout"), 0, 7200)
    inputs.seconds(field("propagation_interval"), var("propagation_interval"), 1, 600)
    inputs.boolean(field("controller_check"), var("controller_check"))
    statuses = var("completion_retry_statuses")
    if not isinstance(statuses, list):
        raise ValidationError(field("completion_retry_statuses"), "must be a list of HTTP statuses", statuses)
    for index, status in enumerate(statuses):
        inputs.integer("%s[%d]" % (field("completion_retry_statuses"), index), status, 400, 599)
    completion = inputs.boolean(field("completion"), var("completion"))
    if completion:
        check_url(field("proxy_url"), inputs.text(field("proxy_url"), var("proxy_url"), required=True).rstrip("/"))
        key = var("master_key")
        if not isinstance(key, str) or not key or any(c in key for c in "\r\n\x00"):
            raise ValidationError(field("master_key"), "must be set when verify_completion is true (default: "
                                                       "litellm_proxy_master_key); the value is not shown")
        inputs.text(field("model"), var("model"), required=True)
        inputs.integer(field("max_tokens"), var("max_tokens"), 1, 100000)
        inputs.integer(field("completion_timeout"), var("completion_timeout"), 1, 3600)
        inputs.text(field("prompt"), var("prompt"), required=True, single_line=False)
    return {"expect": expect, "completion": completion}
