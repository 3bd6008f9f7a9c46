# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The exact IAM permissions the controller needs: per module and state, and per playbook.

One home for "what may the identity that runs site.yml / teardown.yml do". Each module's
entry lists the permissions of the Google methods it calls in that state (the permission each
method's REST reference names under "IAM Permissions"; a long-running operation is polled with
the parent's get for IAM v1 and serviceusage.operations.get for Service Usage). ``SETS`` are the
unions for the keyless.wif.gcp_federation role's present path (``site``, with the project's
services enabled and its audit configuration) and absent path (``teardown``).

Exposed by the keyless.wif.controller_permissions lookup and printed (or written as a custom
role definition for ``gcloud iam roles create --file``) by playbooks/controller_role.yml.
"""

from __future__ import annotations

PROJECT_GET = "resourcemanager.projects.get"
PROJECT_POLICY = ("resourcemanager.projects.getIamPolicy", "resourcemanager.projects.setIamPolicy")

# module -> state (or state+option) -> permissions its calls need
MODULES = {
    "gcp_project_info": {
        "info": (PROJECT_GET,),
    },
    "gcp_project_service": {
        # services:batchGet, services:batchEnable and its operation
        "enabled": ("serviceusage.services.get", "serviceusage.services.enable", "serviceusage.operations.get"),
        "disabled": ("serviceusage.services.get", "serviceusage.services.disable", "serviceusage.operations.get"),
    },
    "gcp_project_iam_member": {
        "present": PROJECT_POLICY,
        "absent": PROJECT_POLICY,
    },
    "gcp_project_audit_config": {
        "present": PROJECT_POLICY,
        "absent": PROJECT_POLICY,
    },
    "gcp_service_account": {
        "present": ("iam.serviceAccounts.get", "iam.serviceAccounts.create", "iam.serviceAccounts.update"),
        # only with the disabled option
        "present+disabled": ("iam.serviceAccounts.enable", "iam.serviceAccounts.disable"),
        "absent": ("iam.serviceAccounts.get", "iam.serviceAccounts.delete"),
    },
    "gcp_service_account_iam_member": {
        "present": ("iam.serviceAccounts.getIamPolicy", "iam.serviceAccounts.setIamPolicy"),
        "absent": ("iam.serviceAccounts.getIamPolicy", "iam.serviceAccounts.setIamPolicy"),
    },
    "gcp_workload_identity_pool": {
        # a soft-deleted pool is undeleted; operations are polled with get
        "present": ("iam.workloadIdentityPools.get", "iam.workloadIdentityPools.create",
                    "iam.workloadIdentityPools.update", "iam.workloadIdentityPools.undelete"),
        "absent": ("iam.workloadIdentityPools.get", "iam.workloadIdentityPools.delete"),
    },
    "gcp_workload_identity_pool_provider": {
        "present": ("iam.workloadIdentityPoolProviders.get", "iam.workloadIdentityPoolProviders.create",
                    "iam.workloadIdentityPoolProviders.update", "iam.workloadIdentityPoolProviders.undelete"),
        "absent": ("iam.workloadIdentityPoolProviders.get", "iam.workloadIdentityPoolProviders.delete"),
    },
    "gcp_workload_identity_pool_provider_info": {
        "info": ("iam.workloadIdentityPoolProviders.list",),
    },
    # not used by site or teardown: what creating the controller's own role needs (the owner runs it)
    "gcp_project_custom_role": {
        # (and resourcemanager.projects.get when the project is given by number)
        "present": ("iam.roles.get", "iam.roles.create", "iam.roles.update", "iam.roles.undelete"),
        "absent": ("iam.roles.get", "iam.roles.delete"),
    },
}

# playbook set -> the (module, state) calls of keyless.wif.gcp_federation on that path
SET_CALLS = {
    "site": (
        ("gcp_project_info", "info"),
        ("gcp_project_service", "enabled"),
        ("gcp_workload_identity_pool_provider_info", "info"),
        ("gcp_service_account", "present"),
        ("gcp_project_iam_member", "present"),
        ("gcp_project_audit_config", "present"),
        ("gcp_workload_identity_pool", "present"),
        ("gcp_workload_identity_pool_provider", "present"),
        # providers of accounts no longer listed are removed
        ("gcp_workload_identity_pool_provider", "absent"),
        ("gcp_service_account_iam_member", "present"),
    ),
    "teardown": (
        ("gcp_project_info", "info"),
        ("gcp_workload_identity_pool_provider_info", "info"),
        ("gcp_workload_identity_pool_provider", "absent"),
        ("gcp_workload_identity_pool", "absent"),
        ("gcp_project_iam_member", "absent"),
        ("gcp_service_account", "absent"),
    ),
}


def module_permissions(module, state):
    """The permissions ``module`` needs in ``state``; ValueError naming what is unknown."""
    if module not in MODULES:
        raise ValueError("unknown module %r; known modules are %s" % (module, ", ".join(sorted(MODULES))))
    if state not in MODULES[module]:
        raise ValueError("module %s has no state %r; known states are %s" % (module, state, ", ".join(sorted(MODULES[module]))))
    return sorted(MODULES[module][state])


def permission_set(name):
    """The sorted union for a set: ``site``, ``teardown``, ``all`` (both) or ``MODULE:STATE``."""
    if ":" in name:
        module, state = name.split(":", 1)
        return module_permissions(module, state)
    if name == "all":
        return sorted(set(permission_set("site")) | set(permission_set("teardown")))
    if name not in SET_CALLS:
        raise ValueError("unknown permission set %r; known sets are all, %s, or MODULE:STATE" % (name, ", ".join(sorted(SET_CALLS))))
    out = set()
    for module, state in SET_CALLS[name]:
        out.update(MODULES[module][state])
    return sorted(out)


def all_listed():
    """Every permission any module entry lists."""
    return sorted({perm for states in MODULES.values() for perms in states.values() for perm in perms})
