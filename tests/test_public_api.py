"""The public API is pinned: a change to it is a deliberate edit of this file."""

from __future__ import annotations

import inspect

import httpx
import pytest

import llmkit

PUBLIC = {
    # errors (llmkit/errors.py draws the tree)
    "LLMError", "ErrorKind", "RateLimitError", "QuotaExhaustedError", "OverloadedError",
    "ServerError", "TimeoutError", "DeadlineExceededError", "ConnectionError", "BadRequestError",
    "ContextLengthError", "ContentFilterError", "AuthError", "PermissionDeniedError",
    "NotFoundError", "InvalidResponseError", "AllTargetsFailedError", "CircuitOpenError",
    # values
    "ChatRequest", "ChatResponse", "Message", "StreamEvent", "Tool", "ToolCall", "Usage",
    "APIKey", "ImagePart",
    # parsing (fixed names used by outside checks)
    "parse_response", "parse_stream", "classify",
    # clients, streams, clock
    "Client", "AsyncClient", "ChatStream", "AsyncChatStream", "Clock", "SystemClock",
    "VirtualClock",
    # layers and policies
    "Layer", "CallContext", "default_layers", "Timeouts", "Deadline", "DeadlineLayer",
    "RetryLayer", "RetryPolicy",
    "RetryBudget", "FallbackLayer", "FallbackPolicy", "Target", "Canned", "SmallerModel",
    "CircuitBreaker", "BreakerConfig", "BreakerLayer", "BreakerState", "HedgeLayer",
    "HedgePolicy", "HedgeBudget", "ThrottleLayer", "ThrottlePolicy", "CacheLayer",
    "CacheStats", "MemoryCache", "SQLiteCache", "StaleCache",
    # cost: token estimate, prices, per-request budgets
    "estimate_input_tokens", "PriceBook", "ModelRates", "BudgetLayer", "RequestBudget",
    "BudgetOutcome", "OverBudgetError",
    # quotas per account / workflow / job
    "QuotaLayer", "QuotaLimit", "MemoryQuotaStore", "SQLiteQuotaStore", "RedisQuotaStore",
    "OverQuotaError", "QuotaUnavailableError",
    # smaller models first
    "Cascade", "CascadeOutcome",
    # telemetry
    "TelemetrySink", "MemorySink", "JSONLSink", "LoggingSink", "MultiSink", "AttemptRecord",
    "CallRecord", "EventRecord", "EventSink", "watch_breaker", "TelemetryLayer",
    "OpenTelemetrySink",
    # security: private data out of prompts
    "redact", "Redactor", "Redaction", "RedactionLayer", "PIIBlockedError",
    # security: instructions apart from user content; model output untrusted
    "Prompt", "PromptTemplate", "Document", "Trusted", "UntrustedInstructionError",
    "OutputGuardLayer", "OutputLimits", "OutputRejectedError", "ToolGuard", "filter_links",
    "parse_structured", "render_html", "structured_chat",
    "__version__",
}  # fmt: skip


def test_all_is_exactly_the_pinned_set() -> None:
    assert set(llmkit.__all__) == PUBLIC
    assert len(llmkit.__all__) == len(set(llmkit.__all__)), "duplicates in __all__"
    for name in llmkit.__all__:
        assert getattr(llmkit, name) is not None


@pytest.mark.parametrize("fn", [llmkit.parse_response, llmkit.parse_stream, llmkit.classify])
def test_fixed_parsing_signatures(fn: object) -> None:
    params = list(inspect.signature(fn).parameters)  # type: ignore[arg-type]
    assert params[:2] == ["provider", "response"]


def test_every_error_kind_has_one_class() -> None:
    kinds = {cls.kind for cls in vars(llmkit).values()
             if isinstance(cls, type) and issubclass(cls, llmkit.LLMError)
             and "kind" in vars(cls)}  # fmt: skip
    assert kinds == set(llmkit.ErrorKind)


def test_classify_returns_rather_than_raises() -> None:
    req = httpx.Request("POST", "https://api.openai.com/v1/chat/completions")
    resp = httpx.Response(429, json={"error": {"code": "rate_limit_exceeded"}}, request=req)
    err = llmkit.classify("openai", resp)
    assert isinstance(err, llmkit.RateLimitError)
    assert err.kind == "rate_limit"
    assert err.retryable is True


def test_client_constructors_take_the_documented_keywords() -> None:
    from llmkit.client import _Core
    from llmkit.options import ClientOptions

    core = inspect.signature(_Core.__init__).parameters
    # the typed options of Client/AsyncClient are exactly the shared core's keywords
    assert set(ClientOptions.__annotations__) == set(core) - {"self", "provider"}
    for name in ("provider", "api_key", "base_url", "timeout", "deadline", "retry"):
        assert name in core, name
    for cls in (llmkit.Client, llmkit.AsyncClient):
        params = inspect.signature(cls).parameters
        assert {"provider", "http_client", "transport"} <= set(params), cls
        chat = inspect.signature(cls.chat).parameters
        for name in ("model", "messages"):
            assert name in chat, (cls, name)


def test_each_name_has_one_home() -> None:
    """A module's ``__all__`` lists what it defines; only packages gather their modules'
    names (``llmkit``, ``llmkit.cache``, ``llmkit.telemetry``, ...)."""
    import importlib
    import pkgutil

    strays: list[str] = []
    for info in pkgutil.walk_packages(llmkit.__path__, "llmkit."):
        if info.ispkg or info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            home = getattr(obj, "__module__", None)
            if (inspect.isclass(obj) or inspect.isfunction(obj)) and home != info.name:
                strays.append(f"{info.name}.{name} (defined in {home})")
    assert strays == []


def test_test_doubles_live_in_llmkit_testing() -> None:
    import llmkit.testing
    import llmkit.transport

    assert "ScriptedTransport" not in llmkit.__all__
    assert llmkit.testing.ScriptedTransport.__module__ == "llmkit.testing"
    # the old import path still resolves, to the same class
    assert llmkit.transport.ScriptedTransport is llmkit.testing.ScriptedTransport
