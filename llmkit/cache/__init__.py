"""Response caching: key, backends (memory, SQLite, Redis), the layer and its stats.

``RedisCache`` is imported from :mod:`llmkit.cache.redis` on use, so redis-py stays optional.
"""

from llmkit.cache.entry import CacheBackend, Entry, decode_entry, encode_entry
from llmkit.cache.key import VOLATILE_EXTRA, cache_key, is_cacheable
from llmkit.cache.layer import CacheLayer, CacheOutcome, StaleCache, replay_stream
from llmkit.cache.memory import MemoryCache
from llmkit.cache.sqlite import SQLiteCache
from llmkit.cache.stats import CacheStats, Pricer, StatsRecorder
from llmkit.errors import CacheUnavailableError, CorruptEntryError

__all__ = [
    "VOLATILE_EXTRA",
    "CacheBackend",
    "CacheLayer",
    "CacheOutcome",
    "CacheStats",
    "CacheUnavailableError",
    "CorruptEntryError",
    "Entry",
    "MemoryCache",
    "Pricer",
    "SQLiteCache",
    "StaleCache",
    "StatsRecorder",
    "cache_key",
    "decode_entry",
    "encode_entry",
    "is_cacheable",
    "replay_stream",
]
