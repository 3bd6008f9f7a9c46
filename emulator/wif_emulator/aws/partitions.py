"""AWS partitions, their DNS suffixes and region patterns, and the STS hostnames that exist."""

from __future__ import annotations

import re

# AWS partitions: id -> (DNS suffix, region pattern), from botocore's data/partitions.json
# (botocore 1.43.11; tests/emulator/test_partitions.py checks this table against the installed
# botocore). A region belongs to the first partition whose pattern it matches.
PARTITIONS: dict[str, tuple[str, re.Pattern[str]]] = {
    name: (suffix, re.compile(pattern, re.ASCII))
    for name, suffix, pattern in (
        ("aws", "amazonaws.com", r"(us|eu|ap|sa|ca|me|af|il|mx)-\w+-\d+"),
        ("aws-cn", "amazonaws.com.cn", r"cn-\w+-\d+"),
        ("aws-us-gov", "amazonaws.com", r"us-gov-\w+-\d+"),
        ("aws-iso", "c2s.ic.gov", r"us-iso-\w+-\d+"),
        ("aws-iso-b", "sc2s.sgov.gov", r"us-isob-\w+-\d+"),
        ("aws-iso-e", "cloud.adc-e.uk", r"eu-isoe-\w+-\d+"),
        ("aws-iso-f", "csp.hci.ic.gov", r"us-isof-\w+-\d+"),
        ("aws-eusc", "amazonaws.eu", r"eusc-(de)-\w+-\d+"),
    )
}
# STS hostnames besides sts.REGION.DNS_SUFFIX (botocore's data/endpoints.json, service "sts"):
# the legacy global endpoint (credential scope us-east-1) and the FIPS endpoints of the aws
# partition. In aws-us-gov the FIPS hostname is sts.REGION.amazonaws.com itself.
STS_GLOBAL_HOST = "sts.amazonaws.com"
STS_FIPS_REGIONS = ("us-east-1", "us-east-2", "us-west-1", "us-west-2")
_STS_HOST_RE = re.compile(r"sts(?P<fips>-fips)?\.(?P<region>[a-z0-9-]+)\.(?P<suffix>[a-z0-9.-]+)")


def partition_of_region(region: str) -> str | None:
    """The partition id (aws, aws-cn, aws-us-gov, ...) a region belongs to, else None."""
    for name, (_suffix, pattern) in PARTITIONS.items():
        if isinstance(region, str) and pattern.fullmatch(region):
            return name
    return None


def sts_host_region(hostname: str) -> str | None:
    """The signing region of a real AWS STS hostname, else None (not an STS endpoint that exists).

    ``sts.REGION.SUFFIX`` exists only when REGION's partition has the DNS suffix SUFFIX, so
    ``sts.cn-north-1.amazonaws.com`` and ``sts.us-east-1.amazonaws.com.cn`` do not.
    """
    name = hostname.lower().rstrip(".")
    if name == STS_GLOBAL_HOST:
        return "us-east-1"  # the global endpoint signs as us-east-1
    match = _STS_HOST_RE.fullmatch(name)
    if not match:
        return None
    region, suffix = match.group("region"), match.group("suffix")
    partition = partition_of_region(region)
    if partition is None or PARTITIONS[partition][0] != suffix:
        return None
    if match.group("fips") and (partition != "aws" or region not in STS_FIPS_REGIONS):
        return None
    return region


def _looks_like_aws_host(hostname: str) -> bool:
    name = hostname.lower().rstrip(".")
    return any(name == suffix or name.endswith("." + suffix) for suffix, _pattern in PARTITIONS.values())
