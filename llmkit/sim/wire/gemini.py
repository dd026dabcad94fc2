"""The Gemini API's wire format, as the simulator renders it.

Modelled on real recorded traffic (``../shared/real-cassettes-set2``): model and method in the
path (``/v1beta/models/{model}:generateContent``, ``:streamGenerateContent?alt=sse``), the key
in ``x-goog-api-key`` or ``?key=``, ``usageMetadata`` with ``thoughtsTokenCount`` apart from
``candidatesTokenCount`` (2.5 models think by default and do not show it), SSE events framed
with ``\\r\\n\\r\\n`` and no ``[DONE]``, errors as ``{"error": {"code", "message", "status",
"details"}}`` with ``RetryInfo.retryDelay`` on a 429 and no ``retry-after`` header, an invalid
key as a 400 ``API_KEY_INVALID``, and a blocked prompt as a 200 with ``promptFeedback``.
"""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import parse_qs, unquote

from llmkit.sim.faults import Fault
from llmkit.sim.gen import Call, ToolSpec
from llmkit.sim.wire.common import (
    BAD_GATEWAY_HTML,
    Ctx,
    Invalid,
    Reply,
    alnum_id,
    dumps,
    hex_id,
)

__all__ = [
    "authorized",
    "count_route",
    "error",
    "headers",
    "invalid",
    "json_body",
    "missing_auth",
    "model_not_found",
    "new_ids",
    "not_found",
    "parse",
    "route",
    "stream",
    "stream_error",
]

PREFIX = "/v1beta/models/"
_JSON = ("content-type", "application/json; charset=UTF-8")
_SSE = ("content-type", "text/event-stream")
_FINISH = {"stop": "STOP", "length": "MAX_TOKENS", "tool_calls": "STOP"}
_WINDOW = 1_048_576


def route(path: str) -> tuple[str, bool] | None:
    """(model, stream) for a Gemini path, or None for any other path."""
    if not path.startswith(PREFIX):
        return None
    model, sep, method = path[len(PREFIX) :].rpartition(":")
    if not sep or method not in ("generateContent", "streamGenerateContent") or not model:
        return None
    return unquote(model), method == "streamGenerateContent"


def count_route(path: str) -> str | None:
    """The model of a Gemini ``/v1beta/models/{model}:countTokens`` path, or None."""
    if not path.startswith(PREFIX):
        return None
    model, sep, method = path[len(PREFIX) :].rpartition(":")
    return unquote(model) if sep and method == "countTokens" and model else None


def authorized(headers_key: str | None, query: str) -> bool:
    if headers_key and headers_key.strip():
        return True
    return any(v.strip() for v in parse_qs(query).get("key", []))


def _texts(content: Any) -> tuple[list[str], bool]:
    """The text of a content's parts, and whether it holds a function response."""
    parts = content.get("parts") if isinstance(content, dict) else None
    if not isinstance(parts, list):
        raise Invalid("* GenerateContentRequest.contents: contents.parts must not be empty.")
    texts, answer = [], False
    for p in parts:
        if not isinstance(p, dict):
            continue
        if isinstance(p.get("text"), str):
            texts.append(p["text"])
        elif isinstance(p.get("functionResponse"), dict):
            answer = True
            texts.append(dumps(p["functionResponse"].get("response")))
        elif isinstance(p.get("functionCall"), dict):
            texts.append(dumps(p["functionCall"]))
    return texts, answer


def _tools(raw: Any) -> tuple[ToolSpec, ...]:
    out = []
    for t in raw if isinstance(raw, list) else ():
        for fn in t.get("functionDeclarations") or () if isinstance(t, dict) else ():
            if isinstance(fn, dict) and isinstance(fn.get("name"), str):
                out.append(ToolSpec(fn["name"], fn.get("parameters") or {}))
    return tuple(out)


def parse(data: Any, model: str, stream_: bool) -> tuple[Call, str]:
    if not isinstance(data, dict):
        raise Invalid("Invalid JSON payload received. Expected an object.")
    contents = data.get("contents")
    if not isinstance(contents, list) or not contents:
        raise Invalid("* GenerateContentRequest.contents: contents is not specified")
    texts: list[str] = []
    system = data.get("systemInstruction")
    if system is not None:
        texts += _texts(system)[0]
    last_user, answered = "", False
    for c in contents:
        t, answered = _texts(c)
        texts += t
        if isinstance(c, dict) and c.get("role", "user") == "user" and not answered:
            last_user = "\n".join(t)
    config = data.get("generationConfig")
    config = config if isinstance(config, dict) else {}
    max_tokens = config.get("maxOutputTokens")
    if max_tokens is not None and (
        not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1
    ):
        raise Invalid("* GenerateContentRequest.generation_config.max_output_tokens: must be > 0")
    thinks = model.removeprefix("models/").startswith(("gemini-2.5", "gemini-3"))
    call = Call(
        provider="gemini",
        api="gemini",
        model=model,
        stream=stream_,
        prompt="\n".join(texts),
        max_tokens=max_tokens,
        tools=_tools(data.get("tools")),
        last_is_tool_result=answered,
        raw=data,
        reasoning="medium" if thinks else None,
    )
    return call, last_user


# ----------------------------------------------------------------------------- rendering


def headers(ctx: Ctx, *, stream: bool = False) -> list[tuple[str, str]]:
    return [
        _SSE if stream else _JSON,
        ("server-timing", f"gfet4t7; dur={ctx.processing_ms}"),
        ("x-gemini-service-tier", "standard"),
        ("vary", "Origin, Referer, X-Origin"),
    ]


def new_ids(ctx: Ctx) -> None:
    ctx.request_id = hex_id(ctx.rng, 8)
    ctx.resp_id = alnum_id(ctx.rng, 22)


def _usage(ctx: Ctx) -> dict[str, Any]:
    c = ctx.comp
    assert c is not None
    out: dict[str, Any] = {
        "promptTokenCount": c.input_tokens,
        "candidatesTokenCount": c.output_tokens,
        "totalTokenCount": c.input_tokens + c.billed_output,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": c.input_tokens}],
    }
    if ctx.cache_read:
        out["cachedContentTokenCount"] = ctx.cache_read
    if c.reasoning_tokens:
        out["thoughtsTokenCount"] = c.reasoning_tokens
    return out


def _prompt_usage(ctx: Ctx) -> dict[str, Any]:
    """What the API puts on every streamed chunk before the last: the prompt's count only."""
    c = ctx.comp
    assert c is not None
    return {"promptTokenCount": c.input_tokens, "totalTokenCount": c.input_tokens}


def _chunk(ctx: Ctx, parts: list[dict[str, Any]], finish: str | None, usage: bool) -> str:
    cand: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
    if finish is not None:
        cand["finishReason"] = finish
    body: dict[str, Any] = {"candidates": [cand]}
    body["usageMetadata"] = _usage(ctx) if usage else _prompt_usage(ctx)
    body["modelVersion"] = ctx.model.removeprefix("models/")
    body["responseId"] = ctx.resp_id
    return dumps(body)


def _answer_parts(ctx: Ctx) -> list[dict[str, Any]]:
    c = ctx.comp
    assert c is not None
    if c.tool_name is not None:
        import json  # noqa: PLC0415 - only tool calls need it

        return [{"functionCall": {"name": c.tool_name, "args": json.loads(c.tool_args or "{}")}}]
    return [{"text": c.text}]


def json_body(ctx: Ctx) -> bytes:
    c = ctx.comp
    assert c is not None
    return _chunk(ctx, _answer_parts(ctx), _FINISH[c.finish], True).encode()


def _event(data: str) -> bytes:
    return f"data: {data}\r\n\r\n".encode()


def stream(ctx: Ctx) -> list[tuple[int, bytes]]:
    """A few tokens per event, as Gemini streams; each carries the prompt's count, the last
    the finish and the whole usage (the output count comes only at the end)."""
    c = ctx.comp
    assert c is not None
    if c.tool_name is not None:
        body = _chunk(ctx, _answer_parts(ctx), _FINISH[c.finish], True)
        return [(c.output_tokens + c.reasoning_tokens, _event(body))]
    pieces = list(c.pieces)
    size = 4
    groups = [pieces[i : i + size] for i in range(0, len(pieces), size)] or [[]]
    out: list[tuple[int, bytes]] = []
    for i, group in enumerate(groups):
        last = i == len(groups) - 1
        tokens = len(group) + (c.reasoning_tokens if i == 0 else 0)
        finish = _FINISH[c.finish] if last else None
        out.append((tokens, _event(_chunk(ctx, [{"text": "".join(group)}], finish, last))))
    return out


def _err(code: int, status: str, message: str, details: list[Any] | None = None) -> bytes:
    err: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        err["details"] = details
    return dumps({"error": err}).encode()


def _retry_info(seconds: float | None) -> list[Any]:
    if seconds is None:
        return []
    return [
        {
            "@type": "type.googleapis.com/google.rpc.RetryInfo",
            "retryDelay": f"{max(1, math.ceil(seconds))}s",
        }
    ]


def error(ctx: Ctx, fault: Fault, *, tokens: int = 0) -> Reply:
    h = tuple(headers(ctx))
    model = ctx.model.removeprefix("models/")
    if fault is Fault.RATE_LIMIT:
        msg = (
            "You exceeded your current quota, please check your plan and billing details. "
            "For more information on this error, head to: "
            "https://ai.google.dev/gemini-api/docs/rate-limits.\n* Quota exceeded for metric: "
            "generativelanguage.googleapis.com/generate_content_paid_tier_requests, "
            f"limit: 1000, model: {model}"
        )
        return Reply(429, _err(429, "RESOURCE_EXHAUSTED", msg, _retry_info(ctx.retry_after)), h)
    if fault is Fault.INSUFFICIENT_QUOTA:
        msg = (
            "You exceeded your current quota, please check your plan and billing details.\n"
            "* Quota exceeded for metric: generativelanguage.googleapis.com/"
            f"generate_content_free_tier_requests, limit: 0, model: {model}"
        )
        return Reply(429, _err(429, "RESOURCE_EXHAUSTED", msg), h)
    if fault is Fault.SERVER_ERROR or fault is Fault.MIDSTREAM_ERROR:
        msg = "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting"
        return Reply(500, _err(500, "INTERNAL", msg), h)
    if fault is Fault.BAD_GATEWAY:
        return Reply(502, BAD_GATEWAY_HTML, (("content-type", "text/html"),))
    if fault is Fault.UNAVAILABLE or fault is Fault.OVERLOADED:
        msg = "The model is overloaded. Please try again later."
        return Reply(503, _err(503, "UNAVAILABLE", msg), h)
    if fault is Fault.CONTEXT_LENGTH:
        msg = (
            f"The input token count ({max(tokens, _WINDOW + 1)}) exceeds the maximum number of "
            f"tokens allowed ({_WINDOW})."
        )
        return Reply(400, _err(400, "INVALID_ARGUMENT", msg), h)
    if fault is Fault.CONTENT_FILTER:
        # Gemini blocks a prompt with a 200 and no candidates.
        body = {
            "promptFeedback": {"blockReason": "SAFETY"},
            "usageMetadata": {"promptTokenCount": tokens, "totalTokenCount": tokens},
            "modelVersion": model,
            "responseId": ctx.resp_id,
        }
        return Reply(200, dumps(body).encode(), h)
    if fault is Fault.AUTH:
        details = [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            }
        ]
        msg = "API key not valid. Please pass a valid API key."
        return Reply(400, _err(400, "INVALID_ARGUMENT", msg, details), h)
    raise ValueError(f"{fault} is not an HTTP error")


def invalid(ctx: Ctx, exc: Invalid) -> Reply:
    return Reply(400, _err(400, "INVALID_ARGUMENT", exc.message), tuple(headers(ctx)))


def missing_auth(ctx: Ctx) -> Reply:
    msg = (
        "Method doesn't allow unregistered callers (callers without established identity). "
        "Please use API Key or other form of API consumer identity to call this API."
    )
    return Reply(403, _err(403, "PERMISSION_DENIED", msg), tuple(headers(ctx)))


def model_not_found(ctx: Ctx, model: str, method: str) -> Reply:
    """An unknown model, worded as the real API words it."""
    msg = (
        f"models/{model.removeprefix('models/')} is not found for API version v1beta, or is "
        f"not supported for {method}. Call ListModels to see the list of available models "
        "and their supported methods."
    )
    return Reply(404, _err(404, "NOT_FOUND", msg), tuple(headers(ctx)))


def not_found(ctx: Ctx, method: str, path: str) -> Reply:
    return Reply(
        404, _err(404, "NOT_FOUND", f"Method not found: {method} {path}"), tuple(headers(ctx))
    )


def stream_error(ctx: Ctx) -> list[bytes]:
    """An error inside a 200 stream: one event holding Google's error object."""
    msg = "An internal error has occurred. Please retry."
    return [_event(_err(500, "INTERNAL", msg).decode())]
