"""Vertex AI v1 generateContent / streamGenerateContent (deterministic answers)."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from . import policy as pol
from .app import App, Request, Response, json_response, route
from .common import rfc3339
from .errors import GoogleError, bad_request, permission_denied
from .serviceusage import require_service
from .tokens import CLOUD_PLATFORM, principals, require_scope, resolve_token

PREDICT_ROLES = {"roles/aiplatform.user", "roles/aiplatform.admin", "roles/owner", "roles/editor"}
# The locations generateContent is served from (docs/emulator.md, "Vertex AI locations"): a region
# (us-central1, me-central2, northamerica-northeast1), the global endpoint and the multi-regions us, eu.
LOCATION_RE = re.compile(r"global|us|eu|[a-z]+-[a-z]+[1-9][0-9]?")
MULTI_REGIONS = ("us", "eu")
ECHO_CHARS = 200


def _get(d: dict[str, Any], camel: str) -> Any:
    """LiteLLM sends snake_case keys, Google's own clients camelCase: accept both."""
    if camel in d:
        return d[camel]
    snake = re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), camel)
    return d.get(snake)


def _texts(content: Any, where: str) -> list[str]:
    if not isinstance(content, dict):
        raise bad_request(where, "must be an object with role and parts")
    parts = content.get("parts")
    if not isinstance(parts, list) or not parts:
        raise GoogleError(400, f"Unable to submit request because it has an empty parts field in "
                          f"{where}.", "INVALID_ARGUMENT")
    out = []
    for part in parts:
        if isinstance(part, dict) and isinstance(part.get("text"), str):
            out.append(part["text"])
    return out


def _parse(body: dict[str, Any]) -> tuple[str, int, int | None]:
    """(last user text, prompt token count, max output tokens)."""
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise GoogleError(400, "Unable to submit request because it has an empty contents field.",
                          "INVALID_ARGUMENT")
    words = 0
    last_user = ""
    for i, c in enumerate(contents):
        role = c.get("role", "user") if isinstance(c, dict) else None
        if role not in ("user", "model"):
            raise bad_request(f"contents[{i}].role", "Please use a valid role: user, model.")
        texts = _texts(c, f"contents[{i}]")
        words += sum(len(t.split()) for t in texts)
        if role == "user":
            last_user = " ".join(texts)
    system = _get(body, "systemInstruction")
    if system is not None:
        words += sum(len(t.split()) for t in _texts(system, "system_instruction"))
    config = _get(body, "generationConfig") or {}
    if not isinstance(config, dict):
        raise bad_request("generation_config", "must be an object")
    max_tokens = _get(config, "maxOutputTokens")
    if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
        raise bad_request("generation_config.max_output_tokens", "must be a positive integer")
    return last_user, max(words, 1), max_tokens


def endpoint_host(location: str) -> str:
    """The host that serves a location: aiplatform. (global), aiplatform.GEO.rep. (us, eu), REGION-aiplatform."""
    if location == "global":
        return "aiplatform.googleapis.com"
    if location in MULTI_REGIONS:
        return f"aiplatform.{location}.rep.googleapis.com"
    return f"{location}-aiplatform.googleapis.com"


def _host_location(host: str) -> str | None:
    """The location a Vertex host serves, "" for a Vertex-shaped name Google does not serve, None for other hosts."""
    if host == "aiplatform.googleapis.com":
        return "global"
    if host.startswith("aiplatform.") and host.endswith(".rep.googleapis.com"):
        geo = host[len("aiplatform."):-len(".rep.googleapis.com")]
        return geo if geo in MULTI_REGIONS else ""
    if host.endswith("-aiplatform.googleapis.com"):
        region = host[:-len("-aiplatform.googleapis.com")]
        return region if LOCATION_RE.fullmatch(region) and region not in (*MULTI_REGIONS, "global") else ""
    return None


def _check_location(req: Request, location: str) -> None:
    """An unknown location, or a Google Vertex host that does not serve the path's location, is refused.

    Calls addressed to the emulator's own address (tests, api_base) carry no Google host to compare.
    """
    host = (req.headers.get("host") or "").lower().split(":")[0]
    served = _host_location(host)
    if served == "":
        # What Google answers for us-aiplatform.googleapis.com (docs/emulator.md, "Vertex AI locations").
        raise GoogleError(400, f"Invalid hostname: {host}", "INVALID_ARGUMENT")
    if not LOCATION_RE.fullmatch(location):
        raise bad_request("location", f"Unsupported location '{location}'.")
    if served is not None and served != location:
        raise bad_request("location", f"Location '{location}' is not served by the endpoint {host}; "
                          f"use {endpoint_host(location)}.")


def _authorize(app: App, req: Request, p: dict[str, str]) -> dict[str, Any]:
    proj = app.state.project(p["project"])
    resource = (f"//aiplatform.googleapis.com/projects/{p['project']}/locations/{p['location']}/"
                f"publishers/google/models/{p['model']}")
    verb = "StreamGenerateContent" if req.path.endswith(":streamGenerateContent") else "GenerateContent"
    rec = resolve_token(app, req, "aiplatform.googleapis.com",
                        f"google.cloud.aiplatform.{p['version']}.PredictionService.{verb}")
    if proj is None:
        raise permission_denied("aiplatform.endpoints.predict", resource, "aiplatform.googleapis.com")
    require_scope(rec, {CLOUD_PLATFORM})
    require_service(app, proj, "aiplatform.googleapis.com")
    enforced = pol.enforced(proj["iam_policy"], app.now(), app.config.consistency.iam_propagation_seconds)
    if not pol.holds(enforced, PREDICT_ROLES, principals(rec), resource, app.now()):
        raise permission_denied("aiplatform.endpoints.predict", resource, "aiplatform.googleapis.com")
    _check_location(req, p["location"])
    if not p["model"].startswith("gemini-"):
        raise GoogleError(404, f"Publisher Model `projects/{p['project']}/locations/{p['location']}/"
                          f"publishers/google/models/{p['model']}` not found.", "NOT_FOUND")
    return proj


def _answer(app: App, p: dict[str, str], body: dict[str, Any]) -> tuple[list[str], str, dict[str, Any], dict[str, Any]]:
    last_user, prompt_tokens, max_tokens = _parse(body)
    echo = " ".join(last_user.split())[:ECHO_CHARS]
    words = f"Emulated {p['model']} answer. You said: {echo}".split()
    finish = "STOP"
    if max_tokens is not None and len(words) > max_tokens:
        words, finish = words[:max_tokens], "MAX_TOKENS"
    usage = {"promptTokenCount": prompt_tokens, "candidatesTokenCount": len(words),
             "totalTokenCount": prompt_tokens + len(words), "trafficType": "ON_DEMAND",
             "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt_tokens}],
             "candidatesTokensDetails": [{"modality": "TEXT", "tokenCount": len(words)}]}
    common = {"modelVersion": p["model"], "createTime": rfc3339(app.now()),
              "responseId": hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:24]}
    return words, finish, usage, common


def generate(app: App, req: Request, p: dict[str, str]) -> Response:
    _authorize(app, req, p)
    words, finish, usage, common = _answer(app, p, req.json())
    return json_response(dict({
        "candidates": [{"content": {"role": "model", "parts": [{"text": " ".join(words)}]},
                        "finishReason": finish, "avgLogprobs": -0.05}],
        "usageMetadata": usage}, **common))


def stream(app: App, req: Request, p: dict[str, str]) -> Response:
    _authorize(app, req, p)
    words, finish, usage, common = _answer(app, p, req.json())
    n = len(words)
    cuts = [0, n // 3, (2 * n) // 3, n]
    chunks = []
    for i in range(3):
        piece = words[cuts[i]:cuts[i + 1]]
        if not piece and i < 2:
            continue
        text = " ".join(piece) + (" " if i < 2 else "")
        cand: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": text}]}}
        chunk: dict[str, Any] = {"candidates": [cand]}
        if i == 2:
            cand["finishReason"] = finish
            chunk["usageMetadata"] = usage
        else:
            chunk["usageMetadata"] = {"trafficType": "ON_DEMAND"}
        chunks.append(dict(chunk, **common))
    if req.q("alt") == "sse":
        data = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks).encode()
        return Response(200, data, "text/event-stream")
    return json_response(chunks)


_M = (r"/(?P<version>v1|v1beta1)/projects/(?P<project>[^/:]+)/locations/(?P<location>[^/:]+)/"
      r"publishers/google/models/(?P<model>[^/:]+)")
ROUTES = [
    route("aiplatform.endpoints.generateContent", "POST", _M + ":generateContent", "inference",
          "none", generate),
    route("aiplatform.endpoints.streamGenerateContent", "POST", _M + ":streamGenerateContent",
          "inference", "none", stream),
]
