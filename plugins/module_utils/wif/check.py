# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hop-by-hop check of an AWS -> Google Cloud external_account credential.

google-auth performs the whole exchange inside one ``refresh()``; when it fails the error
names neither the hop nor the fix. This module performs each hop itself, with the same
requests google-auth sends (the subject token is signed by google-auth's own
``aws.RequestSigner``), times each hop, and maps every failure to a likely cause and fix.

Nothing here ever returns a token: only outcomes, durations, identities and expiry times.
The HTTP layer is injected (``http``) so that the diagnosis logic is unit-testable.
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
import urllib.error
import urllib.parse
import urllib.request

from ansible_collections.keyless.wif.plugins.module_utils.wif import external_account, names
from ansible_collections.keyless.wif.plugins.module_utils.wif.external_account import (
    DEFAULT_VERIFICATION_URL,
    LITELLM_AWS_KEYS,
)
from ansible_collections.keyless.wif.plugins.module_utils.wif.names import (
    ACCOUNT_ID_RE,
    REGION_RE,
    aws_role_principal_set,
)

TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
IAM_SCOPE = "https://www.googleapis.com/auth/iam"
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
IMDS_TOKEN_TTL_HEADER = "X-aws-ec2-metadata-token-ttl-seconds"
IMDS_TOKEN_HEADER = "X-aws-ec2-metadata-token"


class NoAnswer(Exception):
    """The request got no HTTP answer: kind is 'timeout', 'refused' or 'unreachable'."""

    def __init__(self, kind, detail):
        super().__init__("%s: %s" % (kind, detail))
        self.kind = kind
        self.detail = detail


class HttpAnswer:
    def __init__(self, status, body, headers=None):
        self.status = status
        self.body = body if isinstance(body, bytes) else (body or "").encode("utf-8")
        self.headers = headers or {}

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def json(self):
        try:
            value = json.loads(self.text)
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}


class _NoProxy(urllib.request.ProxyHandler):
    def __init__(self):
        # Metadata and token endpoints must never be reached through an HTTP proxy
        # (a proxy would answer for 169.254.169.254 itself, or leak the request).
        super().__init__({})


_OPENER = urllib.request.build_opener(_NoProxy())


def urllib_http(method, url, headers=None, body=None, timeout=5.0):
    """Default transport (stdlib only): returns HttpAnswer, raises NoAnswer."""
    data = body.encode("utf-8") if isinstance(body, str) else body
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with _OPENER.open(req, timeout=timeout) as resp:
            return HttpAnswer(resp.status, resp.read(), dict(resp.headers))
    except urllib.error.HTTPError as exc:
        return HttpAnswer(exc.code, exc.read() or b"", dict(exc.headers or {}))
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, (socket.timeout, TimeoutError)):
            raise NoAnswer("timeout", "no answer within %ss" % timeout) from exc
        if isinstance(reason, ConnectionRefusedError):
            raise NoAnswer("refused", "connection refused") from exc
        raise NoAnswer("unreachable", str(reason)) from exc
    except (socket.timeout, TimeoutError) as exc:
        raise NoAnswer("timeout", "no answer within %ss" % timeout) from exc
    except OSError as exc:
        raise NoAnswer("unreachable", str(exc)) from exc


class Diagnosis:
    def __init__(self, code, cause, fix):
        self.code = code
        self.cause = cause
        self.fix = fix

    def as_dict(self):
        return {"code": self.code, "cause": self.cause, "fix": self.fix}


class HopFailed(Exception):
    def __init__(self, diagnosis, detail, status=None):
        super().__init__(detail)
        self.diagnosis = diagnosis
        self.detail = detail
        self.status = status


# --------------------------------------------------------------------------- input


# ------------------------------------------------------------------- diagnoses


def diagnose_metadata(step, exc=None, answer=None, url=None):
    """Diagnosis for a failed IMDS step (imds_token, role_name, aws_credentials, region)."""
    if exc is not None:
        if step == "imds_token" and exc.kind == "timeout":
            return Diagnosis(
                "metadata_no_answer",
                "The IMDSv2 token request (PUT %s) got no answer. Either the instance metadata service is not reachable from here, "
                "or the PUT answer is dropped because the IMDSv2 hop limit is 1 and this process runs one network hop away "
                "(container, network namespace)." % url,
                "Raise the hop limit and make sure the endpoint is on: aws ec2 modify-instance-metadata-options --instance-id INSTANCE_ID "
                "--http-endpoint enabled --http-tokens required --http-put-response-hop-limit 2. Also exempt 169.254.169.254 from any "
                "HTTP proxy (NO_PROXY).",
            )
        return Diagnosis(
            "metadata_unreachable",
            "The instance metadata service at %s did not answer (%s). Its endpoint may be disabled, or this is not an EC2 instance." % (url, exc.detail),
            "Enable it (aws ec2 modify-instance-metadata-options --instance-id INSTANCE_ID --http-endpoint enabled), or on hosts without "
            "instance metadata (ECS, EKS, on-premises) render the JSON in explicit mode (external_account_mode: explicit).",
        )
    status = answer.status if answer is not None else None
    if step == "imds_token":
        return Diagnosis(
            "metadata_token_refused",
            "The metadata service answered HTTP %s to the IMDSv2 token PUT; google-auth has no IMDSv1 fallback." % status,
            "Check that nothing (an HTTP proxy, a firewall rule) sits in front of %s, and that imdsv2_session_token_url is "
            "http://169.254.169.254/latest/api/token." % url,
        )
    if step == "role_name":
        if status == 404 or (answer is not None and not answer.text.strip()):
            return Diagnosis(
                "no_instance_role",
                "The metadata service lists no IAM role: no instance profile is attached to this instance.",
                "Attach an instance profile whose role is the one bound in Google Cloud: aws ec2 associate-iam-instance-profile "
                "--instance-id INSTANCE_ID --iam-instance-profile Name=PROFILE.",
            )
        return Diagnosis(
            "metadata_role_error",
            "Reading the role name from %s answered HTTP %s." % (url, status),
            "Check credential_source.url (http://169.254.169.254/latest/meta-data/iam/security-credentials).",
        )
    if step == "aws_credentials":
        return Diagnosis(
            "metadata_credentials_error",
            "Reading the role's credentials from %s answered HTTP %s (the instance profile may have changed or be propagating)." % (url, status),
            "Retry in a minute; if it persists, re-associate the instance profile.",
        )
    return Diagnosis(
        "region_unavailable",
        "Reading the availability zone from %s answered HTTP %s." % (url, status),
        "Point credential_source.region_url at http://169.254.169.254/latest/meta-data/placement/availability-zone, or set AWS_REGION "
        "in the proxy's environment.",
    )


def diagnose_region(region, source):
    """Diagnosis for a region value google-auth would sign with, or None when it looks right."""
    if REGION_RE.fullmatch(region or ""):
        return None
    if source == "region_url" and region and (region.endswith("-") or REGION_RE.fullmatch(region + "1")):
        cause = (
            "region_url answered a region, not an availability zone: google-auth cuts the last character of that answer, "
            "so it signs for %r." % region
        )
    else:
        cause = "The region google-auth would sign the AWS request for, %r (from %s), is not an AWS region." % (region, source)
    return Diagnosis(
        "wrong_region",
        cause,
        "region_url must be http://169.254.169.254/latest/meta-data/placement/availability-zone (an AZ such as us-east-1a); "
        "AWS_REGION / AWS_DEFAULT_REGION, when set, must be a region such as us-east-1; in explicit mode set aws_region_name.",
    )


def _google_error(answer):
    body = answer.json()
    err = body.get("error")
    if isinstance(err, dict):
        # Google API error shape: {"error": {"code", "message", "status", "details"}}
        return (err.get("status") or "").lower(), err.get("message") or "", err
    return (err or "").lower(), body.get("error_description") or answer.text[:300], body


def diagnose_sts(answer, context):
    kind, message, _raw = _google_error(answer)
    audience = context.get("audience")
    aud = names.parse_audience(audience) or {}
    if kind == "invalid_target":
        return Diagnosis(
            "invalid_target",
            "Google STS rejected the audience %s (invalid_target: %s). The pool or provider in it does not exist, is disabled, "
            "or is deleted (soft-deleted for 30 days), or the audience names another project/pool/provider than the one you created." % (audience, message),
            "Compare the audience with the provider: gcloud iam workload-identity-pools providers describe %s --workload-identity-pool=%s "
            "--location=global --project=%s --format='value(name,state,disabled)'. If state is DELETED, undelete it "
            "(gcloud iam workload-identity-pools providers undelete ...); if disabled, update it with --no-disabled; the audience must be "
            "//iam.googleapis.com/ + that name (with the project NUMBER)."
            % (aud.get("provider", "PROVIDER"), aud.get("pool", "POOL"), aud.get("project", "PROJECT")),
        )
    if kind == "unauthorized_client" and "condition" in message.lower():
        return Diagnosis(
            "attribute_condition",
            "The provider's attribute condition rejected this AWS identity (%s) — caller %s." % (message, context.get("caller_arn") or "unknown"),
            "Read the condition (gcloud iam workload-identity-pools providers describe ... --format='value(attributeCondition)') and make it "
            "admit this caller, e.g. attribute.aws_role == '%s', or run the workload under a role the condition admits."
            % (context.get("aws_role") or "arn:aws:sts::ACCOUNT_ID:assumed-role/ROLE"),
        )
    if kind == "unauthorized_client":
        return Diagnosis(
            "unauthorized_client",
            "Google STS refused the client (unauthorized_client: %s)." % message,
            "Check the provider's AWS account ID (aws.accountId) equals the instance's account %s." % (context.get("account_id") or ""),
        )
    if kind == "invalid_grant":
        lowered = message.lower()
        if "region" in lowered or "credential scope" in lowered or "signature" in lowered:
            return Diagnosis(
                "wrong_region",
                "Google STS could not verify the signed AWS GetCallerIdentity request (%s); it was signed for region %r." % (message, context.get("region")),
                "Let google-auth take the region from the availability zone (region_url), or fix AWS_REGION / aws_region_name; "
                "regional_cred_verification_url must keep the {region} placeholder.",
            )
        return Diagnosis(
            "aws_credentials_rejected",
            "Google STS rejected the AWS credentials (invalid_grant: %s): expired or revoked credentials, or a clock far off." % message,
            "Check the host clock (timedatectl), and that the credentials the host receives are current.",
        )
    if kind in ("invalid_request", "invalid_scope"):
        return Diagnosis(
            "sts_bad_request",
            "Google STS answered %s: %s." % (kind, message),
            "Re-render the credential JSON with the external_account role (subject_token_type, audience and token_url must be exact).",
        )
    return Diagnosis(
        "sts_error",
        "Google STS answered HTTP %s: %s %s." % (answer.status, kind, message),
        "Check token_url (%s) and retry; see the body for details." % context.get("token_url"),
    )


def binding_member(context):
    aud = names.parse_audience(context.get("audience")) or {}
    aws_role = context.get("aws_role")
    if not aws_role:
        aws_role = "arn:aws:sts::%s:assumed-role/%s" % (context.get("account_id") or "ACCOUNT_ID", context.get("role_name") or "ROLE")
    return aws_role_principal_set(aud.get("project", "PROJECT_NUMBER"), aud.get("pool", "POOL"), aws_role)


def diagnose_impersonation(answer, context):
    kind, message, raw = _google_error(answer)
    email = context.get("service_account") or "SERVICE_ACCOUNT_EMAIL"
    text = json.dumps(raw) if isinstance(raw, dict) else str(raw)
    if answer.status == 403 and ("SERVICE_DISABLED" in text or "has not been used" in message or "is disabled" in message):
        return Diagnosis(
            "iamcredentials_api_disabled",
            "The IAM Service Account Credentials API is disabled in the service account's project (%s)." % message,
            "gcloud services enable iamcredentials.googleapis.com --project=PROJECT.",
        )
    if answer.status == 403:
        member = binding_member(context)
        return Diagnosis(
            "binding_missing",
            "The federated identity may not impersonate %s: roles/iam.workloadIdentityUser is missing, or bound to a member that never "
            "matches (the arn:aws:iam::ACCT:role/ROLE form, or another pool): %s" % (email, message or "PERMISSION_DENIED"),
            "Grant it to the assumed-role principal set: gcloud iam service-accounts add-iam-policy-binding %s "
            "--role=roles/iam.workloadIdentityUser --member='%s' (module keyless.wif.gcp_service_account_iam_member)." % (email, member),
        )
    if answer.status == 404 or "not found" in message.lower():
        return Diagnosis(
            "service_account_not_found",
            "The service account %s does not exist (or was deleted): %s." % (email, message),
            "Create it, or fix the email in service_account_impersonation_url.",
        )
    if answer.status == 400 and "disabled" in message.lower():
        return Diagnosis(
            "service_account_disabled", "The service account %s is disabled: %s." % (email, message), "gcloud iam service-accounts enable %s." % email
        )
    if answer.status == 401:
        return Diagnosis(
            "federated_token_rejected",
            "IAM Credentials did not accept the federated token (%s)." % message,
            "The federated token is only valid for the IAM scope; re-render the JSON with service_account_impersonation_url.",
        )
    return Diagnosis("impersonation_error", "generateAccessToken answered HTTP %s: %s." % (answer.status, message), "See the answer body; retry.")


def diagnose_no_answer(hop, url, exc):
    return Diagnosis(
        "%s_unreachable" % hop,
        "%s (%s) did not answer: %s." % (hop, url, exc.detail),
        "Check DNS, routes, firewall and HTTPS proxy settings for %s from this host." % urllib.parse.urlparse(url).netloc,
    )


# --------------------------------------------------------------------------- hops


class Checker:
    """Runs the hops in order, stopping at the first failure."""

    def __init__(self, info, http=urllib_http, timeout=10.0, metadata_timeout=2.0, clock=time.monotonic, environ=None, explicit_supplier=None):
        self.info = info
        self.http = http
        self.timeout = timeout
        self.metadata_timeout = metadata_timeout
        self.clock = clock
        self.environ = os.environ if environ is None else environ
        self.explicit_supplier = explicit_supplier
        self.hops = []
        self.context = {
            "audience": info.get("audience"),
            "token_url": info.get("token_url") or "https://sts.googleapis.com/v1/token",
            "service_account": names.impersonated_email(info.get("service_account_impersonation_url")),
        }
        self.result = {}

    # each hop records {name, ok, duration_ms, detail[, status]}
    def _hop(self, name, func):
        start = self.clock()
        try:
            detail = func()
        except HopFailed as exc:
            self.hops.append(
                {"name": name, "ok": False, "duration_ms": round((self.clock() - start) * 1000, 1), "detail": exc.detail, "status": exc.status}
            )
            raise
        self.hops.append({"name": name, "ok": True, "duration_ms": round((self.clock() - start) * 1000, 1), "detail": detail})
        return detail

    # ec2 mode -----------------------------------------------------------------
    def _imds(self, step, method, url, headers):
        try:
            answer = self.http(method, url, headers=headers, timeout=self.metadata_timeout)
        except NoAnswer as exc:
            raise HopFailed(diagnose_metadata(step, exc=exc, url=url), "%s %s: %s" % (method, url, exc)) from exc
        if answer.status != 200:
            raise HopFailed(diagnose_metadata(step, answer=answer, url=url), "%s %s answered HTTP %s" % (method, url, answer.status), answer.status)
        return answer

    def run_ec2(self):
        source = self.info.get("credential_source") or {}
        env_key, env_secret = self.environ.get("AWS_ACCESS_KEY_ID"), self.environ.get("AWS_SECRET_ACCESS_KEY")
        token_headers = {}
        if env_key and env_secret:
            # google-auth takes these before asking the metadata service.
            self.creds = {"AccessKeyId": env_key, "SecretAccessKey": env_secret, "Token": self.environ.get("AWS_SESSION_TOKEN")}
            self._hop("aws_credentials", lambda: "from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY in the environment (metadata not asked)")
        else:
            token_url = source.get("imdsv2_session_token_url")
            if token_url:

                def imds_token():
                    answer = self._imds("imds_token", "PUT", token_url, {IMDS_TOKEN_TTL_HEADER: "300"})
                    token_headers[IMDS_TOKEN_HEADER] = answer.text
                    return "IMDSv2 session token received"

                self._hop("imds_token", imds_token)
            role_url = source.get("url")

            def role_name():
                if not role_url:
                    raise HopFailed(
                        Diagnosis("credential_source_incomplete", "credential_source has no url.", "Re-render the JSON with the external_account role."),
                        "credential_source.url missing",
                    )
                answer = self._imds("role_name", "GET", role_url, dict(token_headers))
                name = answer.text.strip().splitlines()[0] if answer.text.strip() else ""
                if not name:
                    raise HopFailed(diagnose_metadata("role_name", answer=HttpAnswer(404, b""), url=role_url), "empty role list")
                self.context["role_name"] = name
                return "instance role %s" % name

            self._hop("role_name", role_name)

            def credentials():
                url = "%s/%s" % (role_url, self.context["role_name"])
                answer = self._imds("aws_credentials", "GET", url, dict(token_headers))
                creds = answer.json()
                if not creds.get("AccessKeyId") or not creds.get("SecretAccessKey"):
                    raise HopFailed(diagnose_metadata("aws_credentials", answer=answer, url=url), "credentials JSON without AccessKeyId/SecretAccessKey")
                self.creds = creds
                return "temporary credentials %s…, expire %s" % (creds["AccessKeyId"][:4], creds.get("Expiration", "?"))

            self._hop("aws_credentials", credentials)
            self._lookup_account(source, token_headers)

        def region():
            for var in ("AWS_REGION", "AWS_DEFAULT_REGION"):
                if self.environ.get(var) is not None:
                    value, origin = self.environ[var], var
                    break
            else:
                region_url = source.get("region_url")
                if not region_url:
                    raise HopFailed(
                        Diagnosis("region_unavailable", "No AWS_REGION and no credential_source.region_url.", "Set region_url to the availability-zone URL."),
                        "no region source",
                    )
                answer = self._imds("region", "GET", region_url, dict(token_headers))
                value, origin = answer.text[:-1], "region_url"
            bad = diagnose_region(value, origin)
            if bad:
                raise HopFailed(bad, "region %r from %s" % (value, origin))
            self.context["region"] = value
            return "%s (from %s)" % (value, origin)

        self._hop("region", region)
        self.verification_url = source.get("regional_cred_verification_url") or DEFAULT_VERIFICATION_URL

    def _lookup_account(self, source, token_headers):
        """Account ID for the binding hint: the instance identity document, when served."""
        base = urllib.parse.urlparse(source.get("url") or "")
        if not base.scheme:
            return
        url = "%s://%s/latest/dynamic/instance-identity/document" % (base.scheme, base.netloc)
        try:
            answer = self.http("GET", url, headers=dict(token_headers), timeout=self.metadata_timeout)
        except NoAnswer:
            return
        if answer.status == 200:
            account = str(answer.json().get("accountId") or "")
            if ACCOUNT_ID_RE.fullmatch(account) and self.context.get("role_name"):
                self.context["account_id"] = account
                self.context["aws_role"] = "arn:aws:sts::%s:assumed-role/%s" % (account, self.context["role_name"])

    # explicit mode -------------------------------------------------------------
    def run_explicit(self):
        region = self.info.get("aws_region_name")

        def credentials():
            if self.explicit_supplier is None:
                raise HopFailed(
                    Diagnosis("explicit_unsupported", "No AWS credential resolver is available.", "Run the check with the proxy's virtualenv Python."),
                    "no resolver",
                )
            params = {k: self.info[k] for k in LITELLM_AWS_KEYS if k in self.info}
            try:
                creds, how = self.explicit_supplier(params)
            except Exception as exc:  # noqa: BLE001 - any resolver failure is the hop's outcome
                raise HopFailed(
                    Diagnosis(
                        "explicit_aws_credentials_failed",
                        "LiteLLM's AWS credential chain found no usable credentials (%s: %s)." % (type(exc).__name__, str(exc)[:300]),
                        "Check the aws_* keys in the JSON: aws_profile_name must name a profile in the proxy user's AWS config "
                        "(AWS_CONFIG_FILE), aws_role_name needs source credentials, aws_web_identity_token needs aws_role_name and aws_session_name.",
                    ),
                    "%s: %s" % (type(exc).__name__, str(exc)[:300]),
                ) from exc
            if creds is None or not creds.get("AccessKeyId") or not creds.get("SecretAccessKey"):
                raise HopFailed(
                    Diagnosis(
                        "explicit_aws_credentials_failed",
                        "LiteLLM's AWS credential chain returned no credentials.",
                        "Give the proxy AWS credentials: aws_profile_name (credential_process, IAM Roles Anywhere), aws_role_name + "
                        "aws_web_identity_token, or the standard AWS_* environment of the service.",
                    ),
                    "no credentials",
                )
            self.creds = creds
            return "credentials %s… via %s" % (creds["AccessKeyId"][:4], how)

        self._hop("aws_credentials", credentials)

        def region_hop():
            bad = diagnose_region(region, "aws_region_name")
            if bad:
                raise HopFailed(bad, "aws_region_name %r" % region)
            self.context["region"] = region
            return "%s (from aws_region_name)" % region

        self._hop("region", region_hop)
        # With a custom supplier google-auth always signs for the default verification URL.
        self.verification_url = DEFAULT_VERIFICATION_URL

    # Google hops -----------------------------------------------------------------
    def subject_token(self):
        from google.auth import aws  # imported lazily: the caller guards the import

        signer = aws.RequestSigner(self.context["region"])
        creds = aws.AwsSecurityCredentials(self.creds["AccessKeyId"], self.creds["SecretAccessKey"], self.creds.get("Token"))
        options = signer.get_request_options(creds, self.verification_url.replace("{region}", self.context["region"]), "POST")
        headers = options.get("headers")
        headers["x-goog-cloud-target-resource"] = self.info.get("audience")
        signed = {"url": options.get("url"), "method": options.get("method"), "headers": [{"key": k, "value": headers[k]} for k in headers]}
        return urllib.parse.quote(json.dumps(signed, separators=(",", ":"), sort_keys=True))

    def run_google(self):
        impersonate = self.info.get("service_account_impersonation_url")
        state = {}

        def sts():
            form = {
                "grant_type": TOKEN_EXCHANGE_GRANT,
                "audience": self.info.get("audience"),
                "scope": IAM_SCOPE if impersonate else CLOUD_PLATFORM_SCOPE,
                "requested_token_type": ACCESS_TOKEN_TYPE,
                "subject_token": self.subject_token(),
                "subject_token_type": self.info.get("subject_token_type"),
            }
            url = self.context["token_url"]
            try:
                answer = self.http(
                    "POST", url, headers={"Content-Type": "application/x-www-form-urlencoded"}, body=urllib.parse.urlencode(form), timeout=self.timeout
                )
            except NoAnswer as exc:
                raise HopFailed(diagnose_no_answer("sts_exchange", url, exc), str(exc)) from exc
            if answer.status != 200:
                raise HopFailed(diagnose_sts(answer, self.context), "HTTP %s %s" % (answer.status, answer.text[:300]), answer.status)
            body = answer.json()
            if not body.get("access_token"):
                raise HopFailed(Diagnosis("sts_error", "STS answered 200 without access_token.", "Check token_url."), "no access_token")
            state["federated"] = body["access_token"]
            self.result["federated_token_expires_in"] = body.get("expires_in")
            return "federated token, expires in %ss" % body.get("expires_in")

        self._hop("sts_exchange", sts)
        if not impersonate:
            return

        def impersonation():
            try:
                answer = self.http(
                    "POST",
                    impersonate,
                    headers={"Authorization": "Bearer %s" % state["federated"], "Content-Type": "application/json"},
                    body=json.dumps({"scope": [CLOUD_PLATFORM_SCOPE], "lifetime": "3600s"}),
                    timeout=self.timeout,
                )
            except NoAnswer as exc:
                raise HopFailed(diagnose_no_answer("impersonation", impersonate, exc), str(exc)) from exc
            if answer.status != 200:
                raise HopFailed(diagnose_impersonation(answer, self.context), "HTTP %s %s" % (answer.status, answer.text[:300]), answer.status)
            body = answer.json()
            expiry = body.get("expireTime")
            if not body.get("accessToken") or not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z", expiry or ""):
                raise HopFailed(
                    Diagnosis(
                        "impersonation_bad_answer",
                        "generateAccessToken answered without accessToken or with an expireTime google-auth cannot parse (%r)." % expiry,
                        "google-auth needs expireTime as %Y-%m-%dT%H:%M:%SZ.",
                    ),
                    "bad answer",
                )
            self.result["access_token_expiry"] = expiry
            return "access token for %s, expires %s" % (self.context.get("service_account"), expiry)

        self._hop("impersonation", impersonation)

    def run(self):
        mode = external_account.mode(self.info)
        problems = external_account.problems(self.info)
        self.result.update({"mode": mode, "service_account": self.context["service_account"],
                            "service_account_project": names.service_account_project(self.context["service_account"]),
                            "audience": self.info.get("audience")})
        if problems:
            code, message, fix = problems[0]
            return self._finish(Diagnosis(code, message, fix), failed_hop="config")
        try:
            if mode == "explicit":
                self.run_explicit()
            else:
                self.run_ec2()
            self.run_google()
        except HopFailed as exc:
            return self._finish(exc.diagnosis, failed_hop=self.hops[-1]["name"] if self.hops else "config")
        return self._finish(None, None)

    def _finish(self, diagnosis, failed_hop):
        caller = {k: self.context.get(k) for k in ("role_name", "account_id", "aws_role", "region")}
        self.result.update(
            {
                "ok": diagnosis is None,
                "hops": self.hops,
                "failed_hop": failed_hop,
                "diagnosis": diagnosis.as_dict() if diagnosis else None,
                "caller": caller,
                # The member roles/iam.workloadIdentityUser must name for this caller (the controller
                # looks for it in the policy when a binding seems missing).
                "principal_set": binding_member(self.context) if self.context.get("aws_role") else None,
                "total_ms": round(sum(h["duration_ms"] for h in self.hops), 1),
            }
        )
        return self.result


def propagation_verdict(check, policy_read):
    """Why a check that waited for propagation still failed, from what the controller saw.

    ``check`` is a wif_credentials_check result; ``policy_read`` the result of
    keyless.wif.gcp_service_account_iam_member run in check mode for its principal_set (or
    None when the controller did not look).  The binding is in the policy when that run
    would change nothing.
    """
    diagnosis = (check or {}).get("diagnosis") or {}
    code = diagnosis.get("code", "")
    waited = (check or {}).get("waited_seconds", 0)
    if code != "binding_missing":
        return ""
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
