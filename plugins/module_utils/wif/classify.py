# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""From the hops google-auth's refresh made (transport.Recorder) to one diagnosis code.

google-auth stops at the first failure, so the last recorded hop is the one that failed; what
it answered (status, Google's error status, message and ErrorInfo reason) or the exception it
met decides the code. The texts live in diagnoses.DIAGNOSES.
"""

from __future__ import annotations

import os

from ansible_collections.keyless.wif.plugins.module_utils.wif.names import REGION_RE
from ansible_collections.keyless.wif.plugins.module_utils.wif.transport import GOOGLE_HOPS, METADATA_HOPS


def _metadata(hop):
    name = hop["name"]
    if "method" not in hop:  # a step without a request: env/explicit credentials or region
        return "region_unavailable" if name == "region" else "credential_source_incomplete"
    if "status" not in hop:
        return "metadata_no_answer" if name == "imds_token" and hop.get("failure") == "timeout" else "metadata_unreachable"
    if hop["ok"]:  # answered 200 with something google-auth could not use
        return {"aws_credentials": "metadata_credentials_error", "region": "region_unavailable"}.get(name, "metadata_role_error")
    if name == "imds_token":
        return "metadata_token_refused"
    if name == "role_name":
        return "no_instance_role" if hop["status"] == 404 else "metadata_role_error"
    if name == "aws_credentials":
        return "metadata_credentials_error"
    return "region_unavailable"


def _aws_runtime(error):
    """The code of a botocore failure of IRSA (AssumeRoleWithWebIdentity) or a container endpoint, else None."""
    text = error or ""
    lower = text.lower()
    if lower.startswith("filenotfounderror"):
        # botocore opens the token files itself and lets a missing one through unwrapped
        for variable, code in (("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "container_credentials_token_missing"),
                               ("AWS_WEB_IDENTITY_TOKEN_FILE", "web_identity_token_missing")):
            path = os.environ.get(variable)
            if path and text.endswith(": " + path):
                return code
        return None
    if "assumerolewithwebidentity" in lower:
        if "(expiredtokenexception)" in lower:
            return "web_identity_token_expired"
        if "(invalididentitytoken)" in lower:
            if "audience" in lower:
                return "web_identity_audience"
            if "no openidconnect provider" in lower:
                return "web_identity_provider_missing"
            return "web_identity_token_rejected"
        if "(accessdenied)" in lower:
            return "web_identity_role_denied"
        return None
    if "container metadata" not in lower and "container-role" not in lower:
        return None
    if "received non 200 response" in lower:
        if "service account token cannot be empty" in lower:
            return "container_credentials_token_missing"
        if "token is expired" in lower or "(expiredtokenexception)" in lower:
            return "container_credentials_token_expired"
        if any(word in lower for word in (" 400 ", " 401 ", " 403 ")) or "resourcenotfoundexception" in lower:
            return "container_credentials_unauthorized"
        return "container_credentials_error"
    if "attempting to retrieve container metadata" in lower or "could not connect" in lower or "timeout" in lower:
        return "container_credentials_unreachable"
    return "container_credentials_error"


def _sts(hop, region):
    err = hop.get("google_error") or {}
    kind = (err.get("status") or "").lower()
    message = (err.get("message") or "").lower()
    if kind == "invalid_target":
        return "invalid_target"
    if kind == "unauthorized_client":
        return "attribute_condition" if "condition" in message else "unauthorized_client"
    if "account" in message and ("match" in message or "not configured" in message):
        return "aws_account_mismatch"
    if kind == "invalid_grant":
        if (region and not REGION_RE.fullmatch(region)) or "region" in message or "credential scope" in message:
            return "wrong_region"
        return "aws_credentials_rejected"
    if kind in ("invalid_request", "invalid_scope", "unsupported_grant_type"):
        return "sts_bad_request"
    return "sts_error"


def _impersonation(hop):
    if hop["ok"]:
        return "impersonation_bad_answer"
    err = hop.get("google_error") or {}
    status, message = hop["status"], (err.get("message") or "").lower()
    if status == 403 and (err.get("reason") == "SERVICE_DISABLED" or "has not been used" in message or "is disabled" in message):
        return "iamcredentials_api_disabled"
    if status == 403:
        return "binding_missing"
    if status == 404 or "not found" in message:
        return "service_account_not_found"
    if status == 400 and (err.get("status") == "FAILED_PRECONDITION" or "disabled" in message):
        return "service_account_disabled"
    if status == 401:
        return "federated_token_rejected"
    return "impersonation_error"


def classify(hops, mode, region=None):
    """(code, failed hop name) for a refresh that raised, after ``hops`` were recorded."""
    if not hops:
        return "refresh_failed", "config"
    hop = hops[-1]
    name = hop["name"]
    if hop.get("failure") == "proxy":
        return "proxy_failed", name
    if name == "aws_credentials" and mode == "explicit" and "method" not in hop:
        return _aws_runtime(hop.get("error")) or "explicit_aws_credentials_failed", name
    if name == "region" and "method" not in hop and hop["ok"] is False:
        return "region_unavailable", name
    if name in METADATA_HOPS:
        return _metadata(hop), name
    if name in GOOGLE_HOPS and "status" not in hop:
        return "%s_unreachable" % name, name
    if name == "sts_exchange":
        return (_sts(hop, region) if not hop["ok"] else "sts_error"), name
    if name == "impersonation":
        return _impersonation(hop), name
    return "refresh_failed", name
