# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Cloud Audit Logs configuration: the auditConfigs of a project's IAM policy.

Everything here is pure (no I/O) apart from write_audit_configs; the read-modify-write loop is
GcpClient.modify_iam_policy, as for bindings.  The one API fact that shapes this module:
setIamPolicy changes auditConfigs only when the request's updateMask names them (the default mask
is "bindings, etag"), so AUDIT_UPDATE_MASK goes with every write, and bindings-only writers
(gcp_project_iam_member) leave auditConfigs alone.
"""

from __future__ import annotations

from ansible_collections.keyless.wif.plugins.module_utils.wif.validate import (
    ValidationError,
    check_member,
    check_service_name,
)

# google.iam.v1.AuditLogConfig.LogType without LOG_TYPE_UNSPECIFIED, in the enum's order.
LOG_TYPES = ("ADMIN_READ", "DATA_WRITE", "DATA_READ")
ALL_SERVICES = "allServices"
AUDIT_UPDATE_MASK = "auditConfigs,etag"


def audit_config_argument_spec():
    """Options of gcp_project_audit_config (besides the shared GCP ones)."""
    return dict(
        service=dict(type="str", required=True),
        log_types=dict(type="list", elements="str", choices=list(LOG_TYPES)),
        exempted_members=dict(type="list", elements="str"),
        state=dict(type="str", choices=["present", "absent"], default="present"),
    )


def check_audit_service(field, value):
    """allServices or a full service name such as sts.googleapis.com."""
    if value == ALL_SERVICES:
        return
    check_service_name(field, value)


def check_log_types(field, values):
    """A non-empty list of distinct LogType names (ADMIN_READ, DATA_WRITE, DATA_READ)."""
    if not values:
        raise ValidationError(field, "must list at least one of %s" % ", ".join(LOG_TYPES), values)
    seen = set()
    for index, value in enumerate(values):
        where = "%s[%d]" % (field, index)
        if value not in LOG_TYPES:
            raise ValidationError(where, "must be one of %s" % ", ".join(LOG_TYPES), value)
        if value in seen:
            raise ValidationError(where, "is listed twice", value)
        seen.add(value)


def desired_audit_config(service, log_types, exempted_members, state, prefix=""):
    """Check the options and return (service, [log types], exempted members or None, present).

    ``log_types`` defaults to all three for state present; for state absent, None means the
    service's whole entry.  ``exempted_members`` (present only) is the exact exemption list of
    each listed log type; None leaves existing exemptions as they are.
    """
    present = state == "present"
    check_audit_service(prefix + "service", service)
    if log_types is None:
        log_types = list(LOG_TYPES) if present else None
    if log_types is not None:
        check_log_types(prefix + "log_types", log_types)
    if exempted_members is not None:
        if not present:
            raise ValidationError(prefix + "exempted_members", "is only allowed with state present")
        for index, member in enumerate(exempted_members):
            check_member("%sexempted_members[%d]" % (prefix, index), member)
        exempted_members = sorted(set(exempted_members))
    return service, log_types, exempted_members, present


def _find(configs, service):
    return next((c for c in configs if c.get("service") == service), None)


def _ordered(log_configs):
    by_type = {c.get("logType"): c for c in log_configs}
    return [by_type[t] for t in LOG_TYPES if t in by_type] + [c for c in log_configs if c.get("logType") not in LOG_TYPES]


def apply_audit_config(policy, wanted):
    """Return a changed copy of ``policy`` or None when its auditConfigs already match.

    Present: each listed log type is enabled for the service (entry created when needed), with
    the exemption list set when one was given.  Absent: the listed log types (or, with none
    listed, every one) are removed and an entry left with none is dropped, since "an AuditConfig
    must have one or more AuditLogConfigs".  Other services and log types are never touched.
    """
    service, log_types, exempted, present = wanted
    configs = [dict(c, auditLogConfigs=[dict(lc) for lc in c.get("auditLogConfigs") or []])
               for c in policy.get("auditConfigs") or []]
    entry = _find(configs, service)
    changed = False
    if present:
        if entry is None:
            entry = {"service": service, "auditLogConfigs": []}
            configs.append(entry)
        for log_type in log_types:
            log_config = next((lc for lc in entry["auditLogConfigs"] if lc.get("logType") == log_type), None)
            if log_config is None:
                log_config = {"logType": log_type}
                entry["auditLogConfigs"].append(log_config)
                changed = True
            if exempted is not None and sorted(set(log_config.get("exemptedMembers") or [])) != exempted:
                changed = True
                if exempted:
                    log_config["exemptedMembers"] = list(exempted)
                else:
                    log_config.pop("exemptedMembers", None)
        entry["auditLogConfigs"] = _ordered(entry["auditLogConfigs"])
    elif entry is not None:
        kept = [lc for lc in entry["auditLogConfigs"] if log_types is not None and lc.get("logType") not in log_types]
        changed = len(kept) != len(entry["auditLogConfigs"])
        entry["auditLogConfigs"] = kept
    if not changed:
        return None
    new = dict(policy)
    new["auditConfigs"] = [c for c in configs if c["auditLogConfigs"]]
    return new


def audit_config_view(policy, service):
    """The service's audit config in snake_case: {service, audit_log_configs: [{log_type, exempted_members}]}.

    None when the policy has no entry for the service.
    """
    entry = _find(policy.get("auditConfigs") or [], service)
    if entry is None:
        return None
    return {
        "service": service,
        "audit_log_configs": [{"log_type": lc.get("logType"), "exempted_members": sorted(lc.get("exemptedMembers") or [])}
                              for lc in _ordered(entry.get("auditLogConfigs") or [])],
    }


def enabled_log_types(policy, service):
    """The log types the policy's own entry for ``service`` enables, in enum order."""
    view = audit_config_view(policy, service)
    return [lc["log_type"] for lc in view["audit_log_configs"]] if view else []


def write_audit_configs(client, target, policy):
    """setIamPolicy of ``target`` (an IamPolicyTarget) with the mask that makes auditConfigs count."""
    return client.request("POST", target.service, target.set_path,
                          body={"policy": policy, "updateMask": AUDIT_UPDATE_MASK},
                          resource=target.resource, action="set audit config of", retry_aborted=False)


def ensure_audit_config(client, target, wanted, check_mode=False):
    """Additive audit-config change by read-modify-write. Returns (changed, before, after) policies."""
    return client.modify_iam_policy(
        lambda: target.read(client), lambda policy: write_audit_configs(client, target, policy),
        lambda policy: apply_audit_config(policy, wanted), check_mode=check_mode)
