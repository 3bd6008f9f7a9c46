# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""google-auth credentials for the credential JSON, built the way LiteLLM 1.108 builds them.

Plain AWS JSON: aws.Credentials.from_info with the cloud-platform scope. Explicit mode (LiteLLM's
aws_* keys), with LiteLLM importable: its own VertexAIAwsWifAuth.credentials_from_explicit_aws (BaseAWSLLM's
credential chain in a google-auth AwsSecurityCredentialsSupplier). Without it, the same
google-auth construction around a boto3 session (profile, static keys, environment chain).
"""

from __future__ import annotations

import os

from ansible_collections.keyless.wif.plugins.module_utils.wif.external_account import LITELLM_AWS_KEYS

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"


def _litellm_loader():
    # Importing litellm would otherwise fetch its model cost map from the internet and read a .env file.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("LITELLM_MODE", "PRODUCTION")
    try:
        from litellm.llms.vertex_ai.vertex_ai_aws_wif import VertexAIAwsWifAuth
    except ImportError:
        return None
    return VertexAIAwsWifAuth


def _boto3_credentials(info, params):
    import boto3
    from google.auth import aws

    class Boto3Supplier(aws.AwsSecurityCredentialsSupplier):
        def __init__(self):
            # Without a profile or keys this is boto3's default chain, as LiteLLM's: environment keys,
            # IRSA (AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN), EKS Pod Identity / ECS task roles
            # (AWS_CONTAINER_CREDENTIALS_*), config files, then instance metadata.
            kwargs = {"region_name": params.get("aws_region_name")}
            if params.get("aws_profile_name"):
                kwargs["profile_name"] = params["aws_profile_name"]
            keys = dict((name, params[name]) for name in ("aws_access_key_id", "aws_secret_access_key", "aws_session_token") if params.get(name))
            kwargs.update(keys)
            self.session = boto3.Session(**kwargs)

        def get_aws_security_credentials(self, context, request):
            found = self.session.get_credentials()
            if found is None:
                raise LookupError("boto3's credential chain found no credentials")
            frozen = found.get_frozen_credentials()
            return aws.AwsSecurityCredentials(frozen.access_key, frozen.secret_key, frozen.token)

        def get_aws_region(self, context, request):
            return params.get("aws_region_name")

    kwargs = dict(audience=info.get("audience"), subject_token_type=info.get("subject_token_type"), token_url=info.get("token_url"),
                  credential_source=None, aws_security_credentials_supplier=Boto3Supplier(),
                  service_account_impersonation_url=info.get("service_account_impersonation_url"))
    if "universe_domain" in info:
        kwargs["universe_domain"] = info["universe_domain"]
    creds = aws.Credentials(**kwargs)
    return creds.with_scopes([CLOUD_PLATFORM_SCOPE]) if creds.requires_scopes else creds


def explicit_credentials(info, loader=_litellm_loader):
    """(google-auth credentials, resolver name) for explicit-mode ``info``."""
    params = {key: info[key] for key in LITELLM_AWS_KEYS if key in info}
    wif_auth = loader()
    if wif_auth is not None:
        return wif_auth.credentials_from_explicit_aws(info, aws_params=params, scopes=[CLOUD_PLATFORM_SCOPE]), "LiteLLM BaseAWSLLM.get_credentials"
    return _boto3_credentials(info, params), "boto3 session"


def ec2_credentials(info):
    """(credentials, resolver) as LiteLLM 1.108 builds them for a plain AWS external_account JSON."""
    from google.auth import aws

    creds = aws.Credentials.from_info(info)
    if creds.requires_scopes:
        creds = creds.with_scopes([CLOUD_PLATFORM_SCOPE])
    return creds, "google-auth default AWS supplier"
