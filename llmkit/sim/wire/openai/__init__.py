"""OpenAI Chat Completions and Responses, as the real API sends them (see real-cassettes).

The simulator looks this package up as one wire module; its parts are:

- :mod:`~llmkit.sim.wire.openai.chat` -- Chat Completions: parse, JSON body, SSE chunks;
- :mod:`~llmkit.sim.wire.openai.responses` -- the Responses API: parse, object, typed events;
- :mod:`~llmkit.sim.wire.openai.shared` -- what both share: headers, ids, error replies.
"""

from llmkit.sim.wire.openai.chat import chat_json, chat_stream, parse_chat
from llmkit.sim.wire.openai.responses import parse_responses, responses_json, responses_stream
from llmkit.sim.wire.openai.shared import (
    call_id,
    count_prompt,
    error,
    headers,
    invalid,
    missing_auth,
    new_ids,
    not_found,
    stream_error,
)

__all__ = [
    "call_id",
    "chat_json",
    "chat_stream",
    "count_prompt",
    "error",
    "headers",
    "invalid",
    "missing_auth",
    "new_ids",
    "not_found",
    "parse_chat",
    "parse_responses",
    "responses_json",
    "responses_stream",
    "stream_error",
]
