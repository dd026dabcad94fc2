"""OpenAI's Responses API (``/v1/responses``), as the real API sends it.

Parses a request (``input`` as a string or a list of items, ``instructions``, function tools)
into the simulator's neutral :class:`~llmkit.sim.gen.Call`, and renders the answer as the
``response`` object or its typed event stream (``response.created`` ... ``response.completed``,
each with its ``sequence_number``). A reasoning model's ``reasoning`` item comes first, with
``encrypted_content`` only when ``include`` asks for it.
"""

from __future__ import annotations

import base64
from typing import Any

from llmkit.sim.gen import Call, ToolSpec, text_of
from llmkit.sim.wire.common import (
    Ctx,
    Invalid,
    dumps,
    effort,
    hex_id,
    opt_int,
    reasoning_model,
    require_model,
    split_args,
    sse,
)
from llmkit.sim.wire.openai.shared import call_id

__all__ = ["parse_responses", "responses_json", "responses_stream"]

# ----------------------------------------------------------------------------- requests


def parse_responses(data: Any) -> tuple[Call, str]:
    model = require_model(data)
    inp = data.get("input")
    texts = [data["instructions"]] if isinstance(data.get("instructions"), str) else []
    last_user, last_tool = "", False
    if isinstance(inp, str):
        texts.append(inp)
        last_user = inp
    elif isinstance(inp, list) and inp:
        for item in inp:
            if not isinstance(item, dict):
                raise Invalid(
                    "Invalid type for 'input': expected a list of objects.", "input", "invalid_type"
                )
            t = text_of(item.get("content")) if "content" in item else text_of([item])
            texts.append(t)
            if item.get("role") == "user":
                last_user = t
        last_tool = inp[-1].get("type") == "function_call_output"
    else:
        raise Invalid("Missing required parameter: 'input'.", "input", "missing_required_parameter")
    tools = tuple(
        ToolSpec(t["name"], t.get("parameters") or {})
        for t in data.get("tools") or ()
        if isinstance(t, dict) and t.get("type") == "function" and isinstance(t.get("name"), str)
    )
    call = Call(
        provider="openai",
        api="responses",
        model=model,
        stream=bool(data.get("stream")),
        prompt="\n".join(texts),
        max_tokens=opt_int(data, "max_output_tokens"),
        tools=tools,
        last_is_tool_result=last_tool,
        include_usage=True,
        raw=data,
        reasoning=effort(data.get("reasoning")) or ("medium" if reasoning_model(model) else None),
    )
    return call, last_user


# ----------------------------------------------------------------------------- answers


def _resp_usage(ctx: Ctx) -> dict[str, Any]:
    c = ctx.comp
    assert c is not None
    return {
        "input_tokens": c.input_tokens,
        "input_tokens_details": {"cached_tokens": ctx.cache_read},
        "output_tokens": c.billed_output,
        "output_tokens_details": {"reasoning_tokens": c.reasoning_tokens},
        "total_tokens": c.input_tokens + c.billed_output,
    }


def _item(ctx: Ctx, item_id: str, cid: str, *, done: bool) -> dict[str, Any]:
    c = ctx.comp
    assert c is not None
    status = "completed" if done else "in_progress"
    if c.tool_name is not None:
        return {
            "id": item_id,
            "type": "function_call",
            "status": status,
            "arguments": c.tool_args if done else "",
            "call_id": cid,
            "name": c.tool_name,
        }
    content = (
        [{"type": "output_text", "annotations": [], "logprobs": [], "text": c.text}] if done else []
    )
    return {
        "id": item_id,
        "type": "message",
        "status": status,
        "content": content,
        "role": "assistant",
    }


def _response(ctx: Ctx, output: list[dict[str, Any]], *, final: bool) -> dict[str, Any]:
    c = ctx.comp
    assert c is not None
    assert ctx.call is not None
    incomplete = final and c.finish == "length"
    status = ("incomplete" if incomplete else "completed") if final else "in_progress"
    return {
        "id": ctx.resp_id,
        "object": "response",
        "created_at": ctx.created,
        "status": status,
        "background": False,
        "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if incomplete else None,
        "instructions": None,
        "max_output_tokens": ctx.call.max_tokens,
        "model": ctx.model,
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": ctx.call.reasoning, "summary": None},
        "service_tier": "default",
        "store": False,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": _resp_usage(ctx) if final else None,
        "user": None,
        "metadata": {},
    }


def _item_ids(ctx: Ctx) -> tuple[str, str]:
    c = ctx.comp
    assert c is not None
    if c.tool_name is not None:
        return "fc_" + hex_id(ctx.rng, 25), call_id(ctx)
    return "msg_" + hex_id(ctx.rng, 25), ""


def _reasoning_item(ctx: Ctx) -> dict[str, Any] | None:
    """The ``reasoning`` output item a reasoning model puts before its answer: no text (the
    summary is opt-in), the opaque ``encrypted_content`` only when ``include`` asks for it."""
    c, call = ctx.comp, ctx.call
    assert c is not None
    assert call is not None
    if not c.reasoning_tokens:
        return None
    item: dict[str, Any] = {"id": "rs_" + hex_id(ctx.rng, 25), "type": "reasoning", "summary": []}
    include = call.raw.get("include")
    if isinstance(include, list) and "reasoning.encrypted_content" in include:
        blob = base64.urlsafe_b64encode(ctx.rng.randbytes(12 * c.reasoning_tokens + 64))
        item["encrypted_content"] = "gAAAAAB" + blob.decode()
    return item


def responses_json(ctx: Ctx) -> bytes:
    rs = _reasoning_item(ctx)
    item_id, cid = _item_ids(ctx)
    output = [_item(ctx, item_id, cid, done=True)]
    return dumps(_response(ctx, output if rs is None else [rs, *output], final=True)).encode()


def responses_stream(ctx: Ctx) -> list[tuple[int, bytes]]:
    c = ctx.comp
    assert c is not None
    rs = _reasoning_item(ctx)
    item_id, cid = _item_ids(ctx)
    oi = 0 if rs is None else 1
    out: list[tuple[int, bytes]] = []
    seq = 0

    def ev(kind: str, payload: dict[str, Any], tokens: int = 0) -> None:
        nonlocal seq
        payload = {"type": kind, **payload, "sequence_number": seq}
        seq += 1
        out.append((tokens, sse(dumps(payload), kind)))

    ev("response.created", {"response": _response(ctx, [], final=False)})
    ev("response.in_progress", {"response": _response(ctx, [], final=False)})
    if rs is not None:
        ev("response.output_item.added", {"item": rs, "output_index": 0}, c.reasoning_tokens)
        ev("response.output_item.done", {"item": rs, "output_index": 0})
    ev(
        "response.output_item.added",
        {"item": _item(ctx, item_id, cid, done=False), "output_index": oi},
    )
    if c.tool_name is not None:
        parts = split_args(c.tool_args)
        share = max(1, c.output_tokens // len(parts))
        for p in parts:
            ev(
                "response.function_call_arguments.delta",
                {"delta": p, "item_id": item_id, "output_index": oi},
                share,
            )
        ev(
            "response.function_call_arguments.done",
            {"arguments": c.tool_args, "item_id": item_id, "output_index": oi},
        )
    else:
        part = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
        ev(
            "response.content_part.added",
            {"content_index": 0, "item_id": item_id, "output_index": oi, "part": part},
        )
        pre = '{"type":"response.output_text.delta","content_index":0,"delta":'
        post = f',"item_id":"{item_id}","logprobs":[],"output_index":{oi},"sequence_number":'
        for piece in c.pieces:
            data = f"{pre}{dumps(piece)}{post}{seq}}}"
            seq += 1
            out.append((1, sse(data, "response.output_text.delta")))
        ev(
            "response.output_text.done",
            {
                "content_index": 0,
                "item_id": item_id,
                "logprobs": [],
                "output_index": oi,
                "text": c.text,
            },
        )
        ev(
            "response.content_part.done",
            {
                "content_index": 0,
                "item_id": item_id,
                "output_index": oi,
                "part": {**part, "text": c.text},
            },
        )
    done_item = _item(ctx, item_id, cid, done=True)
    ev("response.output_item.done", {"item": done_item, "output_index": oi})
    final = _response(ctx, [done_item] if rs is None else [rs, done_item], final=True)
    kind = "response.incomplete" if final["status"] == "incomplete" else "response.completed"
    ev(kind, {"response": final})
    return out
