# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every name the federation passes around: one parser and one formatter each.

AWS ARNs (and the forms Google's default AWS attribute mapping produces), pool and provider
resource names, the provider's audience, the principalSet member, and service-account
e-mails (and the impersonation URL that carries one). Nothing else in the collection
builds or splits these strings.

An EC2 instance calls STS as ``arn:aws:sts::ACCT:assumed-role/ROLE/i-0abc...``; Google's
default mapping turns that into ``attribute.aws_role = arn:aws:sts::ACCT:assumed-role/ROLE``.
The widely copied IAM form ``arn:aws:iam::ACCT:role/ROLE`` never matches it, so every
binding this collection writes is built from the assumed-role form.
"""

from __future__ import annotations

import re
import urllib.parse

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
            "aws_role": assumed_role_arn(partition, account, name),
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
            "iam_arn": role_arn(partition, account, name),
            "aws_role": assumed_role_arn(partition, account, name),
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


def assumed_role_arn(partition, account_id, role_name):
    """What Google's default mapping puts in attribute.aws_role for every session of a role."""
    return "arn:%s:sts::%s:assumed-role/%s" % (partition, account_id, role_name)


def role_arn(partition, account_id, role_name):
    return "arn:%s:iam::%s:role/%s" % (partition, account_id, role_name)


def _check_role_name(name, field, arn):
    if not ROLE_NAME_RE.fullmatch(name):
        raise ArnError("%s has an invalid role name %r (1-64 of letters, digits and +=,.@_-) in %r" % (field, name, arn))


# --------------------------------------------------------------------------- Google names

IAM_HOST = "iam.googleapis.com"
SA_EMAIL_SUFFIX = ".iam.gserviceaccount.com"
# Whole-string patterns, used with fullmatch (`$` would let a trailing newline through).
_POOL_RE = re.compile(r"projects/(?P<project>[^/\s]+)/locations/global/workloadIdentityPools/(?P<pool>[^/\s]+)")
_PROVIDER_RE = re.compile(_POOL_RE.pattern + r"/providers/(?P<provider>[^/\s]+)")
_AUDIENCE_RE = re.compile(r"//" + re.escape(IAM_HOST) + "/" + _PROVIDER_RE.pattern)
_IMPERSONATION_PATH_RE = re.compile(r"/projects/[^/]+/serviceAccounts/(?P<email>[^/:]+):generateAccessToken\Z")


def pool_name(project_number, pool_id):
    return "projects/%s/locations/global/workloadIdentityPools/%s" % (project_number, pool_id)


def provider_name(project_number, pool_id, provider_id):
    return "%s/providers/%s" % (pool_name(project_number, pool_id), provider_id)


def parse_pool_name(name):
    """{project, pool} of projects/P/locations/global/workloadIdentityPools/POOL, else None."""
    match = _POOL_RE.fullmatch(name or "")
    return match.groupdict() if match else None


def parse_provider_name(name):
    """{project, pool, provider} of a provider resource name, else None."""
    match = _PROVIDER_RE.fullmatch(name or "")
    return match.groupdict() if match else None


def audience(project_number, pool_id, provider_id):
    """The external_account audience: the provider's resource name on iam.googleapis.com."""
    return audience_of(provider_name(project_number, pool_id, provider_id))


def audience_of(provider_resource_name):
    """The audience for a provider's full resource name (projects/NUMBER/.../providers/ID)."""
    return "//%s/%s" % (IAM_HOST, provider_resource_name)


def parse_audience(value):
    """{project, pool, provider} of an audience, else None."""
    match = _AUDIENCE_RE.fullmatch(value or "") if isinstance(value, str) else None
    return match.groupdict() if match else None


def aws_role_principal_set(project_number, pool_id, aws_role):
    """The IAM member that matches every session of one AWS role under the default mapping."""
    return "principalSet://%s/%s/attribute.aws_role/%s" % (IAM_HOST, pool_name(project_number, pool_id), aws_role)


def principal_set_for_caller(arn, audience_value):
    """The principalSet member for a caller ARN under an audience's pool, else None."""
    aud = parse_audience(audience_value)
    if not aud:
        return None
    try:
        identity = role_identity(arn)
    except ArnError:
        return None
    return aws_role_principal_set(aud["project"], aud["pool"], identity["aws_role"])


def service_account_email(account_id, project_id):
    """The e-mail Google gives a user-managed service account (domain-scoped IDs: ID.DOMAIN)."""
    if ":" in project_id:
        domain, pid = project_id.split(":", 1)
        project_id = "%s.%s" % (pid, domain)
    return "%s@%s%s" % (account_id, project_id, SA_EMAIL_SUFFIX)


def service_account_project(email):
    """The project ID in a user-managed service account's e-mail (NAME@PROJECT.iam.gserviceaccount.com), else None."""
    name, _at, domain = (email or "").partition("@")
    if name and domain.endswith(SA_EMAIL_SUFFIX) and domain[: -len(SA_EMAIL_SUFFIX)]:
        return domain[: -len(SA_EMAIL_SUFFIX)]
    return None


def impersonation_url(iamcredentials_url, email):
    """generateAccessToken URL for a service account (``projects/-``: Google infers the project)."""
    return "%s/v1/projects/-/serviceAccounts/%s:generateAccessToken" % (iamcredentials_url.rstrip("/"), email)


def impersonated_email(url):
    """The service-account e-mail in a generateAccessToken URL, else None."""
    match = _IMPERSONATION_PATH_RE.search(urllib.parse.urlparse(url or "").path)
    return urllib.parse.unquote(match.group("email")) if match else None


# --------------------------------------------------------------------------- name shapes
# The one definition of each shape; validate.py, host_inputs.py and the modules import them.
# Whole-string patterns (fullmatch), ASCII classes only.

# Workload identity pool and provider IDs (the reserved gcp- prefix is checked apart).
WIF_ID_RE = re.compile(r"[a-z0-9-]{4,32}")
# Service-account account IDs (the 6-30 length is checked apart).
SA_ACCOUNT_ID_RE = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])")
# Project IDs, domain-scoped ones (example.com:my-project) included.
PROJECT_ID_RE = re.compile(r"(?:[a-z0-9.-]+\.[a-z]{2,}:)?[a-z][a-z0-9-]{4,28}[a-z0-9]")
PROJECT_NUMBER_RE = re.compile(r"[0-9]{1,20}")
EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# Every service account's e-mail domain ends so: user-managed (PROJECT.iam.gserviceaccount.com,
# domain-scoped PROJECT.DOMAIN.iam.gserviceaccount.com) and Google-managed (developer., appspot.).
SA_EMAIL_DOMAIN_SUFFIX = ".gserviceaccount.com"


def is_service_account_email(value):
    """True for an e-mail address in a service-account domain (*.gserviceaccount.com)."""
    return isinstance(value, str) and bool(EMAIL_RE.fullmatch(value)) and value.lower().endswith(SA_EMAIL_DOMAIN_SUFFIX)


def service_account_member(email):
    """The IAM member of a service account."""
    return "serviceAccount:%s" % email


# --------------------------------------------------------------------------- AWS partitions and STS hosts

# Partition id -> (DNS suffix, region pattern), a copy of botocore's data/partitions.json
# (botocore 1.43.11) for hosts without botocore; with botocore importable its own data is used.
# A region belongs to the first partition whose pattern it matches (partitions.json order).
AWS_PARTITION_TABLE = (
    ("aws", "amazonaws.com", r"(us|eu|ap|sa|ca|me|af|il|mx)-\w+-\d+"),
    ("aws-cn", "amazonaws.com.cn", r"cn-\w+-\d+"),
    ("aws-us-gov", "amazonaws.com", r"us-gov-\w+-\d+"),
    ("aws-iso", "c2s.ic.gov", r"us-iso-\w+-\d+"),
    ("aws-iso-b", "sc2s.sgov.gov", r"us-isob-\w+-\d+"),
    ("aws-iso-e", "cloud.adc-e.uk", r"eu-isoe-\w+-\d+"),
    ("aws-iso-f", "csp.hci.ic.gov", r"us-isof-\w+-\d+"),
    ("aws-eusc", "amazonaws.eu", r"eusc-(de)-\w+-\d+"),
)
STS_GLOBAL_HOSTNAME = "sts.amazonaws.com"
GET_CALLER_IDENTITY_QUERY = "Action=GetCallerIdentity&Version=2011-06-15"
_aws_partitions_cache = []


def aws_partitions():
    """[(partition id, DNS suffix, compiled region pattern, explicit regions)], botocore's if importable."""
    if _aws_partitions_cache:
        return _aws_partitions_cache[0]
    table = None
    try:
        import botocore.loaders

        data = botocore.loaders.create_loader().load_data("partitions")
        table = [
            (part["id"], part["outputs"]["dnsSuffix"], re.compile(part["regionRegex"].lstrip("^").rstrip("$"), re.ASCII),
             tuple(part.get("regions", {})))
            for part in data["partitions"]
        ]
    # no botocore, or data in another shape: use the copy
    except Exception:  # pylint: disable=broad-except
        table = None
    if not table:
        table = [(name, suffix, re.compile(pattern, re.ASCII), ()) for name, suffix, pattern in AWS_PARTITION_TABLE]
    _aws_partitions_cache.append(table)
    return table


def partition_of_region(region):
    """The AWS partition id of a region (us-east-1 -> aws, cn-north-1 -> aws-cn), else None."""
    if not isinstance(region, str) or not region:
        return None
    table = aws_partitions()
    for name, _suffix, _pattern, regions in table:
        if region in regions:
            return name
    for name, _suffix, pattern, _regions in table:
        if pattern.fullmatch(region):
            return name
    return None


def partition_dns_suffix(partition):
    """The DNS suffix of a partition's endpoints (aws-cn -> amazonaws.com.cn), else ValueError."""
    for name, suffix, _pattern, _regions in aws_partitions():
        if name == partition:
            return suffix
    raise ValueError("unknown AWS partition %r (known: %s)" % (partition, ", ".join(row[0] for row in aws_partitions())))


def sts_hostname(region):
    """The regional STS hostname of a region (cn-north-1 -> sts.cn-north-1.amazonaws.com.cn).

    Without a region, the legacy global endpoint sts.amazonaws.com (aws partition only).
    """
    if not region:
        return STS_GLOBAL_HOSTNAME
    partition = partition_of_region(region)
    if partition is None:
        raise ValueError("region %r is in no AWS partition" % region)
    return "sts.%s.%s" % (region, partition_dns_suffix(partition))


def sts_verification_url_template(partition="aws"):
    """The regional_cred_verification_url of an external_account credential file for a partition.

    google-auth replaces only ``{region}`` in it, so the partition's DNS suffix has to be written
    into the file: aws and aws-us-gov -> https://sts.{region}.amazonaws.com?..., aws-cn ->
    https://sts.{region}.amazonaws.com.cn?... (gcloud's create-cred-config writes the aws form).
    """
    return "https://sts.{region}.%s?%s" % (partition_dns_suffix(partition), GET_CALLER_IDENTITY_QUERY)


# --------------------------------------------------------------------------- one AWS provider per account
# Google's AWS provider holds one accountId, so the gcp_federation role gives each further AWS
# account its own provider in the pool, named PROVIDER_ID-ACCOUNT_ID.

WIF_ID_MAX = 32


def account_provider_id(provider_id, account_id):
    """The provider ID the gcp_federation role derives for one of several AWS accounts."""
    return "%s-%s" % (provider_id, account_id)


def parse_account_provider_id(provider_id, value):
    """The AWS account of a provider ID derived from ``provider_id`` (PROVIDER_ID-ACCOUNT_ID), else None."""
    if not isinstance(value, str) or not isinstance(provider_id, str) or not value.startswith(provider_id + "-"):
        return None
    account = value[len(provider_id) + 1:]
    return account if ACCOUNT_ID_RE.fullmatch(account) else None


def aws_account_of(arn, field="arn"):
    """The 12-digit account of an IAM role, STS assumed-role or IAM user ARN (ArnError otherwise)."""
    return role_identity(arn, field)["account_id"]
