# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Input validation for the GCP modules.

Every check raises ValidationError naming the option and the rule it broke, and
runs before any credential is loaded or any request is sent.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from ansible_collections.keyless.wif.plugins.module_utils.wif.cel import CelSyntaxError, check_syntax
from ansible_collections.keyless.wif.plugins.module_utils.wif.names import (
    ACCOUNT_ID_RE,
    EMAIL_RE,
    PROJECT_ID_RE,
    PROJECT_NUMBER_RE,
    SA_ACCOUNT_ID_RE,
    WIF_ID_RE,
    ArnError,
    role_identity,
    service_account_email,
)


class ValidationError(ValueError):
    def __init__(self, field, rule, value=None):
        self.field = field
        self.rule = rule
        self.value = value
        shown = value if not isinstance(value, str) or len(value) <= 80 else value[:77] + "..."
        text = "%s %s" % (field, rule)
        if value is not None:
            text += " (got %r)" % (shown,)
        super().__init__(text)


# Limits from the IAM and Resource Manager API references. Name shapes live in names.py; every
# pattern is a whole-string pattern used with fullmatch and ASCII classes only.
ROLE_RE = re.compile(r"roles/[A-Za-z0-9_.]+|(projects|organizations)/[A-Za-z0-9_.:-]+/roles/[A-Za-z0-9_.]{3,64}")
SERVICE_RE = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+")
MAPPING_KEY_RE = re.compile(r"google\.(subject|groups|display_name|posix_username)|attribute\.[a-z0-9_]{1,100}")
HOSTNAME_RE = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*\.?")

# What a provider's attributeCondition may name (Google: "assertion, google and attribute"),
# and what a mapping expression may name (only the AWS assertion).
CONDITION_VARIABLES = ("assertion", "attribute", "google")
MAPPING_VARIABLES = ("assertion",)

WIF_DISPLAY_NAME_MAX = 32
WIF_DESCRIPTION_MAX = 256
SA_DISPLAY_NAME_MAX = 100
SA_DESCRIPTION_MAX = 256
CEL_MAX = 4096
MAPPING_EXPR_MAX = 2048
MAPPING_CUSTOM_MAX = 50
CONDITION_TITLE_MAX = 100
CONDITION_DESCRIPTION_MAX = 256

MEMBER_PREFIXES = ("user:", "serviceAccount:", "group:", "domain:", "principal://", "principalSet://",
                   "deleted:user:", "deleted:serviceAccount:", "deleted:group:")
MEMBER_SPECIAL = ("allUsers", "allAuthenticatedUsers")


def check_project(value, field="project"):
    if not isinstance(value, str) or not (PROJECT_ID_RE.fullmatch(value) or PROJECT_NUMBER_RE.fullmatch(value)):
        raise ValidationError(field, "must be a project ID (6-30 chars, lowercase letters, digits and hyphens, "
                                     "starting with a letter, not ending with a hyphen) or a project number", value)


def check_wif_id(field, value):
    if not isinstance(value, str) or not WIF_ID_RE.fullmatch(value):
        raise ValidationError(field, "must be 4-32 characters of lowercase letters, digits and hyphens [a-z0-9-]",
                              value)
    if value.startswith("gcp-"):
        raise ValidationError(field, "must not start with the reserved prefix 'gcp-'", value)


def check_sa_account_id(field, value):
    if not isinstance(value, str) or not 6 <= len(value) <= 30 or not SA_ACCOUNT_ID_RE.fullmatch(value):
        raise ValidationError(field, "must be 6-30 characters matching [a-z]([-a-z0-9]*[a-z0-9])", value)


def check_length(field, value, maximum):
    if value is None:
        return
    if not isinstance(value, str):
        raise ValidationError(field, "must be a string", value)
    if len(value) > maximum:
        raise ValidationError(field, "must be at most %d characters (is %d)" % (maximum, len(value)))


def check_utf8_length(field, value, maximum):
    """Google counts some limits in UTF-8 bytes (service-account display name and description)."""
    if value is None:
        return
    if not isinstance(value, str):
        raise ValidationError(field, "must be a string", value)
    size = len(value.encode("utf-8"))
    if size > maximum:
        raise ValidationError(field, "must be at most %d UTF-8 bytes (is %d)" % (maximum, size))


def check_url(field, value, schemes=("https", "http")):
    """An absolute URL with one of ``schemes`` and a host name or IP address."""
    if not isinstance(value, str) or not value:
        raise ValidationError(field, "must be an %s URL" % " or ".join("%s://" % s for s in schemes), value)
    parts = urlsplit(value)
    host = parts.hostname or ""
    problem = None
    if parts.scheme not in schemes or not value.startswith(parts.scheme + "://"):
        problem = "must be an %s URL" % " or ".join("%s://" % s for s in schemes)
    elif any(c.isspace() or ord(c) < 32 or ord(c) > 126 for c in value):
        problem = "must not contain white space, control or non-ASCII characters"
    elif not host or not (HOSTNAME_RE.fullmatch(host) or _is_ip(host)):
        problem = "must name a host (scheme://HOST[:PORT][/PATH])"
    elif parts.query or parts.fragment:
        problem = "must not carry a query or fragment"
    else:
        try:
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError:
            problem = "has an invalid port"
    if problem:
        raise ValidationError(field, problem, value)
    return value


def _is_ip(host):
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def check_email_project(field, email, project_id):
    """A service-account e-mail must belong to the project the module manages."""
    wanted = service_account_email(email.split("@", 1)[0], project_id).split("@", 1)[1]
    if email.split("@", 1)[1] != wanted:
        raise ValidationError(field, "is an e-mail of another project (a service account of project %s ends in "
                                     "@%s); set project to the account's own project" % (project_id, wanted), email)


def check_aws_account_id(field, value):
    if not isinstance(value, str) or not ACCOUNT_ID_RE.fullmatch(value):
        raise ValidationError(field, "must be a 12-digit AWS account ID as a string (quote it in YAML)", value)


def check_cel(field, value, maximum=CEL_MAX, variables=None):
    """A CEL expression Google would parse; ``variables`` limits the names it may use."""
    if value is None:
        return
    if not isinstance(value, str):
        raise ValidationError(field, "must be a CEL expression string", value)
    if not value.strip():
        raise ValidationError(field, "must not be empty or blank (omit it instead)", value)
    check_length(field, value, maximum)
    try:
        check_syntax(value, variables=variables)
    except CelSyntaxError as exc:
        raise ValidationError(field, "is not a valid CEL expression: %s" % exc, value) from None


def check_attribute_mapping(field, mapping):
    if mapping is None:
        return
    if not isinstance(mapping, dict):
        raise ValidationError(field, "must be a dict of attribute name to CEL expression", mapping)
    if not mapping:
        raise ValidationError(field, "must not be empty (omit it to use Google's default AWS mapping)")
    if "google.subject" not in mapping:
        raise ValidationError(field, "must map google.subject (Google rejects mappings without it)",
                              sorted(mapping))
    for key in mapping:
        if not MAPPING_KEY_RE.fullmatch(str(key)):
            raise ValidationError("%s[%s]" % (field, key), "key must be google.subject, google.groups, "
                                  "google.display_name, google.posix_username or attribute.NAME with NAME in "
                                  "[a-z0-9_] (at most 100 characters)", key)
    custom = sum(1 for key in mapping if key.startswith("attribute."))
    for key, expr in mapping.items():
        if not isinstance(expr, str):
            raise ValidationError("%s[%s]" % (field, key), "must be a CEL expression string", expr)
        check_cel("%s[%s]" % (field, key), expr, MAPPING_EXPR_MAX, variables=MAPPING_VARIABLES)
    if custom > MAPPING_CUSTOM_MAX:
        raise ValidationError(field, "may define at most %d custom attributes (has %d)" % (MAPPING_CUSTOM_MAX, custom))


def check_member(field, value):
    if not isinstance(value, str) or not value:
        raise ValidationError(field, "must be a non-empty member string", value)
    if value in MEMBER_SPECIAL:
        return
    if not value.startswith(MEMBER_PREFIXES):
        raise ValidationError(field, "must start with one of %s or be allUsers/allAuthenticatedUsers"
                              % ", ".join(MEMBER_PREFIXES[:6]), value)
    if value.startswith(("user:", "serviceAccount:", "group:", "deleted:")):
        email = value.split(":")[-1].split("?")[0]
        if not EMAIL_RE.fullmatch(email):
            raise ValidationError(field, "must carry an e-mail address after the prefix", value)
    elif value.startswith("domain:"):
        if "." not in value[len("domain:"):]:
            raise ValidationError(field, "must carry a domain name after domain:", value)
    elif value.startswith(("principal://", "principalSet://")):
        rest = value.split("://", 1)[1]
        if not rest.startswith("iam.googleapis.com/") or len(rest.split("/")) < 4:
            raise ValidationError(field, "must look like principal[Set]://iam.googleapis.com/...", value)


def check_role(field, value):
    if not isinstance(value, str) or not ROLE_RE.fullmatch(value):
        raise ValidationError(field, "must be roles/NAME, projects/P/roles/NAME or organizations/O/roles/NAME",
                              value)


def check_condition(field, condition):
    if condition is None:
        return
    if not isinstance(condition, dict):
        raise ValidationError(field, "must be a dict with title, expression and optional description", condition)
    title = condition.get("title")
    if not title:
        raise ValidationError(field + ".title", "is required for an IAM condition")
    check_length(field + ".title", title, CONDITION_TITLE_MAX)
    check_length(field + ".description", condition.get("description"), CONDITION_DESCRIPTION_MAX)
    if not condition.get("expression"):
        raise ValidationError(field + ".expression", "is required for an IAM condition")
    check_cel(field + ".expression", condition["expression"])


def check_service_name(field, value):
    if not isinstance(value, str) or not SERVICE_RE.fullmatch(value) or len(value) > 253:
        hint = ""
        if isinstance(value, str) and "." not in value and value:
            hint = " such as %s.googleapis.com" % value
        raise ValidationError(field, "must be a full service name%s" % (hint or " such as iam.googleapis.com"),
                              value)


def parse_aws_role_arn(field, value):
    """Describe an AWS role ARN (names.role_identity) or raise ValidationError.

    Accepts ``arn:PART:iam::ACCT:role[/path]/NAME`` and
    ``arn:PART:sts::ACCT:assumed-role/NAME[/SESSION]``; IAM users are refused
    because the option is about roles.
    """
    try:
        identity = role_identity(value, field)
    except ArnError as exc:
        raise ValidationError(field, "must be an AWS role ARN: %s" % str(exc).split(field, 1)[-1].strip(), value) from None
    if identity["kind"] == "user":
        raise ValidationError(field, "names an IAM user; give a role ARN (arn:aws:iam::ACCOUNT:role/NAME)", value)
    if value.split(":")[3]:
        raise ValidationError(field, "must not carry a region (IAM and STS ARNs are global)", value)
    return identity
