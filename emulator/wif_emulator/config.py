"""Emulator configuration: load from YAML (or a dict) and validate with clear errors."""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PROJECT_ID_RE = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]")
PROJECT_NUMBER_RE = re.compile(r"[1-9][0-9]{11}")
AWS_ACCOUNT_RE = re.compile(r"[0-9]{12}")
AWS_ROLE_RE = re.compile(r"[A-Za-z0-9+=,.@_-]{1,64}")

_TOP_KEYS = {"admin_tokens", "projects", "aws", "operations", "state_file",
             "require_enabled_services", "consistency", "tokens", "control_plane_service_accounts",
             "admin_principal"}
# A service-account e-mail (IAM: account ID 6-30 chars, project ID 6-30 chars).
_SA_EMAIL_RE = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]@[a-z][a-z0-9-]{4,28}[a-z0-9]\.iam\.gserviceaccount\.com")
MAX_LAG_SECONDS = 3600
_ADMIN_PRINCIPAL_RE = re.compile(r"(user|serviceAccount):[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")


class ConfigError(ValueError):
    """The configuration broke a rule; the message names the field and the rule."""


@dataclass
class ProjectSeed:
    id: str
    number: str
    services: list[str] = field(default_factory=list)
    owner: str = "user:sandbox-owner@example.com"


@dataclass
class AwsAccount:
    id: str
    roles: list[str]


@dataclass
class OidcProvider:
    """An IAM OIDC identity provider (an EKS cluster's issuer) registered in one AWS account."""

    issuer: str
    account_id: str
    audiences: list[str]
    # Subjects (sub claims) the roles' trust policies admit; fnmatch patterns as StringLike. Empty: any.
    subjects: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Consistency:
    """How long the emulated cloud takes to agree with itself (all 0: at once)."""

    service_account_visibility_seconds: float = 0
    iam_propagation_seconds: float = 0
    provider_propagation_seconds: float = 0
    service_enablement_seconds: float = 0


@dataclass(frozen=True)
class TokenLifetimes:
    """Lifetimes of the Google access tokens the emulator mints."""

    federated_token_seconds: int = 3600
    service_account_token_seconds: int = 3600


@dataclass
class Config:
    admin_tokens: list[str]
    projects: list[ProjectSeed]
    credential_secret: str
    credential_ttl_seconds: int = 3600
    aws_accounts: list[AwsAccount] = field(default_factory=list)
    polls_before_done: int = 0
    state_file: str | None = None
    # Vertex needs aiplatform.googleapis.com and generateAccessToken needs
    # iamcredentials.googleapis.com enabled, as on Google; false turns the check off.
    require_enabled_services: bool = True
    raw: dict[str, Any] = field(default_factory=dict)
    # Both can be replaced at runtime (POST /_emulator/consistency, /_emulator/tokens).
    consistency: Consistency = field(default_factory=Consistency)
    tokens: TokenLifetimes = field(default_factory=TokenLifetimes)
    oidc_providers: list[OidcProvider] = field(default_factory=list)
    # Service accounts whose generateAccessToken tokens the control plane accepts like the admin
    # tokens (a controller that runs keyless, as an owner service account would on Google).
    control_plane_service_accounts: list[str] = field(default_factory=list)
    # The IAM principal the admin tokens stand for outside the control plane (generateAccessToken
    # checks its bindings like any caller's), so that a policy binding can name them.
    admin_principal: str = "user:admin@example.com"

    def project(self, ref: str) -> ProjectSeed | None:
        for p in self.projects:
            if ref in (p.id, p.number):
                return p
        return None

    def aws_account(self, account_id: str) -> AwsAccount | None:
        for a in self.aws_accounts:
            if a.id == account_id:
                return a
        return None

    def oidc_provider(self, issuer: str, account_id: str | None = None) -> OidcProvider | None:
        for o in self.oidc_providers:
            if o.issuer == issuer and account_id in (None, o.account_id):
                return o
        return None


def _need(cond: bool, where: str, rule: str) -> None:
    if not cond:
        raise ConfigError(f"config: {where}: {rule}")


def _str_list(value: Any, where: str) -> list[str]:
    _need(isinstance(value, list), where, "must be a list of strings")
    for i, v in enumerate(value):
        _need(isinstance(v, str) and v != "", f"{where}[{i}]", "must be a non-empty string")
    return list(value)


def _int(value: Any, where: str, lo: int, hi: int) -> int:
    _need(isinstance(value, int) and not isinstance(value, bool), where, "must be an integer")
    _need(lo <= value <= hi, where, f"must be between {lo} and {hi}")
    return value


def _seconds(value: Any, where: str, lo: float, hi: float) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    _need(ok, where, "must be a number of seconds (integer or float)")
    _need(lo <= value <= hi, where, f"must be between {lo} and {hi}")
    return value


def _section(data: Any, where: str, base: Any, check: Any) -> Any:
    """A frozen dataclass ``base`` with the keys of ``data`` replaced, each checked by ``check``."""
    _need(isinstance(data, dict), where, "must be a mapping")
    allowed = [f.name for f in dataclasses.fields(base)]
    unknown = sorted(set(data) - set(allowed))
    _need(not unknown, where, f"unknown key(s) {unknown}; allowed: {allowed}")
    return dataclasses.replace(base, **{k: check(v, f"{where}.{k}") for k, v in data.items()})


def parse_consistency(data: Any, base: Consistency | None = None) -> Consistency:
    """Validate a (partial) ``consistency`` section on top of ``base`` (default: all 0)."""
    return _section(data, "consistency", base or Consistency(),
                    lambda v, where: _seconds(v, where, 0, MAX_LAG_SECONDS))


def parse_tokens(data: Any, base: TokenLifetimes | None = None) -> TokenLifetimes:
    """Validate a (partial) ``tokens`` section on top of ``base`` (default: 3600 s each)."""
    return _section(data, "tokens", base or TokenLifetimes(),
                    lambda v, where: _int(v, where, 10, 43200))


# An IAM OIDC provider URL: https, a host, an optional path; no query, fragment or port (IAM API
# reference, CreateOpenIDConnectProvider: "Url ... must begin with https://").
_ISSUER_RE = re.compile(r"https://[a-z0-9]([a-z0-9.-]*[a-z0-9])?(/[A-Za-z0-9._~%!$&'()*+,;=:@-]+)*")


def parse_oidc_providers(value: Any, accounts: list[AwsAccount]) -> list[OidcProvider]:
    _need(isinstance(value, list), "aws.oidc_providers", "must be a list of mappings")
    out: list[OidcProvider] = []
    for i, o in enumerate(value):
        where = f"aws.oidc_providers[{i}]"
        _need(isinstance(o, dict), where, "must be a mapping with issuer, account_id and audiences")
        bad = sorted(set(o) - {"issuer", "account_id", "audiences", "subjects"})
        _need(not bad, where, f"unknown key(s) {bad}")
        issuer = o.get("issuer")
        _need(isinstance(issuer, str) and bool(_ISSUER_RE.fullmatch(issuer)), f"{where}.issuer",
              "an https:// URL without port, query or fragment, e.g. https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE")
        aid = o.get("account_id")
        if isinstance(aid, int) and not isinstance(aid, bool):
            aid = f"{aid:012d}"
        _need(isinstance(aid, str) and bool(AWS_ACCOUNT_RE.fullmatch(aid)), f"{where}.account_id", "a string of 12 digits")
        _need(any(a.id == aid for a in accounts), f"{where}.account_id", f"{aid} is not one of aws.accounts")
        auds = _str_list(o.get("audiences", ["sts.amazonaws.com"]), f"{where}.audiences")
        _need(bool(auds), f"{where}.audiences", "at least one audience (client ID) is required")
        subjects = _str_list(o.get("subjects", []), f"{where}.subjects")
        _need(all(p.issuer != issuer or p.account_id != aid for p in out), where,
              "an issuer is registered at most once per account")
        out.append(OidcProvider(issuer, aid, auds, subjects))
    return out


def parse_config(data: Any) -> Config:
    _need(isinstance(data, dict), "top level", "must be a mapping")
    unknown = sorted(set(data) - _TOP_KEYS)
    _need(not unknown, "top level", f"unknown key(s) {unknown}; allowed: {sorted(_TOP_KEYS)}")

    tokens = _str_list(data.get("admin_tokens"), "admin_tokens") if "admin_tokens" in data else []
    _need(bool(tokens), "admin_tokens", "at least one admin token is required")

    projects_raw = data.get("projects")
    _need(isinstance(projects_raw, list) and projects_raw, "projects", "must be a non-empty list")
    projects: list[ProjectSeed] = []
    for i, p in enumerate(projects_raw):
        where = f"projects[{i}]"
        _need(isinstance(p, dict), where, "must be a mapping")
        bad = sorted(set(p) - {"id", "number", "services", "owner"})
        _need(not bad, where, f"unknown key(s) {bad}")
        pid = p.get("id")
        _need(isinstance(pid, str) and bool(PROJECT_ID_RE.fullmatch(pid)), f"{where}.id",
              "6-30 chars of [a-z0-9-], starting with a letter, not ending with '-'")
        num = p.get("number")
        if isinstance(num, int) and not isinstance(num, bool):
            num = str(num)
        _need(isinstance(num, str) and bool(PROJECT_NUMBER_RE.fullmatch(num)), f"{where}.number",
              "a string of 12 digits not starting with 0")
        services = _str_list(p.get("services", []), f"{where}.services")
        owner = p.get("owner", "user:sandbox-owner@example.com")
        _need(isinstance(owner, str) and ":" in owner, f"{where}.owner",
              "an IAM member such as user:someone@example.com")
        _need(all(q.id != pid and q.number != num for q in projects), where,
              "project id and number must be unique")
        projects.append(ProjectSeed(pid, num, services, owner))

    aws = data.get("aws")
    _need(isinstance(aws, dict), "aws", "must be a mapping with credential_secret and accounts")
    bad = sorted(set(aws) - {"credential_secret", "credential_ttl_seconds", "accounts", "oidc_providers"})
    _need(not bad, "aws", f"unknown key(s) {bad}")
    secret = aws.get("credential_secret")
    _need(isinstance(secret, str) and len(secret) >= 8, "aws.credential_secret",
          "a string of at least 8 characters")
    ttl = _int(aws.get("credential_ttl_seconds", 3600), "aws.credential_ttl_seconds", 60, 43200)
    accounts: list[AwsAccount] = []
    for i, a in enumerate(aws.get("accounts", []) or []):
        where = f"aws.accounts[{i}]"
        _need(isinstance(a, dict), where, "must be a mapping with id and roles")
        aid = a.get("id")
        if isinstance(aid, int) and not isinstance(aid, bool):
            aid = f"{aid:012d}"
        _need(isinstance(aid, str) and bool(AWS_ACCOUNT_RE.fullmatch(aid)), f"{where}.id",
              "a string of 12 digits")
        roles = _str_list(a.get("roles", []), f"{where}.roles")
        for j, r in enumerate(roles):
            _need(bool(AWS_ROLE_RE.fullmatch(r)), f"{where}.roles[{j}]", "an IAM role name ([A-Za-z0-9+=,.@_-]{1,64})")
        accounts.append(AwsAccount(aid, roles))
    oidc = parse_oidc_providers(aws.get("oidc_providers", []) or [], accounts)

    ops = data.get("operations", {}) or {}
    _need(isinstance(ops, dict), "operations", "must be a mapping")
    polls = _int(ops.get("polls_before_done", 0), "operations.polls_before_done", 0, 1000)

    state_file = data.get("state_file")
    _need(state_file is None or (isinstance(state_file, str) and state_file != ""), "state_file",
          "a file path or null")
    res = data.get("require_enabled_services", True)
    _need(isinstance(res, bool), "require_enabled_services", "must be true or false")
    # An empty YAML section (`consistency:`) is null: the defaults.
    consistency = parse_consistency({} if data.get("consistency") is None else data["consistency"])
    lifetimes = parse_tokens({} if data.get("tokens") is None else data["tokens"])
    control_sas = _str_list(data.get("control_plane_service_accounts", []), "control_plane_service_accounts")
    bad_sas = [e for e in control_sas if not _SA_EMAIL_RE.fullmatch(e)]
    _need(not bad_sas, "control_plane_service_accounts", f"service-account e-mail addresses only, got {bad_sas}")
    admin_principal = data.get("admin_principal", "user:admin@example.com")
    _need(isinstance(admin_principal, str) and bool(_ADMIN_PRINCIPAL_RE.fullmatch(admin_principal)), "admin_principal",
          "an IAM member user:EMAIL or serviceAccount:EMAIL, such as user:admin@example.com")
    return Config(tokens, projects, secret, ttl, accounts, polls, state_file, res, dict(data),
                  consistency=consistency, tokens=lifetimes, oidc_providers=oidc,
                  control_plane_service_accounts=control_sas, admin_principal=admin_principal)


def load_config(source: str | Path | dict[str, Any]) -> Config:
    if isinstance(source, dict):
        return parse_config(source)
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"config: cannot read {path}: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"config: {path} is not valid YAML: {exc}") from exc
    return parse_config(data)
