# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The credential check's diagnoses: one table keyed by diagnosis code.

Each entry is (hop, cause, fix). ``hop`` says where the code arises (the README's "hop"
column); ``cause`` and ``fix`` are %-templates filled from what the check recorded (see
``render``). The README troubleshooting table is generated from this table
(``troubleshooting_rows``) and a unit test keeps the two equal.
"""

from __future__ import annotations

_HOP_LIMIT_FIX = (
    "Raise the hop limit and make sure the endpoint is on: aws ec2 modify-instance-metadata-options --instance-id INSTANCE_ID "
    "--http-endpoint enabled --http-tokens required --http-put-response-hop-limit 2. Also exempt 169.254.169.254 from any HTTP proxy "
    "(NO_PROXY of the proxy's service)."
)
_RERENDER = "Re-render the credential JSON with the keyless.wif.external_account role."

DIAGNOSES = {
    # ------------------------------------------------------------------ the JSON itself
    "not_external_account": ("config", "The credential JSON's type is %(type)s, not external_account.", _RERENDER),
    "wrong_subject_token_type": (
        "config",
        "subject_token_type is %(subject_token_type)s; AWS credentials need urn:ietf:params:aws:token-type:aws4_request.",
        "Set subject_token_type to urn:ietf:params:aws:token-type:aws4_request (%s)" % _RERENDER,
    ),
    "audience_malformed": (
        "config",
        "The audience %(audience)s is not //iam.googleapis.com/projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER.",
        "Copy the provider's full name (gcloud iam workload-identity-pools providers describe PROVIDER --location=global "
        "--workload-identity-pool=POOL --format='value(name)') and prefix it with //iam.googleapis.com/.",
    ),
    "audience_project_id": (
        "config",
        "The audience %(audience)s names the project by ID; STS only accepts the project NUMBER there.",
        "Replace the project ID with its number (gcloud projects describe PROJECT_ID --format='value(projectNumber)').",
    ),
    "impersonation_url_malformed": (
        "config",
        "service_account_impersonation_url %(url)s does not end in /projects/-/serviceAccounts/EMAIL:generateAccessToken.",
        "Use https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/EMAIL:generateAccessToken.",
    ),
    "explicit_region_missing": (
        "config",
        "The JSON carries LiteLLM aws_* keys but no aws_region_name; LiteLLM refuses it.",
        "Add aws_region_name (e.g. us-east-1) to the credential JSON (external_account_aws_region_name).",
    ),
    "google_auth_rejected": ("config", "google-auth refuses to load the credential JSON (%(error)s).", _RERENDER),
    # ------------------------------------------------------------------ instance metadata
    "metadata_no_answer": (
        "imds_token",
        "The IMDSv2 token request (PUT %(url)s) got no answer. Either the instance metadata service is not reachable from here, or the PUT "
        "answer is dropped because the IMDSv2 hop limit is 1 and the process runs one network hop away (container, network namespace).",
        _HOP_LIMIT_FIX,
    ),
    "metadata_unreachable": (
        "imds_token / role_name / aws_credentials / region",
        "The instance metadata service at %(url)s did not answer (%(error)s). Its endpoint may be disabled, or this is not an EC2 instance.",
        "Enable it (aws ec2 modify-instance-metadata-options --instance-id INSTANCE_ID --http-endpoint enabled), or on hosts without instance "
        "metadata (ECS, EKS, on-premises) render the JSON in explicit mode (external_account_mode: explicit).",
    ),
    "metadata_token_refused": (
        "imds_token",
        "The metadata service answered HTTP %(status)s to the IMDSv2 token PUT %(url)s; google-auth has no IMDSv1 fallback.",
        "Check that nothing (an HTTP proxy, a firewall rule) sits in front of the metadata service, and that imdsv2_session_token_url is "
        "http://169.254.169.254/latest/api/token.",
    ),
    "no_instance_role": (
        "role_name",
        "The metadata service lists no IAM role (GET %(url)s answered HTTP %(status)s): no instance profile is attached to this instance.",
        "Attach an instance profile whose role is the one bound in Google Cloud: aws ec2 associate-iam-instance-profile "
        "--instance-id INSTANCE_ID --iam-instance-profile Name=PROFILE.",
    ),
    "metadata_role_error": (
        "role_name",
        "Reading the role name from %(url)s answered HTTP %(status)s.",
        "Check credential_source.url (http://169.254.169.254/latest/meta-data/iam/security-credentials).",
    ),
    "metadata_credentials_error": (
        "aws_credentials",
        "Reading the role's credentials from %(url)s failed (HTTP %(status)s, %(error)s); the instance profile may have changed or be propagating.",
        "Retry in a minute; if it persists, re-associate the instance profile.",
    ),
    "credential_source_incomplete": (
        "aws_credentials",
        "google-auth found neither AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY nor a credential_source.url to ask (%(error)s).",
        _RERENDER,
    ),
    "region_unavailable": (
        "region",
        "google-auth could not determine the AWS region (%(url)s, HTTP %(status)s, %(error)s).",
        "Point credential_source.region_url at http://169.254.169.254/latest/meta-data/placement/availability-zone, or set AWS_REGION in "
        "the proxy's environment.",
    ),
    "wrong_region": (
        "region / sts_exchange",
        "google-auth signed the AWS request for region %(region)s (from %(region_source)s), which STS cannot verify (%(message)s). A region_url "
        "that answers a region instead of an availability zone loses its last character.",
        "region_url must be http://169.254.169.254/latest/meta-data/placement/availability-zone (an AZ such as us-east-1a); AWS_REGION / "
        "AWS_DEFAULT_REGION, when set, must be a region such as us-east-1; in explicit mode set aws_region_name; regional_cred_verification_url "
        "must keep the {region} placeholder.",
    ),
    # ------------------------------------------------------------------ explicit mode
    "explicit_aws_credentials_failed": (
        "aws_credentials",
        "%(resolver)s found no usable AWS credentials (%(error)s).",
        "Check the aws_* keys in the JSON: aws_profile_name must name a profile in the proxy user's AWS config (AWS_CONFIG_FILE of the "
        "service), aws_role_name needs source credentials, aws_web_identity_token needs aws_role_name and aws_session_name.",
    ),
    # ------------------------------------------------------------------ explicit mode: AWS runtime credential sources
    # boto3's default chain (explicit mode without keys): IRSA (AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN ->
    # STS AssumeRoleWithWebIdentity), EKS Pod Identity and ECS task roles (AWS_CONTAINER_CREDENTIALS_FULL_URI /
    # _RELATIVE_URI -> the container credential endpoint).
    "web_identity_token_expired": (
        "aws_credentials",
        "AWS STS refused the web identity token as expired (%(error)s). The token "
        "in AWS_WEB_IDENTITY_TOKEN_FILE is a projected service-account token that the kubelet renews only in the projected volume.",
        "Mount the token from the projected volume (the EKS Pod Identity webhook does it for a service account annotated with "
        "eks.amazonaws.com/role-arn) instead of a copy, let the SDK re-read the file, and check the node's clock.",
    ),
    "web_identity_audience": (
        "aws_credentials",
        "AWS STS refused the web identity token's audience (%(error)s). The token's aud "
        "is not a client ID of the IAM OIDC provider.",
        "Project the token with audience sts.amazonaws.com (serviceAccountToken.audience, or the eks.amazonaws.com/audience annotation), "
        "or add its audience to the provider: aws iam add-client-id-to-open-id-connect-provider --open-id-connect-provider-arn ARN "
        "--client-id AUDIENCE.",
    ),
    "web_identity_provider_missing": (
        "aws_credentials",
        "AWS STS knows no IAM OIDC provider for the token's issuer in the role's account (%(error)s).",
        "Register the cluster's issuer in the account of AWS_ROLE_ARN: eksctl utils associate-iam-oidc-provider --cluster CLUSTER --approve "
        "(or aws iam create-open-id-connect-provider --url ISSUER --client-id-list sts.amazonaws.com); the role and the provider must be in "
        "one account.",
    ),
    "web_identity_token_rejected": (
        "aws_credentials",
        "AWS STS refused the web identity token (%(error)s): it is not a JWT, or its signature does not verify with "
        "the keys of the issuer it names (a token of another cluster or issuer).",
        "Point AWS_WEB_IDENTITY_TOKEN_FILE at this pod's projected token (/var/run/secrets/eks.amazonaws.com/serviceaccount/token), not a "
        "token copied from another cluster; the issuer's JWKS must be reachable by AWS.",
    ),
    "web_identity_role_denied": (
        "aws_credentials",
        "AWS STS refused AssumeRoleWithWebIdentity (%(error)s): the role does not exist, or its trust policy does not admit "
        "this issuer, audience or service account (sub).",
        "Check AWS_ROLE_ARN and the role's trust policy: Principal.Federated = the OIDC provider's ARN, Action sts:AssumeRoleWithWebIdentity, "
        "conditions ISSUER:aud = sts.amazonaws.com and ISSUER:sub = system:serviceaccount:NAMESPACE:SERVICE_ACCOUNT.",
    ),
    "web_identity_token_missing": (
        "aws_credentials",
        "The web-identity token file that AWS_WEB_IDENTITY_TOKEN_FILE names does not exist (%(error)s).",
        "Mount the service account's projected token there (the EKS IRSA webhook does it for a service account annotated with "
        "eks.amazonaws.com/role-arn), or point AWS_WEB_IDENTITY_TOKEN_FILE in the service's environment at it.",
    ),
    "container_credentials_token_missing": (
        "aws_credentials",
        "The container credential endpoint (EKS Pod Identity agent) wants the pod's service-account token and got none (%(error)s).",
        "Set AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=/var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token in the "
        "service's environment and mount that projected token (the EKS Pod Identity webhook adds both for a service account with a Pod "
        "Identity association).",
    ),
    "container_credentials_token_expired": (
        "aws_credentials",
        "The EKS Pod Identity agent refused the pod's service-account token as expired (%(error)s).",
        "Read the token from the projected volume the kubelet renews (AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE), not a copy; check the "
        "node's clock.",
    ),
    "container_credentials_unauthorized": (
        "aws_credentials",
        "The container credential endpoint refused the request (%(error)s): EKS Auth found the token invalid (wrong audience, issuer or "
        "signature), the service account has no Pod Identity association, or the agent was called through another address.",
        "The token must be the pod's projected token with audience pods.eks.amazonaws.com; create the association (aws eks "
        "create-pod-identity-association --cluster-name CLUSTER --namespace NAMESPACE --service-account SERVICE_ACCOUNT --role-arn ROLE_ARN) "
        "and call the agent at http://169.254.170.23/v1/credentials.",
    ),
    "container_credentials_unreachable": (
        "aws_credentials",
        "boto3 could not reach the container credential endpoint (%(error)s): the ECS agent (169.254.170.2) or the EKS Pod Identity agent "
        "(169.254.170.23) does not answer from here.",
        "Check AWS_CONTAINER_CREDENTIALS_FULL_URI / AWS_CONTAINER_CREDENTIALS_RELATIVE_URI in the service's environment, that the Pod "
        "Identity agent add-on runs on the node (or the task has a task role), and exempt 169.254.170.2 and 169.254.170.23 from any HTTP "
        "proxy (NO_PROXY).",
    ),
    "container_credentials_error": (
        "aws_credentials",
        "The container credential endpoint answered, but not with credentials (%(error)s).",
        "Check the ECS task role (aws ecs describe-task-definition: taskRoleArn) or the Pod Identity association and the agent's logs.",
    ),
    "explicit_unsupported": (
        "aws_credentials",
        "Neither LiteLLM nor boto3 is importable by this Python (%(error)s), so explicit AWS credentials cannot be resolved.",
        "Run the check with the proxy's virtualenv Python (ansible_python_interpreter=/opt/litellm/current/bin/python).",
    ),
    # ------------------------------------------------------------------ Google STS
    "invalid_target": (
        "sts_exchange",
        "Google STS rejected the audience %(audience)s (invalid_target: %(message)s). The pool or provider does not exist, is disabled, or is "
        "deleted (soft-deleted for 30 days), or the audience names another project, pool or provider than the one you created.",
        "Compare the audience with the provider: gcloud iam workload-identity-pools providers describe %(provider)s --workload-identity-pool=%(pool)s "
        "--location=global --project=%(project)s --format='value(name,state,disabled)'. Undelete a DELETED one, enable a disabled one "
        "(--no-disabled); the audience must be //iam.googleapis.com/ + that name (with the project NUMBER).",
    ),
    "attribute_condition": (
        "sts_exchange",
        "The provider's attribute condition rejected this AWS identity (%(message)s), caller %(aws_role)s.",
        "Read the condition (gcloud iam workload-identity-pools providers describe ... --format='value(attributeCondition)') and make it admit "
        "this caller, e.g. attribute.aws_role == '%(aws_role)s', or run the workload under a role the condition admits.",
    ),
    "aws_account_mismatch": (
        "sts_exchange",
        "Google STS says the AWS account of these credentials is not the one configured on the provider (%(message)s).",
        "Set the provider's aws.accountId to this host's account %(account_id)s (gcloud iam workload-identity-pools providers update-aws "
        "PROVIDER --account-id=ACCOUNT_ID ..., or gcp_federation_aws_account_id), or point the audience at the provider for this account.",
    ),
    "unauthorized_client": (
        "sts_exchange",
        "Google STS refused the client (unauthorized_client: %(message)s).",
        "Check that the provider's AWS account ID (aws.accountId) equals the instance's account %(account_id)s.",
    ),
    "aws_credentials_rejected": (
        "sts_exchange",
        "Google STS rejected the AWS credentials (invalid_grant: %(message)s): expired or revoked credentials, or a clock far off.",
        "Check the host clock (timedatectl), and that the credentials the service receives are current.",
    ),
    "sts_bad_request": ("sts_exchange", "Google STS answered %(status_text)s: %(message)s.", _RERENDER),
    "sts_error": ("sts_exchange", "Google STS answered HTTP %(status)s: %(status_text)s %(message)s.", "Check token_url (%(url)s) and retry."),
    "sts_exchange_unreachable": (
        "sts_exchange",
        "Google STS (%(url)s) did not answer: %(error)s.",
        "Check DNS, routes, firewall and the proxy settings (HTTPS_PROXY, NO_PROXY, REQUESTS_CA_BUNDLE of the service) for %(host)s.",
    ),
    # ------------------------------------------------------------------ impersonation
    "iamcredentials_api_disabled": (
        "impersonation",
        "The IAM Service Account Credentials API is disabled in the service account's project (%(message)s).",
        "gcloud services enable iamcredentials.googleapis.com --project=%(sa_project)s.",
    ),
    "binding_missing": (
        "impersonation",
        "The federated identity may not impersonate %(email)s: roles/iam.workloadIdentityUser is missing, or bound to a member that never matches "
        "(the arn:aws:iam::ACCT:role/ROLE form, or another pool): %(message)s.",
        "Grant it to the assumed-role principal set: gcloud iam service-accounts add-iam-policy-binding %(email)s "
        "--role=roles/iam.workloadIdentityUser --member='%(member)s' (module keyless.wif.gcp_service_account_iam_member).",
    ),
    "service_account_not_found": (
        "impersonation",
        "The service account %(email)s does not exist, was deleted, or is not visible yet: %(message)s.",
        "Create it, or fix the e-mail in service_account_impersonation_url.",
    ),
    "service_account_disabled": ("impersonation", "The service account %(email)s is disabled: %(message)s.", "gcloud iam service-accounts enable %(email)s."),
    "federated_token_rejected": (
        "impersonation",
        "IAM Credentials did not accept the federated token (%(message)s).",
        "The federated token is only valid for the IAM scope; %s" % _RERENDER,
    ),
    "impersonation_error": ("impersonation", "generateAccessToken answered HTTP %(status)s: %(message)s.", "See the message; retry."),
    "impersonation_bad_answer": (
        "impersonation",
        "generateAccessToken answered something google-auth cannot use (%(error)s), e.g. an expireTime with fractions of a second.",
        "google-auth needs accessToken and expireTime as %%Y-%%m-%%dT%%H:%%M:%%SZ: check what answers at %(url)s (private endpoint, proxy).",
    ),
    "impersonation_unreachable": (
        "impersonation",
        "IAM Credentials (%(url)s) did not answer: %(error)s.",
        "Check DNS, routes, firewall and the proxy settings (HTTPS_PROXY, NO_PROXY, REQUESTS_CA_BUNDLE of the service) for %(host)s.",
    ),
    # ------------------------------------------------------------------ any hop
    "proxy_failed": (
        "any",
        "The %(hop)s request to %(url)s went through the HTTP proxy %(proxy)s of the service's environment, which failed: %(error)s.",
        "Fix the proxy, or exempt the endpoint from it: NO_PROXY of the service must list 169.254.169.254 (always) and the Google endpoints "
        "when they are reached directly.",
    ),
    "refresh_failed": ("any", "google-auth's refresh failed at %(hop)s: %(error)s.", "See the error; compare with the proxy's log."),
}

# What the verify role waits out on a host (with what is awaited): the policy, pool, provider,
# account or API may be right already and not have reached STS or IAM yet.
_AWAITED = {
    "binding_missing": "IAM propagation",
    "invalid_target": "the pool and provider to reach STS",
    "attribute_condition": "the provider's attribute condition to reach STS",
    "service_account_not_found": "the new service account to become visible",
    "iamcredentials_api_disabled": "the IAM Credentials API enablement to propagate",
}
PROPAGATION_DIAGNOSES = tuple(_AWAITED)


def waiting_for(code):
    """What a wait on diagnosis ``code`` waits for, in words."""
    return _AWAITED.get(code, "Google to agree (%s)" % code)


class _Context(dict):
    """Template values; a value the check did not learn reads as its name in capitals."""

    def __missing__(self, key):
        return key.upper()


def render(code, context=None):
    """The diagnosis {code, cause, fix} for ``code``, its templates filled from ``context``."""
    cause, fix = DIAGNOSES[code][1:]
    values = _Context((k, v) for k, v in (context or {}).items() if v not in (None, ""))
    return {"code": code, "cause": cause % values, "fix": fix % values}


def troubleshooting_rows():
    """The README's troubleshooting table (markdown lines), one row per code, in table order."""
    rows = ["| code | hop | cause | fix |", "| --- | --- | --- | --- |"]
    for code, entry in DIAGNOSES.items():
        hop = entry[0]
        text = render(code)
        rows.append("| `%s` | %s | %s | %s |" % (code, hop, text["cause"].replace("|", "\\|"), text["fix"].replace("|", "\\|")))
    return rows


def propagation_verdict(check, policy_read):
    """Why a check that waited for propagation still fails with binding_missing, from what the controller saw.

    ``check`` is a wif_credentials_check result; ``policy_read`` the result of
    keyless.wif.gcp_service_account_iam_member run in check mode for its principal_set (or
    None when the controller did not look). The binding is in the policy when that run would
    change nothing. Empty for any other diagnosis.
    """
    code = ((check or {}).get("diagnosis") or {}).get("code", "")
    if code != "binding_missing":
        return ""
    waited = check.get("waited_seconds", 0)
    email = check.get("service_account") or "the service account"
    if not policy_read or policy_read.get("skipped"):
        return ("The controller did not look at the policy of %s (verify_controller_check is false, or the caller's "
                "role is unknown)." % email)
    if policy_read.get("failed"):
        return "The controller could not read the policy of %s: %s" % (email, policy_read.get("msg", ""))
    if policy_read.get("changed"):
        return ("The controller does not see %s in the roles/iam.workloadIdentityUser binding of %s: the binding "
                "is missing." % (check.get("principal_set"), email))
    return ("The controller sees %s in the roles/iam.workloadIdentityUser binding of %s: the cause is IAM "
            "propagation, still incomplete after %s s (Google documents up to 7 minutes). Re-run keyless.wif.verify "
            "later, or raise verify_propagation_timeout." % (check.get("principal_set"), email, int(waited)))
