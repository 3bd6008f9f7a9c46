# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The Google side of the federation, planned from the gcp_federation role's variables.

``plan(variables)`` checks every variable with the rules the modules apply, before the
role makes its first call, and works out what the tasks need: the AWS account, the
assumed-role forms Google's default mapping yields, and the provider's condition.

The condition is built here, not in Jinja: CEL's ``&&`` binds tighter than ``||``, so
every part is wrapped in parentheses. Otherwise a user's ``A || B`` would turn the role
restriction into ``A || (B && restriction)`` and admit roles that are not listed.
"""

from __future__ import annotations

from ansible_collections.keyless.wif.plugins.module_utils import inputs
from ansible_collections.keyless.wif.plugins.module_utils.wif import cel
from ansible_collections.keyless.wif.plugins.module_utils.wif.names import PROJECT_NUMBER_RE, pool_name, service_account_member
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


def plan(variables, project_id=None, project_number=None):
    """Check the role's variables (keys with the gcp_federation_ prefix); return the plan.

    ``project_id`` and ``project_number`` are the project as Google answered it
    (gcp_project_info): the ID names the service account when gcp_federation_project is a
    number, the number names the pool. Raises ValidationError naming the variable.
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

    mapping = inputs.mapping(field("attribute_mapping"), var("attribute_mapping")) or None
    check_attribute_mapping(field("attribute_mapping"), mapping)
    if mapping is not None and "attribute.aws_role" not in mapping:
        raise ValidationError(field("attribute_mapping"), "must map attribute.aws_role: the service-account "
                                                          "bindings and the role restriction match on it", sorted(mapping))
    extra = inputs.text(field("attribute_condition"), var("attribute_condition"), single_line=False)
    if extra.strip():
        check_cel(field("attribute_condition"), extra, variables=CONDITION_VARIABLES)

    aws_roles, account_id = _aws_roles(var, field, state)

    condition = cel.conjoin([
        extra,
        "attribute.aws_role in [%s]" % ", ".join(cel.string_literal(r) for r in aws_roles) if restrict and aws_roles else "",
    ])
    if len(condition) > CEL_MAX:
        raise ValidationError(field("aws_role_arns"), "admit too many roles: the provider condition would be %d "
                                                      "characters, Google's limit is %d" % (len(condition), CEL_MAX))
    if project_id is not None:
        check_project(project_id, "project_id (gcp_project_info answer)")
    if project_number is not None and not PROJECT_NUMBER_RE.fullmatch(str(project_number)):
        raise ValidationError("project_number (gcp_project_info answer)", "must be a project number", project_number)
    email_project = project_id or project
    email = None if email_project.isdigit() else service_account_email(account_name, email_project)
    return {
        "state": state,
        "project": project,
        "pool_id": ids["pool_id"],
        # The pool's full resource name, once the project number is known.
        "pool_name": pool_name(str(project_number), ids["pool_id"]) if project_number is not None else None,
        "provider_id": ids["provider_id"],
        "service_account_id": account_name,
        # A project number has no e-mail domain: the role plans again with the project's ID.
        "service_account_email": email,
        "service_account_member": service_account_member(email) if email else None,
        "texts": texts,
        "vertex_roles": vertex_roles,
        "services": services,
        "manage_services": manage_services,
        "attribute_mapping": mapping,
        "attribute_condition": condition,
        "account_id": account_id,
        "aws_roles": aws_roles,
    }


def _aws_roles(var, field, state):
    """The admitted roles in assumed-role form, and the one AWS account they belong to."""
    given = inputs.string_list(field("aws_role_arns"), var("aws_role_arns"))
    source = field("aws_role_arns")
    roles = []
    accounts = []
    for index, arn in enumerate(given):
        identity = parse_aws_role_arn("%s[%d]" % (source, index), arn)
        if identity["aws_role"] not in roles:
            roles.append(identity["aws_role"])
        if identity["account_id"] not in accounts:
            accounts.append(identity["account_id"])

    account_id = inputs.aws_account_id(field("aws_account_id"), var("aws_account_id"))
    if state == "absent":
        return roles, account_id
    if not roles:
        raise ValidationError(field("aws_role_arns"), "is empty: list the AWS role ARNs the provider admits (the "
                                                      "site playbook gathers them from its hosts with "
                                                      "keyless.wif.aws_caller_info)")
    if not account_id:
        if len(accounts) > 1:
            raise ValidationError(source, "must all belong to one AWS account (one AWS provider admits one account); "
                                          "got accounts %s" % ", ".join(accounts))
        account_id = accounts[0]
    check_aws_account_id(field("aws_account_id"), account_id)
    foreign = [a for a in accounts if a != account_id]
    if foreign:
        raise ValidationError(source, "must all belong to gcp_federation_aws_account_id %s (one AWS provider admits "
                                      "one account); got accounts %s" % (account_id, ", ".join(accounts)))
    return roles, account_id
