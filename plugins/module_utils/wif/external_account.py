# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The external_account credential file for AWS: its format, in one place.

``build(settings)`` makes the JSON document from the external_account role's variables,
``check(settings)`` holds the rules those variables follow (the role's preflight runs the
same function), and ``mode``/``problems`` read an existing document.
"""

from __future__ import annotations

from ansible_collections.keyless.wif.plugins.module_utils import inputs
from ansible_collections.keyless.wif.plugins.module_utils.wif import names
from ansible_collections.keyless.wif.plugins.module_utils.wif.validate import ValidationError, check_url

AWS_SUBJECT_TOKEN_TYPE = "urn:ietf:params:aws:token-type:aws4_request"
DEFAULT_VERIFICATION_URL = "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15"
# The keys LiteLLM 1.108 reads from the credential JSON to switch to explicit AWS auth
# (litellm/llms/vertex_ai/vertex_ai_aws_wif.py, _AWS_CREDENTIAL_KEYS).
LITELLM_AWS_KEYS = (
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    "aws_region_name",
    "aws_session_name",
    "aws_profile_name",
    "aws_role_name",
    "aws_web_identity_token",
    "aws_sts_endpoint",
    "aws_external_id",
)
SECRET_AWS_KEYS = ("aws_secret_access_key", "aws_session_token", "aws_web_identity_token")
ENVIRONMENT_ID = "aws1"
# The role's variables are these names with this prefix (external_account_audience, ...).
VARIABLE_PREFIX = "external_account_"
MODES = ("ec2", "explicit")
STATES = ("present", "absent")


def mode(info):
    """'explicit' when LiteLLM would take its explicit-AWS path for this JSON, else 'ec2'.

    LiteLLM 1.108 switches on any aws_* key in the JSON (vertex_llm_base._credentials_from_json);
    google-auth alone ignores those keys and always uses credential_source.
    """
    return "explicit" if any(key in info for key in LITELLM_AWS_KEYS) else "ec2"


def problems(info):
    """Problems visible in the JSON itself: (diagnosis code, values for its texts) pairs.

    The words for each code live in diagnoses.DIAGNOSES, once.
    """
    found = []
    if info.get("type") != "external_account":
        found.append(("not_external_account", {"type": info.get("type")}))
    if info.get("subject_token_type") != AWS_SUBJECT_TOKEN_TYPE:
        found.append(("wrong_subject_token_type", {"subject_token_type": info.get("subject_token_type")}))
    aud = names.parse_audience(info.get("audience"))
    if aud is None:
        found.append(("audience_malformed", {"audience": info.get("audience")}))
    elif not aud["project"].isdigit():
        found.append(("audience_project_id", {"audience": info.get("audience")}))
    url = info.get("service_account_impersonation_url")
    if url and not names.impersonated_email(url):
        found.append(("impersonation_url_malformed", {"url": url}))
    if mode(info) == "explicit" and not info.get("aws_region_name"):
        found.append(("explicit_region_missing", {}))
    return found


def check(settings):
    """Check the external_account role's variables (keyed by their full names).

    Raises ValidationError naming the variable and the rule; returns {state, mode, aws_keys,
    secrets_given} (never a secret value). The messages never carry a secret value either.
    """
    var, field = inputs.prefixed(settings, VARIABLE_PREFIX)
    state = inputs.choice(field("state"), var("state"), STATES)
    inputs.owned_file(field("path"), var("path"))
    if state == "absent":
        return {"state": state, "secrets_given": False}
    mode = inputs.choice(field("mode"), var("mode"), MODES)
    _check_audience(field("audience"), inputs.text(field("audience"), var("audience"), required=True))
    email = inputs.text(field("service_account_email"), var("service_account_email"))
    if email and not names.is_service_account_email(email):
        raise ValidationError(field("service_account_email"), "must be a service-account e-mail such as "
                                                              "NAME@PROJECT_ID.iam.gserviceaccount.com, or empty for no "
                                                              "impersonation", email)
    impersonation_url = inputs.text(field("service_account_impersonation_url"), var("service_account_impersonation_url"))
    urls = ["token_url", "iamcredentials_url"]
    if email and impersonation_url:
        urls.append("service_account_impersonation_url")
    if mode == "ec2":
        urls += ["region_url", "credentials_url"]
        if var("imdsv2_session_token_url"):
            urls.append("imdsv2_session_token_url")
    for name in urls:
        check_url(field(name), inputs.text(field(name), var(name), required=True))
    if email and impersonation_url and names.impersonated_email(impersonation_url) is None:
        raise ValidationError(field("service_account_impersonation_url"), "must end in "
                              "/v1/projects/-/serviceAccounts/EMAIL:generateAccessToken (or be empty to build it from "
                              "external_account_iamcredentials_url)", impersonation_url)
    inputs.text(field("universe_domain"), var("universe_domain"))
    if var("environment_id") != ENVIRONMENT_ID:
        raise ValidationError(field("environment_id"), "must be %s (the only version google-auth supports)" % ENVIRONMENT_ID,
                              var("environment_id"))
    partitions = [entry[0] for entry in names.aws_partitions()]
    partition = inputs.choice(field("aws_partition"), var("aws_partition") or "aws", partitions)
    # Empty: the partition's own STS host (google-auth fills in only {region}).
    verification = (inputs.text(field("regional_cred_verification_url"), var("regional_cred_verification_url"))
                    or names.sts_verification_url_template(partition))
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
    given = [name for name in LITELLM_AWS_KEYS if aws[name]]
    if mode == "ec2" and given:
        raise ValidationError(", ".join(field(n) for n in given), "are set but external_account_mode is ec2: LiteLLM "
                              "switches to explicit AWS auth whenever any aws_* key is present. Set "
                              "external_account_mode: explicit, or clear them")
    if mode == "explicit":
        _check_explicit(field, aws)
    inputs.posix_name(field("owner"), var("owner"))
    inputs.posix_name(field("group"), var("group"))
    file_mode = inputs.octal_mode(field("file_mode"), var("file_mode"))
    inputs.octal_mode(field("directory_mode"), var("directory_mode"))
    if int(file_mode, 8) & 0o007:
        raise ValidationError(field("file_mode"), "must not give others any access (last digit 0)", file_mode)
    inputs.absolute_path(field("validate_python"), var("validate_python"))
    inputs.boolean(field("create_group"), var("create_group"))
    return {"state": state, "mode": mode, "aws_keys": given, "secrets_given": any(k in SECRET_AWS_KEYS for k in given),
            "regional_cred_verification_url": verification}


def build(settings):
    """The credential JSON document (a dict) for the external_account role's variables.

    ec2 mode: credential_source carries the IMDS URLs google-auth reads. explicit mode: only
    environment_id, plus LiteLLM's non-empty aws_* keys (LiteLLM 1.108 takes its explicit-AWS
    path when environment_id contains "aws" and any aws_* key is present; google-auth then gets
    a credentials supplier instead of URLs). Raises ValidationError like check().
    """
    checked = check(settings)
    var, field = inputs.prefixed(settings, VARIABLE_PREFIX)
    if checked["state"] != "present":
        raise ValidationError(field("state"), "must be present to build the credential JSON", checked["state"])
    document = {
        "type": "external_account",
        "audience": var("audience"),
        "subject_token_type": AWS_SUBJECT_TOKEN_TYPE,
        "token_url": var("token_url"),
    }
    email = var("service_account_email")
    if email:
        document["service_account_impersonation_url"] = (var("service_account_impersonation_url")
                                                         or names.impersonation_url(var("iamcredentials_url"), email))
    if var("universe_domain"):
        document["universe_domain"] = var("universe_domain")
    source = {"environment_id": var("environment_id")}
    if checked["mode"] == "ec2":
        source.update({
            "region_url": var("region_url"),
            "url": var("credentials_url"),
            "regional_cred_verification_url": checked["regional_cred_verification_url"],
        })
        if var("imdsv2_session_token_url"):
            source["imdsv2_session_token_url"] = var("imdsv2_session_token_url")
    else:
        for key in checked["aws_keys"]:
            document[key] = var(key)
    document["credential_source"] = source
    return document


def _check_audience(name, audience):
    parts = names.parse_audience(audience)
    if not parts or not names.PROJECT_NUMBER_RE.fullmatch(parts["project"]) or not all(
            names.WIF_ID_RE.fullmatch(parts[k]) and not parts[k].startswith("gcp-") for k in ("pool", "provider")):
        raise ValidationError(name, "must be //iam.googleapis.com/projects/PROJECT_NUMBER/locations/global/"
                                    "workloadIdentityPools/POOL/providers/PROVIDER with the project NUMBER "
                                    "and pool/provider IDs of 4-32 characters [a-z0-9-]", audience)


def _check_explicit(field, aws):
    region = aws["aws_region_name"] or ""
    if not names.REGION_RE.fullmatch(region):
        raise ValidationError(field("aws_region_name"), "is required in explicit mode and must be an AWS region such "
                                                        "as us-east-1 (LiteLLM refuses the JSON without it)", region)
    if aws["aws_role_name"]:
        try:
            identity = names.role_identity(aws["aws_role_name"], field("aws_role_name"))
        except names.ArnError as exc:
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
