# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The external_account credential file for AWS: its format, in one place."""

from __future__ import annotations

from ansible_collections.keyless.wif.plugins.module_utils.wif import names

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


def mode(info):
    """'explicit' when LiteLLM would take its explicit-AWS path for this JSON, else 'ec2'.

    LiteLLM 1.108 switches on any aws_* key in the JSON (vertex_llm_base._credentials_from_json);
    google-auth alone ignores those keys and always uses credential_source.
    """
    return "explicit" if any(key in info for key in LITELLM_AWS_KEYS) else "ec2"


def problems(info):
    """Problems visible in the JSON itself, as (code, message, fix) tuples."""
    problems = []
    if info.get("type") != "external_account":
        problems.append(("not_external_account", "type is %r, not 'external_account'" % info.get("type"), "Render the file with the external_account role."))
    if info.get("subject_token_type") != AWS_SUBJECT_TOKEN_TYPE:
        problems.append(
            (
                "wrong_subject_token_type",
                "subject_token_type is %r; AWS credentials need %s" % (info.get("subject_token_type"), AWS_SUBJECT_TOKEN_TYPE),
                "Set subject_token_type to %s." % AWS_SUBJECT_TOKEN_TYPE,
            )
        )
    aud = names.parse_audience(info.get("audience"))
    if aud is None:
        problems.append(
            (
                "audience_malformed",
                "audience %r is not //iam.googleapis.com/projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER" % info.get("audience"),
                "Copy the provider's full name (gcloud iam workload-identity-pools providers describe PROVIDER --location=global --workload-identity-pool=POOL "
                "--format='value(name)') and prefix it with //iam.googleapis.com/.",
            )
        )
    elif not aud["project"].isdigit():
        problems.append(
            (
                "audience_project_id",
                "audience names project %r by ID; STS only accepts the project NUMBER there" % aud["project"],
                "Replace %r with the project number (gcloud projects describe %s --format='value(projectNumber)')." % (aud["project"], aud["project"]),
            )
        )
    url = info.get("service_account_impersonation_url")
    if url and not names.impersonated_email(url):
        problems.append(
            (
                "impersonation_url_malformed",
                "service_account_impersonation_url %r does not end in /projects/-/serviceAccounts/EMAIL:generateAccessToken" % url,
                "Use https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/EMAIL:generateAccessToken.",
            )
        )
    if mode(info) == "explicit" and not info.get("aws_region_name"):
        problems.append(
            (
                "explicit_region_missing",
                "the JSON carries LiteLLM aws_* keys but no aws_region_name; LiteLLM refuses it",
                "Add aws_region_name (e.g. us-east-1) to the credential JSON (external_account_aws_region_name).",
            )
        )
    return problems
