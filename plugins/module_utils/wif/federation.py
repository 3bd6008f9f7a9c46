# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The Google side of the federation, planned from the gcp_federation role's variables.

``plan(variables)`` checks every variable with the rules the modules apply, before the
role makes its first call, and works out what the tasks need: the AWS accounts, the
assumed-role forms Google's default mapping yields, and one provider per account with its
condition.

Google's AWS provider holds one account ID. Roles of one account keep today's single
provider, ``gcp_federation_provider_id``. Each further account gets its own provider,
``PROVIDER_ID-ACCOUNT_ID`` (names.account_provider_id), and an account keeps the provider it
already has, so adding or removing an account never renames the others' providers (their
hosts' audiences stay). The providers the role owns in the pool are these two shapes; any of
them that no listed account uses is removed (``remove_provider_ids``), nothing else is.

The condition is built here, not in Jinja: CEL's ``&&`` binds tighter than ``||``, so
every part is wrapped in parentheses. Otherwise a user's ``A || B`` would turn the role
restriction into ``A || (B && restriction)`` and admit roles that are not listed.
"""

from __future__ import annotations

from ansible_collections.keyless.wif.plugins.module_utils import inputs
from ansible_collections.keyless.wif.plugins.module_utils.gcp.audit import LOG_TYPES, check_log_types
from ansible_collections.keyless.wif.plugins.module_utils.wif import cel
from ansible_collections.keyless.wif.plugins.module_utils.wif.names import (
    ACCOUNT_ID_RE,
    PROJECT_NUMBER_RE,
    WIF_ID_MAX,
    account_provider_id,
    audience,
    parse_account_provider_id,
    pool_name,
    service_account_member,
)
from ansible_collections.keyless.wif.plugins.module_utils.wif.validate import (
    CEL_MAX,
    CONDITION_VARIABLES,
    SA_DESCRIPTION_MAX,
    SA_DISPLAY_NAME_MAX,
    WIF_DESCRIPTION_MAX,
    WIF_DISPLAY_NAME_MAX,
    ValidationError,
    check_attribute_mapping,
    check_aws_account_id,
    check_cel,
    check_length,
    check_project,
    check_role,
    check_sa_account_id,
    check_service_name,
    check_utf8_length,
    check_wif_id,
    parse_aws_role_arn,
    service_account_email,
)

PREFIX = "gcp_federation_"
STATES = ("present", "absent")
# The services whose Cloud Audit Logs gcp_federation_audit_logs enables: token exchanges (STS) and
# the service-account tokens minted from them (IAM Credentials).
AUDIT_LOG_SERVICES = ("sts.googleapis.com", "iamcredentials.googleapis.com")


def plan(variables, project_id=None, project_number=None, existing_providers=None):
    """Check the role's variables (keys with the gcp_federation_ prefix); return the plan.

    ``project_id`` and ``project_number`` are the project as Google answered it
    (gcp_project_info): the ID names the service account when gcp_federation_project is a
    number, the number names the pool. ``existing_providers`` are the pool's providers as
    gcp_workload_identity_pool_provider_info answers them (None: not read yet, as none).
    Raises ValidationError naming the variable.
    """
    var, field = inputs.prefixed(variables, PREFIX)
    state = inputs.choice(field("state"), var("state") or "present", STATES)
    project = inputs.text(field("project"), var("project"), required=True)
    check_project(project, field("project"))

    ids = {}
    for name in ("pool_id", "provider_id"):
        ids[name] = inputs.text(field(name), var(name), required=True)
        check_wif_id(field(name), ids[name])
    account_name = inputs.text(field("service_account_id"), var("service_account_id"), required=True)
    check_sa_account_id(field("service_account_id"), account_name)

    texts = {}
    for name, maximum, check in (
            ("pool_display_name", WIF_DISPLAY_NAME_MAX, check_length),
            ("provider_display_name", WIF_DISPLAY_NAME_MAX, check_length),
            ("pool_description", WIF_DESCRIPTION_MAX, check_length),
            ("provider_description", WIF_DESCRIPTION_MAX, check_length),
            ("service_account_display_name", SA_DISPLAY_NAME_MAX, check_utf8_length),
            ("service_account_description", SA_DESCRIPTION_MAX, check_utf8_length)):
        texts[name] = inputs.text(field(name), var(name))
        check(field(name), texts[name], maximum)

    vertex_roles = inputs.string_list(field("vertex_roles"), var("vertex_roles"))
    for index, role in enumerate(vertex_roles):
        check_role("%s[%d]" % (field("vertex_roles"), index), role)
    services = inputs.string_list(field("services"), var("services"))
    for index, service in enumerate(services):
        check_service_name("%s[%d]" % (field("services"), index), service)
    manage_services = inputs.boolean(field("manage_services"), var("manage_services"))
    if manage_services and not services and state == "present":
        raise ValidationError(field("services"), "must list at least one API when gcp_federation_manage_services "
                                                 "is true")
    restrict = inputs.boolean(field("restrict_to_roles"), var("restrict_to_roles"))
    audit_logs, audit_log_types = _audit_logs(var, field)

    mapping = inputs.mapping(field("attribute_mapping"), var("attribute_mapping")) or None
    check_attribute_mapping(field("attribute_mapping"), mapping)
    if mapping is not None and "attribute.aws_role" not in mapping:
        raise ValidationError(field("attribute_mapping"), "must map attribute.aws_role: the service-account "
                                                          "bindings and the role restriction match on it", sorted(mapping))
    extra = inputs.text(field("attribute_condition"), var("attribute_condition"), single_line=False)
    if extra.strip():
        check_cel(field("attribute_condition"), extra, variables=CONDITION_VARIABLES)

    by_account = _aws_roles(var, field, state)
    aws_roles = [role for roles in by_account.values() for role in roles]
    accounts = list(by_account)
    if len(accounts) > 1:
        longest = account_provider_id(ids["provider_id"], "0" * 12)
        if len(longest) > WIF_ID_MAX:
            raise ValidationError(field("provider_id"), "must be at most %d characters when the roles span several AWS "
                                                        "accounts: each further account's provider is named "
                                                        "gcp_federation_provider_id-ACCOUNT_ID, and provider IDs are 4-%d "
                                                        "characters (%s would be %d)"
                                  % (WIF_ID_MAX - len(longest) + len(ids["provider_id"]), WIF_ID_MAX, longest, len(longest)),
                                  ids["provider_id"])
    existing = _existing(existing_providers)
    assigned = _assign(ids["provider_id"], accounts, existing)

    providers = []
    for account in accounts:
        condition = cel.conjoin([
            extra,
            "attribute.aws_role in [%s]" % ", ".join(cel.string_literal(r) for r in by_account[account]) if restrict else "",
        ])
        if len(condition) > CEL_MAX:
            raise ValidationError(field("aws_role_arns"), "admit too many roles of account %s: its provider's condition "
                                                          "would be %d characters, Google's limit is %d"
                                  % (account, len(condition), CEL_MAX))
        providers.append({
            "account_id": account,
            "provider_id": assigned[account],
            "attribute_condition": condition,
            "aws_roles": by_account[account],
            "audience": audience(str(project_number), ids["pool_id"], assigned[account]) if project_number is not None else None,
        })
    # Absent removes every provider the role owns, whatever roles are still listed.
    used = set(assigned.values()) if state == "present" else set()
    owned = [ids["provider_id"]] if state == "absent" else []
    owned += [pid for pid, entry in existing.items()
              if entry["aws"] and entry["state"] != "DELETED"
              and (pid == ids["provider_id"] or parse_account_provider_id(ids["provider_id"], pid))]
    remove = []
    for pid in owned:
        if pid not in used and pid not in remove:
            remove.append(pid)

    if project_id is not None:
        check_project(project_id, "project_id (gcp_project_info answer)")
    if project_number is not None and not PROJECT_NUMBER_RE.fullmatch(str(project_number)):
        raise ValidationError("project_number (gcp_project_info answer)", "must be a project number", project_number)
    email_project = project_id or project
    email = None if email_project.isdigit() else service_account_email(account_name, email_project)
    first = providers[0] if providers else {}
    return {
        "state": state,
        "project": project,
        "pool_id": ids["pool_id"],
        # The pool's full resource name, once the project number is known.
        "pool_name": pool_name(str(project_number), ids["pool_id"]) if project_number is not None else None,
        # The first (or only) account's provider; "providers" has one entry per account.
        "provider_id": first.get("provider_id", ids["provider_id"]),
        "service_account_id": account_name,
        # A project number has no e-mail domain: the role plans again with the project's ID.
        "service_account_email": email,
        "service_account_member": service_account_member(email) if email else None,
        "texts": texts,
        "vertex_roles": vertex_roles,
        "services": services,
        "manage_services": manage_services,
        # Cloud Audit Logs the role enables: one entry per service, empty when gcp_federation_audit_logs is false.
        "audit_logs": audit_logs,
        "audit_log_types": audit_log_types,
        "audit_log_configs": [{"service": service, "log_types": audit_log_types}
                              for service in AUDIT_LOG_SERVICES] if audit_logs else [],
        "attribute_mapping": mapping,
        "attribute_condition": first.get("attribute_condition", ""),
        "account_id": first.get("account_id", inputs.aws_account_id(field("aws_account_id"), var("aws_account_id"))),
        "aws_roles": aws_roles,
        "providers": providers,
        # Providers the role owns (gcp_federation_provider_id and PROVIDER_ID-ACCOUNT_ID) that no listed account uses.
        "remove_provider_ids": remove,
        # account -> the audience of its provider (the first account's is "audience"), once the number is known.
        "audiences": {p["account_id"]: p["audience"] for p in providers} if project_number is not None else None,
        "audience": first.get("audience"),
    }


def _audit_logs(var, field):
    """(enabled, log types) from gcp_federation_audit_logs and gcp_federation_audit_log_types.

    Unset means the defaults: on, with all three log types.
    """
    raw = var("audit_logs")
    enabled = True if raw is None else inputs.boolean(field("audit_logs"), raw)
    raw_types = var("audit_log_types")
    log_types = list(LOG_TYPES) if raw_types is None else inputs.string_list(field("audit_log_types"), raw_types)
    if enabled or log_types:
        check_log_types(field("audit_log_types"), log_types)
    return enabled, log_types


def _aws_roles(var, field, state):
    """The admitted roles in assumed-role form, by AWS account: accounts in the order they are listed
    (else sorted), roles sorted. A dynamic inventory meets hosts in any order; the provider's
    condition must not change with it.

    gcp_federation_aws_account_id (one account) and gcp_federation_aws_account_ids (several)
    are checks: every role must belong to the accounts they name, and each account listed in
    gcp_federation_aws_account_ids must have a role. Without them the roles' accounts are admitted.
    """
    given = inputs.string_list(field("aws_role_arns"), var("aws_role_arns"))
    source = field("aws_role_arns")
    by_account = {}
    where = {}
    for index, arn in enumerate(given):
        identity = parse_aws_role_arn("%s[%d]" % (source, index), arn)
        roles = by_account.setdefault(identity["account_id"], [])
        where.setdefault(identity["account_id"], "%s[%d]" % (source, index))
        if identity["aws_role"] not in roles:
            roles.append(identity["aws_role"])

    account_id = inputs.aws_account_id(field("aws_account_id"), var("aws_account_id"))
    listed = []
    raw = var("aws_account_ids")
    if raw is None or raw == "":
        raw = []
    elif isinstance(raw, (str, int)) and not isinstance(raw, bool):
        raw = [raw]
    if not isinstance(raw, (list, tuple)):
        raise ValidationError(field("aws_account_ids"), "must be a list of 12-digit AWS account IDs", raw)
    for index, item in enumerate(raw):
        name = "%s[%d]" % (field("aws_account_ids"), index)
        account = inputs.aws_account_id(name, item)
        check_aws_account_id(name, account)
        if account not in listed:
            listed.append(account)
    if account_id and listed:
        raise ValidationError(field("aws_account_ids"), "cannot be combined with gcp_federation_aws_account_id: set "
                                                        "gcp_federation_aws_account_id for one account or "
                                                        "gcp_federation_aws_account_ids for several")
    if account_id:
        check_aws_account_id(field("aws_account_id"), account_id)
    if state == "absent":
        return by_account
    if not by_account:
        raise ValidationError(source, "is empty: list the AWS role ARNs the provider admits (the "
                                      "site playbook gathers them from its hosts with "
                                      "keyless.wif.aws_caller_info)")
    accounts = list(by_account)
    if account_id:
        foreign = [a for a in accounts if a != account_id]
        if foreign:
            raise ValidationError(source, "must all belong to gcp_federation_aws_account_id %s (it admits one account; "
                                          "list several accounts in gcp_federation_aws_account_ids instead); got "
                                          "accounts %s" % (account_id, ", ".join(accounts)))
    if listed:
        for account in accounts:
            if account not in listed:
                raise ValidationError(where[account], "belongs to AWS account %s, which gcp_federation_aws_account_ids "
                                                      "(%s) does not list: add the account there or leave the role out"
                                      % (account, ", ".join(listed)))
        for account in listed:
            if account not in by_account:
                raise ValidationError(field("aws_account_ids"), "lists AWS account %s, but no role of "
                                                                "gcp_federation_aws_role_arns belongs to it (each "
                                                                "account's provider admits its own roles)" % account)
        by_account = {account: by_account[account] for account in listed}
    else:
        by_account = {account: by_account[account] for account in sorted(by_account)}
    return {account: sorted(roles) for account, roles in by_account.items()}


def _existing(answer):
    """{provider_id: {state, aws (bool), account_id}} of the info module's providers answer."""
    field = "existing providers (gcp_workload_identity_pool_provider_info answer)"
    if answer is None:
        return {}
    if not isinstance(answer, list) or not all(isinstance(entry, dict) and isinstance(entry.get("provider_id"), str)
                                               for entry in answer):
        raise ValidationError(field, "must be a list of providers, each with its provider_id", answer)
    existing = {}
    for entry in answer:
        aws = entry.get("aws")
        account = aws.get("account_id") if isinstance(aws, dict) else None
        existing[entry["provider_id"]] = {
            "state": entry.get("state") or "ACTIVE",
            "aws": isinstance(aws, dict),
            "account_id": account if isinstance(account, str) and ACCOUNT_ID_RE.fullmatch(account) else None,
        }
    return existing


def _assign(provider_id, accounts, existing):
    """account -> provider ID; stable: an account keeps the provider it has.

    gcp_federation_provider_id belongs to the account its live provider admits; otherwise, when
    there is one account only and it has no derived provider, to that account (today's single
    provider). Every other account gets PROVIDER_ID-ACCOUNT_ID.
    """
    plain = existing.get(provider_id)
    owner = plain["account_id"] if plain and plain["aws"] and plain["state"] != "DELETED" else None
    assigned = {}
    for account in accounts:
        derived = account_provider_id(provider_id, account)
        has_derived = derived in existing and existing[derived]["state"] != "DELETED"
        if account == owner or (len(accounts) == 1 and not has_derived):
            assigned[account] = provider_id
        else:
            assigned[account] = derived
    return assigned
