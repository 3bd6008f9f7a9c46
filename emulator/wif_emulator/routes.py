"""The route table: every service module's routes, most specific first."""

from __future__ import annotations

from . import admin, crm, iam_roles, iam_sa, iam_wif, serviceusage, tokens, vertex
from .app import Route


def all_routes() -> list[Route]:
    # generateAccessToken shares its path prefix with the IAM service-account routes; the
    # regexes are anchored and colon verbs excluded from ids, so order only matters for speed.
    return [*tokens.ROUTES, *vertex.ROUTES, *iam_wif.ROUTES, *iam_sa.ROUTES, *iam_roles.ROUTES,
            *serviceusage.ROUTES, *crm.ROUTES, *admin.ROUTES]
