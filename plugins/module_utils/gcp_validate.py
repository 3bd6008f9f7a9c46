# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Input validation for the GCP modules.

Every check raises ValidationError naming the option and the rule it broke, and
runs before any credential is loaded or any request is sent.
"""

from __future__ import annotations

import re

from ansible_collections.keyless.wif.plugins.module_utils.aws_arn import ArnError, role_identity


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


# Limits from the IAM and Resource Manager API references.
WIF_ID_RE = re.compile(r"^[a-z0-9-]{4,32}$")
SA_ACCOUNT_ID_RE = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])$")
PROJECT_ID_RE = re.compile(r"^(?:[a-z0-9.-]+\.[a-z]{2,}:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$")
PROJECT_NUMBER_RE = re.compile(r"^[0-9]{1,20}$")
AWS_ACCOUNT_RE = re.compile(r"^[0-9]{12}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
ROLE_RE = re.compile(r"^(roles/[A-Za-z0-9_.]+|(projects|organizations)/[A-Za-z0-9_.:-]+/roles/[A-Za-z0-9_.]{3,64})$")
SERVICE_RE = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$")
MAPPING_KEY_RE = re.compile(r"^(google\.(subject|groups|display_name|posix_username)|attribute\.[a-z0-9_]{1,100})$")

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
    if not isinstance(value, str) or not (PROJECT_ID_RE.match(value) or PROJECT_NUMBER_RE.match(value)):
        raise ValidationError(field, "must be a project ID (6-30 chars, lowercase letters, digits and hyphens, "
                                     "starting with a letter, not ending with a hyphen) or a project number", value)


def check_wif_id(field, value):
    if not isinstance(value, str) or not WIF_ID_RE.match(value):
        raise ValidationError(field, "must be 4-32 characters of lowercase letters, digits and hyphens [a-z0-9-]",
                              value)
    if value.startswith("gcp-"):
        raise ValidationError(field, "must not start with the reserved prefix 'gcp-'", value)


def check_sa_account_id(field, value):
    if not isinstance(value, str) or not 6 <= len(value) <= 30 or not SA_ACCOUNT_ID_RE.match(value):
        raise ValidationError(field, "must be 6-30 characters matching [a-z]([-a-z0-9]*[a-z0-9])", value)


def check_length(field, value, maximum):
    if value is not None and len(value) > maximum:
        raise ValidationError(field, "must be at most %d characters (is %d)" % (maximum, len(value)))


def check_aws_account_id(field, value):
    if not isinstance(value, str) or not AWS_ACCOUNT_RE.match(value):
        raise ValidationError(field, "must be a 12-digit AWS account ID as a string (quote it in YAML)", value)


def check_cel(field, value, maximum=CEL_MAX):
    if value is None:
        return
    if not value.strip():
        raise ValidationError(field, "must not be empty or blank (omit it instead)", value)
    check_length(field, value, maximum)
    problem = _cel_shape_problem(value)
    if problem:
        raise ValidationError(field, "is not a valid CEL expression: %s" % problem, value)


def _cel_shape_problem(text):
    """Cheap structural check (brackets, string literals); Google parses the rest."""
    pairs = {")": "(", "]": "[", "}": "{"}
    stack = []
    quote = None
    escaped = False
    for char in text:
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = None
            continue
        if char in ("'", '"'):
            quote = char
        elif char in "([{":
            stack.append(char)
        elif char in pairs and (not stack or stack.pop() != pairs[char]):
            return "unbalanced %r" % char
    if quote:
        return "unterminated %s string" % quote
    if stack:
        return "unbalanced parentheses/brackets (%r not closed)" % stack[-1]
    return None


def check_attribute_mapping(field, mapping):
    if mapping is None:
        return
    if not mapping:
        raise ValidationError(field, "must not be empty (omit it to use Google's default AWS mapping)")
    if "google.subject" not in mapping:
        raise ValidationError(field, "must map google.subject (Google rejects mappings without it)",
                              sorted(mapping))
    custom = 0
    for key, expr in mapping.items():
        if not MAPPING_KEY_RE.match(str(key)):
            raise ValidationError("%s[%s]" % (field, key), "key must be google.subject, google.groups, "
                                  "google.display_name, google.posix_username or attribute.NAME with NAME in "
                                  "[a-z0-9_] (at most 100 characters)", key)
        if key.startswith("attribute."):
            custom += 1
        if not isinstance(expr, str):
            raise ValidationError("%s[%s]" % (field, key), "must be a CEL expression string", expr)
        check_cel("%s[%s]" % (field, key), expr, MAPPING_EXPR_MAX)
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
        if not EMAIL_RE.match(email):
            raise ValidationError(field, "must carry an e-mail address after the prefix", value)
    elif value.startswith("domain:"):
        if "." not in value[len("domain:"):]:
            raise ValidationError(field, "must carry a domain name after domain:", value)
    elif value.startswith(("principal://", "principalSet://")):
        rest = value.split("://", 1)[1]
        if not rest.startswith("iam.googleapis.com/") or len(rest.split("/")) < 4:
            raise ValidationError(field, "must look like principal[Set]://iam.googleapis.com/...", value)


def check_role(field, value):
    if not isinstance(value, str) or not ROLE_RE.match(value):
        raise ValidationError(field, "must be roles/NAME, projects/P/roles/NAME or organizations/O/roles/NAME",
                              value)


def check_condition(field, condition):
    if condition is None:
        return
    title = condition.get("title")
    if not title:
        raise ValidationError(field + ".title", "is required for an IAM condition")
    check_length(field + ".title", title, CONDITION_TITLE_MAX)
    check_length(field + ".description", condition.get("description"), CONDITION_DESCRIPTION_MAX)
    if not condition.get("expression"):
        raise ValidationError(field + ".expression", "is required for an IAM condition")
    check_cel(field + ".expression", condition["expression"])


def check_service_name(field, value):
    if not isinstance(value, str) or not SERVICE_RE.match(value) or len(value) > 253:
        hint = ""
        if isinstance(value, str) and "." not in value and value:
            hint = " such as %s.googleapis.com" % value
        raise ValidationError(field, "must be a full service name%s" % (hint or " such as iam.googleapis.com"),
                              value)


def parse_aws_role_arn(field, value):
    """Describe an AWS role ARN (aws_arn.role_identity) or raise ValidationError.

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
