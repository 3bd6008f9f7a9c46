# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""IAM policies: where one lives (IamPolicyTarget), additive binding changes, AWS principals.

Apart from IamPolicyTarget's read and write, everything here is pure (no I/O) and unit-tested
directly; the read-modify-write loop itself is GcpClient.modify_iam_policy, driven by
GcpModule.ensure_bindings.
"""

from __future__ import annotations

from ansible_collections.keyless.wif.plugins.module_utils.gcp.errors import GcpError
from ansible_collections.keyless.wif.plugins.module_utils.wif.names import IAM_HOST, aws_role_principal_set, parse_pool_name
from ansible_collections.keyless.wif.plugins.module_utils.wif.validate import (
    ValidationError,
    check_condition,
    check_member,
    check_role,
    check_wif_id,
    parse_aws_role_arn,
)

POLICY_VERSION = 3

_CONDITION_SPEC = dict(
    title=dict(type="str", required=True),
    description=dict(type="str"),
    expression=dict(type="str", required=True),
)


def bindings_argument_spec():
    """Options shared by the *_iam_member modules (documented in doc fragment gcp.bindings)."""
    return dict(
        role=dict(type="str"),
        members=dict(type="list", elements="str", aliases=["member"]),
        condition=dict(type="dict", options=_CONDITION_SPEC),
        bindings=dict(type="list", elements="dict", options=dict(
            role=dict(type="str", required=True),
            members=dict(type="list", elements="str", required=True),
            condition=dict(type="dict", options=_CONDITION_SPEC),
        )),
        state=dict(type="str", choices=["present", "absent"], default="present"),
    )


# --------------------------------------------------------------------------------------
# Where a policy lives
# --------------------------------------------------------------------------------------

class IamPolicyTarget:
    """The resource whose IAM policy a module changes, and how its policy is read and written.

    ``service``: the API (cloudresourcemanager, iam); ``resource``: the label in messages and
    the default paths ``v1/RESOURCE:getIamPolicy`` and ``v1/RESOURCE:setIamPolicy``;
    ``version_in_query``: the requested policy version goes in the query (IAM v1) instead of
    the body (Resource Manager v1); ``missing``: what a 404 on read means: ``raise`` (an error),
    ``empty`` (no policy yet) or ``wait`` (a resource just created: waited out in the
    consistency window).
    """

    def __init__(self, service, resource, *, get_path=None, set_path=None, version_in_query=False, missing="raise"):
        if missing not in ("raise", "empty", "wait"):
            raise ValueError("missing must be raise, empty or wait")
        self.service = service
        self.resource = resource
        self.get_path = get_path or "v1/%s:getIamPolicy" % resource
        self.set_path = set_path or "v1/%s:setIamPolicy" % resource
        self.version_in_query = version_in_query
        self.missing = missing

    def read(self, client):
        if self.version_in_query:
            options = dict(params={"options.requestedPolicyVersion": POLICY_VERSION})
        else:
            options = dict(body={"options": {"requestedPolicyVersion": POLICY_VERSION}})
        try:
            return client.request("POST", self.service, self.get_path, resource=self.resource,
                                  action="read IAM policy of", write=False, wait_visible=self.missing == "wait",
                                  **options)
        except GcpError as exc:
            if self.missing == "empty" and client.absent(exc):
                return {}
            raise

    def write(self, client, policy):
        return client.request("POST", self.service, self.set_path, body={"policy": policy}, resource=self.resource,
                              action="set IAM policy of", retry_aborted=False)


def policy_result(policy):
    """The etag and version a module returns for the policy after the task."""
    return dict(etag=policy.get("etag", ""), version=int(policy.get("version") or 1))


# --------------------------------------------------------------------------------------
# Bindings
# --------------------------------------------------------------------------------------

def normalize_condition(condition):
    """Condition dict as the API stores it (None when absent; empty description dropped)."""
    if not condition:
        return None
    out = {"title": condition.get("title"), "expression": condition.get("expression")}
    if condition.get("description"):
        out["description"] = condition["description"]
    return out


def _same_binding(binding, role, condition):
    return binding.get("role") == role and normalize_condition(binding.get("condition")) == condition


def desired_bindings(role=None, members=None, condition=None, bindings=None):
    """Expand the module options into [(role, [members], condition)]."""
    if bindings is not None:
        out = []
        for entry in bindings:
            out.append((entry["role"], list(entry.get("members") or []),
                        normalize_condition(entry.get("condition"))))
        return out
    return [(role, list(members or []), normalize_condition(condition))]


def validate_bindings(wanted, nested):
    """Check roles, members and conditions of desired_bindings() output.

    ``nested`` names fields as bindings[i].X (the ``bindings`` option) instead of X.
    """
    for index, (role, members, condition) in enumerate(wanted):
        prefix = "bindings[%d]." % index if nested else ""
        check_role(prefix + "role", role)
        if not members:
            raise ValidationError(prefix + "members", "must list at least one member")
        for position, member in enumerate(members):
            check_member("%smembers[%d]" % (prefix, position), member)
        check_condition(prefix + "condition", condition)


def apply_bindings(policy, wanted, present=True):
    """Return a changed copy of ``policy`` or None when it already matches.

    present=True adds each member to the binding keyed by (role, condition),
    creating the binding when needed; present=False removes them and drops
    bindings left empty.  Members not named are never touched (additive).
    """
    bindings = [dict(b, members=list(b.get("members") or [])) for b in policy.get("bindings") or []]
    changed = False
    for role, members, condition in wanted:
        match = next((b for b in bindings if _same_binding(b, role, condition)), None)
        if present:
            if match is None:
                match = {"role": role, "members": []}
                if condition:
                    match["condition"] = dict(condition)
                bindings.append(match)
            for member in members:
                if member not in match["members"]:
                    match["members"].append(member)
                    changed = True
        elif match is not None:
            kept = [m for m in match["members"] if m not in members]
            if len(kept) != len(match["members"]):
                changed = True
                match["members"] = kept
    if not changed:
        return None
    new = dict(policy)
    new["bindings"] = [b for b in bindings if b["members"]]
    has_condition = any(b.get("condition") for b in new["bindings"])
    # Conditions require version 3; never lower a version the server reported.
    new["version"] = max(int(policy.get("version") or 1), POLICY_VERSION if has_condition else 1)
    return new


def binding_view(policy, wanted):
    """The part of a policy the module manages: {role[ if condition]: sorted members}."""
    view = {}
    for role, members, condition in wanted:
        key = role if not condition else "%s if %s" % (role, condition.get("title"))
        match = next((b for b in policy.get("bindings") or [] if _same_binding(b, role, condition)), None)
        current = match.get("members", []) if match else []
        view[key] = sorted(m for m in current if m in members)
    return view


# --------------------------------------------------------------------------------------
# AWS principals
# --------------------------------------------------------------------------------------

def parse_pool(field, value):
    """A pool given as an ID or as projects/NUM/locations/global/workloadIdentityPools/ID.

    Returns (project_number or None, pool_id): with a full name the number is known and no
    project has to be read.
    """
    if value is None:
        return None, None
    if "/" not in value:
        check_wif_id(field, value)
        return None, value
    prefix = "//" + IAM_HOST + "/"
    parts = parse_pool_name((value[len(prefix):] if value.startswith(prefix) else value).strip("/"))
    if parts is None or not parts["project"].isdigit():
        raise ValidationError(field, "must be a pool ID or projects/PROJECT_NUMBER/locations/global/"
                                     "workloadIdentityPools/POOL_ID", value)
    check_wif_id(field, parts["pool"])
    return parts["project"], parts["pool"]


def aws_role_principal(field, arn, project_number, pool_id):
    """principalSet matching every session of an AWS role under the default AWS mapping.

    Returns (member, note) where note explains a conversion (None when the ARN
    was already in the assumed-role form the mapping produces).
    """
    identity = parse_aws_role_arn(field, arn)
    sts_arn = identity["aws_role"]
    note = None
    if identity["kind"] == "role":
        note = ("%s: converted %s to %s; the default AWS attribute mapping yields attribute.aws_role in the "
                "assumed-role form, so the iam role ARN would never match (PERMISSION_DENIED "
                "iam.serviceAccounts.getAccessToken)" % (field, arn, sts_arn))
    elif identity["session_name"]:
        note = ("%s: dropped session name %r from %s; attribute.aws_role carries no session, so the binding "
                "matches every session of the role" % (field, identity["session_name"], arn))
    return aws_role_principal_set(project_number, pool_id, sts_arn), note


def iam_role_form_in_member(member):
    """True when a principalSet member uses the never-matching arn:aws:iam::...:role/ form."""
    return "/attribute.aws_role/arn:" in member and ":iam::" in member and ":role/" in member
