"""llmkit: the patterns that make a product on LLM APIs work, as readable layers.

The public API is what ``__all__`` lists; ``tests/test_public_api.py`` pins it.
"""

from llmkit.clock import Clock, SystemClock, VirtualClock
from llmkit.errors import (
    AuthError,
    BadRequestError,
    ConnectionError,
    ContentFilterError,
    ContextLengthError,
    DeadlineExceededError,
    ErrorKind,
    InvalidResponseError,
    LLMError,
    NotFoundError,
    OverloadedError,
    PermissionDeniedError,
    QuotaExhaustedError,
    RateLimitError,
    ServerError,
    TimeoutError,
)
from llmkit.parsing import classify, parse_response, parse_stream
from llmkit.secrets import APIKey
from llmkit.types import (
    ChatRequest,
    ChatResponse,
    Message,
    StreamEvent,
    Tool,
    ToolCall,
    Usage,
)

__version__ = "0.1.0"

__all__ = [
    "APIKey",
    "AuthError",
    "BadRequestError",
    "ChatRequest",
    "ChatResponse",
    "Clock",
    "ConnectionError",
    "ContentFilterError",
    "ContextLengthError",
    "DeadlineExceededError",
    "ErrorKind",
    "InvalidResponseError",
    "LLMError",
    "Message",
    "NotFoundError",
    "OverloadedError",
    "PermissionDeniedError",
    "QuotaExhaustedError",
    "RateLimitError",
    "ServerError",
    "StreamEvent",
    "SystemClock",
    "TimeoutError",
    "Tool",
    "ToolCall",
    "Usage",
    "VirtualClock",
    "__version__",
    "classify",
    "parse_response",
    "parse_stream",
]
