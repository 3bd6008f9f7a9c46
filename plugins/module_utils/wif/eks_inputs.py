# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The rules of the litellm_eks role's variables (keyed by their full names, ``litellm_eks_*``).

``check(settings)`` raises ValidationError naming the variable and the rule, before anything
is rendered or applied, and returns the checked values eks_manifests.py builds from.
"""

from __future__ import annotations

import re

from ansible_collections.keyless.wif.plugins.module_utils import inputs
from ansible_collections.keyless.wif.plugins.module_utils.wif import external_account, host_inputs, names, proxy_config
from ansible_collections.keyless.wif.plugins.module_utils.wif.host_layout import CREDENTIAL_PATH
from ansible_collections.keyless.wif.plugins.module_utils.wif.validate import ValidationError

MASTER_KEY_ENV = "LITELLM_MASTER_KEY"
PREFIX = "litellm_eks_"


STATES = ("present", "absent")


AWS_AUTH = ("irsa", "pod_identity")


SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer")


PULL_POLICIES = ("IfNotPresent", "Always")


# An image pinned by digest only: REPOSITORY@sha256:64 hex digits, no tag.
IMAGE_RE = re.compile(r"(?P<repository>[a-z0-9]+(?:[._-][a-z0-9]+|-+[a-z0-9]+)*(?::[0-9]{1,5})?"
                      r"(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)+|[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)"
                      r"@sha256:(?P<digest>[a-f0-9]{64})")


# RFC 1123 label (namespace, object names used as DNS names).
DNS_LABEL_RE = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


# A Kubernetes resource quantity (cpu: 250m, 1; memory: 512Mi, 1G).
QUANTITY_RE = re.compile(r"[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?")


RESOURCE_KEYS = ("requests", "limits")


RESOURCE_NAMES = ("cpu", "memory", "ephemeral-storage")


# Variables the container must never get: LiteLLM reads them before boto3's chain
# (base_aws_llm.get_credentials falls back to AWS_ROLE_NAME, AWS_WEB_IDENTITY_TOKEN, ...).
FORBIDDEN_ENVIRONMENT = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ROLE_NAME",
                         "AWS_WEB_IDENTITY_TOKEN", "AWS_SESSION_NAME", "AWS_PROFILE_NAME", "AWS_PROFILE", MASTER_KEY_ENV)


# What the role's external_account settings are besides the EKS ones (check() wants them all).
_EXTERNAL_ACCOUNT_FIXED = {
    "external_account_state": "present",
    "external_account_mode": "explicit",
    "external_account_path": CREDENTIAL_PATH,
    "external_account_owner": "root",
    "external_account_group": "litellm",
    "external_account_file_mode": "0640",
    "external_account_directory_mode": "0750",
    "external_account_create_group": False,
    "external_account_environment_id": external_account.ENVIRONMENT_ID,
    "external_account_validate_python": "/usr/bin/python3",
}


def plain(value):
    """value with Ansible's tagged str/dict/list subclasses turned into the built-in types (yaml.safe_dump takes only those)."""
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if value is None or isinstance(value, bool):
        return value
    for kind in (str, int, float):
        if isinstance(value, kind):
            return kind(value)
    return value


def check(settings):
    """Check every variable; return the checked values the builder needs. Raises ValidationError."""
    settings = plain(settings)
    var, field = inputs.prefixed(settings, PREFIX)
    state = inputs.choice(field("state"), var("state"), STATES)
    checked = {"state": state}
    checked["namespace"] = _dns_label(field("namespace"), var("namespace"))
    checked["name"] = _dns_label(field("name"), var("name"))
    checked["manage_namespace"] = inputs.boolean(field("manage_namespace"), var("manage_namespace"))
    if state == "absent":
        return checked
    checked["image"] = image(field("image"), var("image"))
    checked["image_pull_policy"] = inputs.choice(field("image_pull_policy"), var("image_pull_policy"), PULL_POLICIES)
    auth = inputs.choice(field("aws_auth"), var("aws_auth"), AWS_AUTH)
    checked["aws_auth"] = auth
    role_arn = inputs.text(field("aws_role_arn"), var("aws_role_arn"))
    if auth == "irsa" and not role_arn:
        raise ValidationError(field("aws_role_arn"), "is required with litellm_eks_aws_auth: irsa (the ServiceAccount's "
                                                     "eks.amazonaws.com/role-arn annotation)")
    if auth == "pod_identity" and role_arn:
        raise ValidationError(field("aws_role_arn"), "must be empty with litellm_eks_aws_auth: pod_identity (the role "
                                                     "is given by the Pod Identity association, not the ServiceAccount)",
                              role_arn)
    if role_arn:
        try:
            identity = names.role_identity(role_arn, field("aws_role_arn"))
        except names.ArnError as exc:
            raise ValidationError(field("aws_role_arn"), "must be an IAM role ARN: %s" % exc) from None
        if identity["kind"] != "role":
            raise ValidationError(field("aws_role_arn"), "must be an IAM role ARN (arn:aws:iam::ACCOUNT_ID:role/NAME)",
                                  role_arn)
    checked["aws_role_arn"] = role_arn
    checked["credentials"] = external_account.build(_external_account_settings(settings))
    key = var("master_key")
    secret_name = inputs.text(field("master_key_secret_name"), var("master_key_secret_name"))
    if secret_name and key:
        raise ValidationError("litellm_eks_master_key, litellm_eks_master_key_secret_name",
                              "set exactly one of them (value not shown)")
    if secret_name:
        _dns_subdomain(field("master_key_secret_name"), secret_name)
        if secret_name == checked["name"]:
            raise ValidationError(field("master_key_secret_name"), "must not be litellm_eks_name: the role owns that "
                                                                   "Secret", secret_name)
    elif not isinstance(key, str) or not host_inputs.MASTER_KEY_RE.fullmatch(key) or key in host_inputs.PUBLIC_MASTER_KEYS:
        raise ValidationError(field("master_key"), 'must be "sk-" followed by at least 32 characters of [A-Za-z0-9_-] '
                              "(or set litellm_eks_master_key_secret_name to an existing Secret with the key %s); "
                              'generate one with: echo "sk-$(openssl rand -hex 32)". The value is not shown' % MASTER_KEY_ENV)
    checked["master_key_secret_name"] = secret_name
    checked["master_key"] = "" if secret_name else key
    host_inputs.check_models(field, var("models"), CREDENTIAL_PATH)
    inputs.mapping(field("litellm_settings"), var("litellm_settings"))
    if "master_key" in inputs.mapping(field("general_settings"), var("general_settings")):
        raise ValidationError(field("general_settings"), "must not set master_key (use litellm_eks_master_key)")
    config = proxy_config.build_config({
        "litellm_proxy_models": var("models"),
        "litellm_proxy_vertex_credentials": CREDENTIAL_PATH,
        "litellm_proxy_litellm_settings": var("litellm_settings"),
        "litellm_proxy_general_settings": var("general_settings"),
    })
    for where, rule in proxy_config.problems(config):
        raise ValidationError(where.replace("litellm_proxy_", PREFIX), rule)
    checked["config"] = config
    checked["port"] = inputs.integer(field("port"), var("port"), 1024, 65535)
    checked["replicas"] = inputs.integer(field("replicas"), var("replicas"), 1, 100)
    checked["num_workers"] = inputs.integer(field("num_workers"), var("num_workers"), 1, 64)
    checked["run_as_user"] = inputs.integer(field("run_as_user"), var("run_as_user"), 1, 2147483647)
    checked["service_type"] = inputs.choice(field("service_type"), var("service_type"), SERVICE_TYPES)
    checked["resources"] = _resources(field("resources"), var("resources"))
    environment = inputs.mapping(field("environment"), var("environment"))
    for env_name, value in environment.items():
        inputs.env_name("%s key" % field("environment"), env_name)
        if env_name in FORBIDDEN_ENVIRONMENT or env_name.startswith(("AWS_CONTAINER_", "AWS_WEB_IDENTITY", "AWS_ROLE")):
            raise ValidationError("%s[%s]" % (field("environment"), env_name), "must not be set: the master key comes from "
                                  "its Secret, and AWS credentials only from IRSA or Pod Identity (LiteLLM reads AWS_ROLE_NAME, "
                                  "AWS_WEB_IDENTITY_TOKEN and key variables before boto3's chain)")
        if isinstance(value, (dict, list)) or value is None:
            raise ValidationError("%s[%s]" % (field("environment"), env_name), "must be a string, number or boolean")
    checked["environment"] = {env_name: str(value) for env_name, value in environment.items()}
    return checked


def image(field, value):
    """The image reference, which must be pinned by digest (REPOSITORY@sha256:64 hex) and carry no tag."""
    value = inputs.text(field, value, required=True)
    if not IMAGE_RE.fullmatch(value):
        raise ValidationError(field, "must be pinned by digest: REPOSITORY@sha256:<64 lowercase hex digits>, without "
                                     "a tag (e.g. ghcr.io/berriai/litellm@sha256:...; find it with: docker buildx "
                                     "imagetools inspect ghcr.io/berriai/litellm:TAG)", value)
    return value


def _external_account_settings(settings):
    var, field = inputs.prefixed(settings, PREFIX)
    result = dict(_EXTERNAL_ACCOUNT_FIXED)
    result.update({
        "external_account_audience": var("audience"),
        "external_account_service_account_email": var("service_account_email"),
        "external_account_token_url": var("token_url"),
        "external_account_iamcredentials_url": var("iamcredentials_url"),
        "external_account_service_account_impersonation_url": "",
        "external_account_universe_domain": var("universe_domain"),
        # Only the region: boto3's default chain finds IRSA's AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE or
        # Pod Identity's AWS_CONTAINER_CREDENTIALS_FULL_URI + AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE.
        "external_account_aws_region_name": var("aws_region"),
    })
    try:
        external_account.check(result)
    except ValidationError as exc:
        raise ValidationError(exc.field.replace("external_account_aws_region_name", field("aws_region"))
                              .replace("external_account_", PREFIX), exc.rule, exc.value) from None
    return result


def _dns_label(field, value):
    value = inputs.text(field, value, required=True)
    if not DNS_LABEL_RE.fullmatch(value):
        raise ValidationError(field, "must be a DNS label: at most 63 characters of [a-z0-9-], starting and ending "
                                     "with a letter or digit", value)
    return value


def _dns_subdomain(field, value):
    if len(value) > 253 or not all(DNS_LABEL_RE.fullmatch(part) for part in value.split(".")):
        raise ValidationError(field, "must be a Kubernetes object name (DNS subdomain: [a-z0-9-.], at most 253 "
                                     "characters)", value)
    return value


def _resources(field, value):
    value = inputs.mapping(field, value)
    unknown = sorted(set(value) - set(RESOURCE_KEYS))
    if unknown or not all(value.get(key) for key in RESOURCE_KEYS):
        raise ValidationError(field, "must have requests and limits (and nothing else), each with cpu and memory")
    result = {}
    for key in RESOURCE_KEYS:
        where = "%s.%s" % (field, key)
        amounts = inputs.mapping(where, value[key])
        if not {"cpu", "memory"} <= set(amounts) or set(amounts) - set(RESOURCE_NAMES):
            raise ValidationError(where, "must give cpu and memory (and optionally ephemeral-storage), nothing else",
                                  sorted(amounts))
        result[key] = {}
        for resource in RESOURCE_NAMES:
            if resource in amounts:
                amount = str(amounts[resource])
                if not QUANTITY_RE.fullmatch(amount):
                    raise ValidationError("%s.%s" % (where, resource), "must be a Kubernetes quantity such as 500m, 1, "
                                                                       "512Mi or 1Gi", amounts[resource])
                result[key][resource] = amount
    for resource in result["limits"]:
        if resource in result["requests"] and _quantity(result["requests"][resource]) > _quantity(result["limits"][resource]):
            raise ValidationError("%s.requests.%s" % (field, resource), "must not exceed the limit %s"
                                  % result["limits"][resource], result["requests"][resource])
    return result


_SUFFIXES = {"m": 1e-3, "": 1, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
             "Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30, "Ti": 2 ** 40, "Pi": 2 ** 50, "Ei": 2 ** 60}


def _quantity(amount):
    match = QUANTITY_RE.fullmatch(amount)
    return float(amount[:len(amount) - len(match.group(2) or "")]) * _SUFFIXES[match.group(2) or ""]
