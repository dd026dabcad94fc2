"""llmkit: the patterns that make a product on LLM APIs work, as readable layers.

The public API is what ``__all__`` lists; ``tests/test_public_api.py`` pins it. Each name has
one home module it is imported from here. Test doubles are in :mod:`llmkit.testing`; typed
layer outcomes and telemetry column registration in :mod:`llmkit.outcomes`.
"""

from llmkit.breaker import BreakerConfig, BreakerLayer, BreakerState, CircuitBreaker
from llmkit.budget import RetryBudget
from llmkit.cache import CacheLayer, CacheStats, MemoryCache, SQLiteCache, StaleCache
from llmkit.cascade import Cascade, CascadeOutcome
from llmkit.client import AsyncClient, Client, default_layers
from llmkit.clock import Clock, SystemClock, VirtualClock
from llmkit.deadline import Deadline, DeadlineLayer, Timeouts
from llmkit.errors import (
    AllTargetsFailedError,
    AuthError,
    BadRequestError,
    CircuitOpenError,
    ConnectionError,
    ContentFilterError,
    ContextLengthError,
    DeadlineExceededError,
    ErrorKind,
    InvalidResponseError,
    LLMError,
    NotFoundError,
    OverBudgetError,
    OverloadedError,
    OverQuotaError,
    PermissionDeniedError,
    QuotaExhaustedError,
    QuotaUnavailableError,
    RateLimitError,
    ServerError,
    TimeoutError,
)
from llmkit.fallback import Canned, FallbackLayer, FallbackPolicy, SmallerModel, Target
from llmkit.hedge import HedgeBudget, HedgeLayer, HedgePolicy
from llmkit.layers import CallContext, Layer
from llmkit.otel import OpenTelemetrySink
from llmkit.output import (
    OutputGuardLayer,
    OutputLimits,
    OutputRejectedError,
    ToolGuard,
    filter_links,
    parse_structured,
    render_html,
    structured_chat,
)
from llmkit.parsing import classify, parse_response, parse_stream
from llmkit.pii import PIIBlockedError, Redaction, RedactionLayer, Redactor, redact
from llmkit.prices import ModelRates, PriceBook
from llmkit.prompts import Document, Prompt, PromptTemplate, Trusted, UntrustedInstructionError
from llmkit.quota import (
    MemoryQuotaStore,
    QuotaLayer,
    QuotaLimit,
    RedisQuotaStore,
    SQLiteQuotaStore,
)
from llmkit.retry import RetryLayer, RetryPolicy
from llmkit.secrets import APIKey
from llmkit.spend import BudgetLayer, BudgetOutcome, RequestBudget
from llmkit.telemetry import (
    AttemptRecord,
    CallRecord,
    EventRecord,
    EventSink,
    JSONLSink,
    LoggingSink,
    MemorySink,
    MultiSink,
    TelemetryLayer,
    TelemetrySink,
    watch_breaker,
)
from llmkit.throttle import ThrottleLayer, ThrottlePolicy
from llmkit.tokens import estimate_input_tokens
from llmkit.transport import AsyncChatStream, ChatStream
from llmkit.types import (
    ChatRequest,
    ChatResponse,
    ImagePart,
    Message,
    StreamEvent,
    Tool,
    ToolCall,
    Usage,
)

__version__ = "0.1.0"

__all__ = [
    "APIKey",
    "AllTargetsFailedError",
    "AsyncChatStream",
    "AsyncClient",
    "AttemptRecord",
    "AuthError",
    "BadRequestError",
    "BreakerConfig",
    "BreakerLayer",
    "BreakerState",
    "BudgetLayer",
    "BudgetOutcome",
    "CacheLayer",
    "CacheStats",
    "CallContext",
    "CallRecord",
    "Canned",
    "Cascade",
    "CascadeOutcome",
    "ChatRequest",
    "ChatResponse",
    "ChatStream",
    "CircuitBreaker",
    "CircuitOpenError",
    "Client",
    "Clock",
    "ConnectionError",
    "ContentFilterError",
    "ContextLengthError",
    "Deadline",
    "DeadlineExceededError",
    "DeadlineLayer",
    "Document",
    "ErrorKind",
    "EventRecord",
    "EventSink",
    "FallbackLayer",
    "FallbackPolicy",
    "HedgeBudget",
    "HedgeLayer",
    "HedgePolicy",
    "ImagePart",
    "InvalidResponseError",
    "JSONLSink",
    "LLMError",
    "Layer",
    "LoggingSink",
    "MemoryCache",
    "MemoryQuotaStore",
    "MemorySink",
    "Message",
    "ModelRates",
    "MultiSink",
    "NotFoundError",
    "OpenTelemetrySink",
    "OutputGuardLayer",
    "OutputLimits",
    "OutputRejectedError",
    "OverBudgetError",
    "OverQuotaError",
    "OverloadedError",
    "PIIBlockedError",
    "PermissionDeniedError",
    "PriceBook",
    "Prompt",
    "PromptTemplate",
    "QuotaExhaustedError",
    "QuotaLayer",
    "QuotaLimit",
    "QuotaUnavailableError",
    "RateLimitError",
    "Redaction",
    "RedactionLayer",
    "Redactor",
    "RedisQuotaStore",
    "RequestBudget",
    "RetryBudget",
    "RetryLayer",
    "RetryPolicy",
    "SQLiteCache",
    "SQLiteQuotaStore",
    "ServerError",
    "SmallerModel",
    "StaleCache",
    "StreamEvent",
    "SystemClock",
    "Target",
    "TelemetryLayer",
    "TelemetrySink",
    "ThrottleLayer",
    "ThrottlePolicy",
    "TimeoutError",
    "Timeouts",
    "Tool",
    "ToolCall",
    "ToolGuard",
    "Trusted",
    "UntrustedInstructionError",
    "Usage",
    "VirtualClock",
    "__version__",
    "classify",
    "default_layers",
    "estimate_input_tokens",
    "filter_links",
    "parse_response",
    "parse_stream",
    "parse_structured",
    "redact",
    "render_html",
    "structured_chat",
    "watch_breaker",
]
