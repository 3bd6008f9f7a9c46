# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""AWS ARN parsing and the forms Google's default AWS attribute mapping produces.

An EC2 instance calls STS as ``arn:aws:sts::ACCT:assumed-role/ROLE/i-0abc...``; Google's
default mapping turns that into ``attribute.aws_role = arn:aws:sts::ACCT:assumed-role/ROLE``.
The widely copied IAM form ``arn:aws:iam::ACCT:role/ROLE`` never matches it, so every
binding this collection writes is built from the assumed-role form.
"""

from __future__ import annotations

import re

PARTITIONS = ("aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b", "aws-iso-e", "aws-iso-f", "aws-eusc")
# Whole-string patterns (always used with fullmatch) with ASCII classes only: `$` would let a
# trailing newline through, and `\w` would admit Unicode letters AWS refuses.
ACCOUNT_ID_RE = re.compile(r"[0-9]{12}")
ROLE_NAME_RE = re.compile(r"[A-Za-z0-9+=,.@_-]{1,64}")
SESSION_NAME_RE = re.compile(r"[A-Za-z0-9+=,.@_-]{2,64}")
# AWS region names (us-east-1, us-gov-west-1, cn-north-1, eu-isoe-west-1...).
REGION_RE = re.compile(r"[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]+")
# IAM paths: "/" or "/SEG/.../" of printable ASCII (IAM API reference, Path parameter).
ROLE_PATH_SEGMENT_RE = re.compile(r"[\x21-\x2E\x30-\x7E]+")
# The resource part is checked by kind below, for messages that name what is wrong.
_ARN_RE = re.compile(r"arn:(?P<partition>[a-z-]+):(?P<service>[a-z0-9-]+):(?P<region>[a-z0-9-]*):(?P<account>[0-9]{12}):"
                     r"(?P<resource>.+)")


class ArnError(ValueError):
    """An ARN that is not one of the shapes this collection understands."""


def parse_arn(arn, field="arn"):
    """Split an ARN into its parts, or raise ArnError naming the field and the rule."""
    if not isinstance(arn, str):
        raise ArnError("%s must be a string ARN, got %s" % (field, type(arn).__name__))
    match = _ARN_RE.fullmatch(arn)
    if not match or match.group("partition") not in PARTITIONS:
        raise ArnError(
            "%s must be an ARN of the form arn:PARTITION:SERVICE:REGION:ACCOUNT_ID(12 digits):RESOURCE, got %r" % (field, arn)
        )
    return match.groupdict()


def role_identity(arn, field="arn"):
    """Describe an IAM role ARN, an STS assumed-role ARN, or an IAM user ARN.

    Returns a dict with kind (role|assumed-role|user), partition, account_id, name,
    session_name (assumed-role only), iam_arn and aws_role (the value of Google's
    default ``attribute.aws_role`` mapping for a caller with this identity).
    """
    parts = parse_arn(arn, field)
    partition, account, resource = parts["partition"], parts["account"], parts["resource"]
    if parts["service"] == "iam" and resource.startswith("role/"):
        # role/PATH/NAME: the path is not part of the assumed-role ARN STS reports.
        pieces = resource.split("/")
        name = pieces[-1]
        if len(resource) > 512 + 70 or not all(ROLE_PATH_SEGMENT_RE.fullmatch(seg) for seg in pieces[1:-1]):
            raise ArnError("%s has an invalid role path (segments of printable ASCII between slashes) in %r" % (field, arn))
        _check_role_name(name, field, arn)
        return {
            "kind": "role",
            "partition": partition,
            "account_id": account,
            "name": name,
            "session_name": None,
            "iam_arn": arn,
            "aws_role": "arn:%s:sts::%s:assumed-role/%s" % (partition, account, name),
        }
    if parts["service"] == "sts" and resource.startswith("assumed-role/"):
        pieces = resource.split("/")
        if len(pieces) not in (2, 3) or not pieces[1]:
            raise ArnError("%s must look like arn:aws:sts::ACCOUNT_ID:assumed-role/ROLE[/SESSION], got %r" % (field, arn))
        name = pieces[1]
        _check_role_name(name, field, arn)
        if len(pieces) == 3 and not SESSION_NAME_RE.fullmatch(pieces[2]):
            raise ArnError("%s has an invalid session name %r (2-64 of letters, digits and +=,.@_-) in %r"
                           % (field, pieces[2], arn))
        return {
            "kind": "assumed-role",
            "partition": partition,
            "account_id": account,
            "name": name,
            "session_name": pieces[2] if len(pieces) == 3 else None,
            "iam_arn": "arn:%s:iam::%s:role/%s" % (partition, account, name),
            "aws_role": "arn:%s:sts::%s:assumed-role/%s" % (partition, account, name),
        }
    if parts["service"] == "iam" and resource.startswith("user/"):
        _check_role_name(resource.rsplit("/", 1)[-1], field, arn)
        return {
            "kind": "user",
            "partition": partition,
            "account_id": account,
            "name": resource.rsplit("/", 1)[-1],
            "session_name": None,
            "iam_arn": arn,
            # Google's default mapping passes non-assumed-role ARNs through unchanged.
            "aws_role": arn,
        }
    if parts["service"] == "iam" and resource == "root":
        raise ArnError("%s names the account root user (%r); give an IAM role ARN (arn:aws:iam::ACCOUNT_ID:role/NAME)"
                       % (field, arn))
    if parts["service"] == "sts" and resource.startswith("federated-user/"):
        raise ArnError("%s names an STS federated user (%r); give an IAM role ARN (arn:aws:iam::ACCOUNT_ID:role/NAME)"
                       % (field, arn))
    raise ArnError(
        "%s must be an IAM role ARN (arn:aws:iam::ACCOUNT_ID:role/NAME), an STS assumed-role ARN "
        "(arn:aws:sts::ACCOUNT_ID:assumed-role/NAME/SESSION) or an IAM user ARN, got %r" % (field, arn)
    )


def _check_role_name(name, field, arn):
    if not ROLE_NAME_RE.fullmatch(name):
        raise ArnError("%s has an invalid role name %r (1-64 of letters, digits and +=,.@_-) in %r" % (field, name, arn))


def pool_name(project_number, pool_id):
    return "projects/%s/locations/global/workloadIdentityPools/%s" % (project_number, pool_id)


def aws_role_principal_set(project_number, pool_id, aws_role):
    """The IAM member that matches every session of one AWS role under the default mapping."""
    return "principalSet://iam.googleapis.com/%s/attribute.aws_role/%s" % (pool_name(project_number, pool_id), aws_role)
