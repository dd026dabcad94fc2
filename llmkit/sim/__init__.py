"""A deterministic provider simulator: OpenAI, Anthropic and OpenRouter on your own clock.

Use it in process (:class:`SimTransport`, :class:`AsyncSimTransport`) for fast tests on a
virtual clock, or served over real HTTP (:class:`SimServer`, ``llmkit sim serve``) so the
official SDKs and any other client can be pointed at it with ``base_url``::

    import httpx
    from llmkit.clock import VirtualClock
    from llmkit.sim import Fault, FaultRule, SimTransport, get_scenario

    clock = VirtualClock()
    shaky = get_scenario("healthy").plus(
        FaultRule(Fault.UNAVAILABLE, requests=(0, 2)),           # first two requests: 503
        FaultRule(Fault.RATE_LIMIT, rate=0.1, retry_after=1.0),  # then 10% 429s
    )
    client = httpx.Client(transport=SimTransport(shaky, clock), timeout=30,
                          headers={"authorization": "Bearer sk-test"})
    client.post("https://api.openai.com/v1/chat/completions", json={...})  # no real sleep

Paths served: ``/v1/chat/completions``, ``/v1/responses`` (OpenAI), ``/v1/messages``
(Anthropic), ``/api/v1/chat/completions`` (OpenRouter). A request without an API key gets 401.
"""

from typing import TYPE_CHECKING

from llmkit.sim.core import SIM_VERSION, Simulator
from llmkit.sim.faults import Fault, FaultRule
from llmkit.sim.latency import DEFAULT_LATENCY, ZERO_LATENCY, LatencyModel, ModelProfile
from llmkit.sim.plan import Chunk, SimResponse
from llmkit.sim.ratelimit import RateLimits
from llmkit.sim.scenarios import SCENARIOS, Scenario, get_scenario, register
from llmkit.sim.transport import AsyncSimTransport, SimTransport

if TYPE_CHECKING:
    from llmkit.sim.server import SimServer

__all__ = [
    "DEFAULT_LATENCY",
    "SCENARIOS",
    "SIM_VERSION",
    "ZERO_LATENCY",
    "AsyncSimTransport",
    "Chunk",
    "Fault",
    "FaultRule",
    "LatencyModel",
    "ModelProfile",
    "RateLimits",
    "Scenario",
    "SimResponse",
    "SimServer",
    "SimTransport",
    "Simulator",
    "get_scenario",
    "register",
]


def __getattr__(name: str) -> object:
    # The server pulls in aiohttp; only pay for it when it is used.
    if name == "SimServer":
        from llmkit.sim.server import SimServer  # noqa: PLC0415

        return SimServer
    raise AttributeError(name)
