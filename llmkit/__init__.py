"""llmkit: the patterns that make a product on LLM APIs work, as readable layers."""

from llmkit.errors import *  # noqa: F403
from llmkit.errors import __all__ as _errors_all
from llmkit.types import *  # noqa: F403
from llmkit.types import __all__ as _types_all

__version__ = "0.1.0"

__all__ = sorted([*_errors_all, *_types_all, "__version__"])
