"""Telemetry: one record per attempt and one per call, never prompt text, never keys.

Records are frozen dataclasses; ``as_dict()`` names their fields after the OpenTelemetry GenAI
semantic conventions where one exists, and ``llmkit.*`` otherwise::

    field                 as_dict() key                                  meaning
    kind                  llmkit.record                                  "attempt" | "call"
    call_id               llmkit.call_id                                 joins attempts to call
    timestamp             timestamp                                      wall clock at start (s)
    provider              gen_ai.provider.name                           openai, anthropic, ...
    operation             gen_ai.operation.name                          "chat"
    request_model         gen_ai.request.model
    response_model        gen_ai.response.model
    stream                gen_ai.request.stream
    attempt               llmkit.attempt                                 1-based; call: count
    latency               gen_ai.client.operation.duration               seconds
    ttft                  gen_ai.response.time_to_first_chunk            seconds (streams)
    status                http.response.status_code                      None: no response
    error_type            error.type                                     ErrorKind value
    retry_after           llmkit.retry_after                             seconds asked by server
    input_tokens          gen_ai.usage.input_tokens                      inclusive of cache
    output_tokens         gen_ai.usage.output_tokens                     inclusive of reasoning
    cache_read_tokens     gen_ai.usage.cache_read.input_tokens
    cache_write_tokens    gen_ai.usage.cache_creation.input_tokens
    reasoning_tokens      gen_ai.usage.reasoning.output_tokens
    finish_reasons        gen_ai.response.finish_reasons                 list
    response_id           gen_ai.response.id
    request_id            llmkit.request_id                              provider's request id
    server_address        server.address
    cost                  llmkit.cost                                    US dollars, a JSON
                                                                         number (see below)
    usage_source          llmkit.usage.source                            answer | partial |
                                                                         estimated (below)
    cache_hit             llmkit.cache_hit                               True on a hit, else None
    tags                  llmkit.tags                                    account/workflow/job
    fingerprint           llmkit.request.fingerprint                     hash, never the text
    retry_delay           llmkit.retry.delay          attempt: sleep before the next attempt;
                                                      call: total seconds slept
    retry_decision        llmkit.retry.decision       attempt: retry | not_retryable |
                                                      max_attempts | deadline |
                                                      retry_after_too_long | budget_denied
    budget_denied         llmkit.retry.budget_denied  the retry budget refused a retry
    read_timeout          llmkit.timeout.read         attempt: effective read timeout (s)
    deadline_remaining    llmkit.deadline.remaining   attempt: seconds left at its start
    degraded              llmkit.degraded             call: why the answer is degraded
    cache_status          llmkit.cache.status         call: hit | miss | store | skip |
                                                      timeout (lookup past its budget: a
                                                      miss) | write_timeout (not stored);
                                                      None: no cache layer
    target                llmkit.target               call: fallback target that answered
                                                      (its name; Target.of_client names it
                                                      provider:model), degrade:<reason>
    fallback_path         llmkit.fallback.path        call: every target in order,
                                                      "a=overloaded>b=circuit_open>c=ok"
    fallback_skipped      llmkit.fallback.skipped     call: targets that did not answer
    hedged                llmkit.hedged               call: a hedge request was sent
    hedge_won             llmkit.hedge.won            call: the hedge's answer was used
    throttle_wait         llmkit.throttle.wait        call: seconds the throttle held it,
                                                      summed over attempts (0.0: none)

The other resilience columns are None when their layer is not in the stack (``cache_hit`` is
set only on a hit: read ``llmkit.cache.status`` to tell a miss from "no cache"). The words in
``llmkit.fallback.path`` after ``=`` are: ``ok`` (answered), an error kind (failed there),
``circuit_open`` (skipped, nothing sent), ``deadline`` (skipped, no time left), ``passed_over``
(unfit for that failure, e.g. same provider after a quota error).

Circuit breaker state changes become :class:`EventRecord` rows (``watch_breaker(breaker, sink)``)::

    field          as_dict() key                 meaning
    kind           llmkit.record                 "event"
    timestamp      timestamp                     wall clock of the change (s)
    event          llmkit.event                  breaker.open | breaker.half_open | breaker.closed
    target         llmkit.target                 the breaker's target
    reason         llmkit.event.reason           failure_rate | probe_failed |
                                                 cooldown_elapsed | probes_succeeded
    previous       llmkit.breaker.previous       the state it left
    failure_rate   llmkit.breaker.failure_rate   window's failure rate (closed -> open)
    threshold      llmkit.breaker.threshold      configured failure_rate to open

The fingerprint is a blake2b hash of the normalized request (model, messages, parameters,
tools; not tags or the stream flag), so identical requests can be grouped without storing
what they said.

Sinks implement :class:`TelemetrySink` (one ``emit`` method). :class:`MemorySink` keeps
records for notebooks and tests (``to_dataframe()`` imports pandas only when called),
:class:`JSONLSink` appends one JSON object per line, :class:`LoggingSink` logs through
stdlib ``logging``. A failing sink never fails the call (the error is logged). Event records
go to the same sinks; ``MemorySink`` keeps them apart (``events()``, ``events_dataframe()``) so
``records`` and ``to_dataframe()`` stay one row per attempt or call.

Modules: :mod:`~llmkit.telemetry.records` (the records), :mod:`~llmkit.telemetry.sinks`
(where they go), :mod:`~llmkit.telemetry.layer` (the layer that builds them from the typed
outcomes of ``llmkit.outcomes``; a new layer adds its own columns there, never here).

Cost: ``llmkit.cost`` is ``ChatResponse.cost`` (the provider's reported cost, else the usage
priced by ``llmkit.prices`` at the call's time) written as a float, so rows stay plain JSON: a
float keeps 15 significant digits, exact for any price table's figures; sum
``ChatResponse.cost`` (a Decimal) where cents must add up exactly. None means unpriced (an
unknown model, no usage reported, or a failed attempt), never 0; a cache hit costs 0.0. A
call's cost is the sum over its attempts: a retried or hedged call paid for each.

A stream that ended without its answer (cut, failed, closed early) was billed for what it
generated, so its attempt row carries tokens and cost too, and ``llmkit.usage.source`` says
how they are known: ``answer`` (a complete answer's counts), ``partial`` (the provider had
reported them before the end) or ``estimated`` (llmkit counted what the provider had not: the
input by the request's estimate, the output by the tokens that arrived -- upper bounds).

Speed: records are built on every call; they are plain frozen slotted dataclasses (about 4 µs
each, under 1% of a loopback call), and ``as_dict`` reads every field with one ``attrgetter``.
"""

from llmkit.telemetry.layer import TelemetryLayer
from llmkit.telemetry.records import AttemptRecord, CallRecord, EventRecord, Record, fingerprint
from llmkit.telemetry.sinks import (
    BreakerTelemetry,
    EventSink,
    JSONLSink,
    LoggingSink,
    MemorySink,
    MultiSink,
    TelemetrySink,
    as_sink,
    watch_breaker,
)

__all__ = [
    "AttemptRecord",
    "BreakerTelemetry",
    "CallRecord",
    "EventRecord",
    "EventSink",
    "JSONLSink",
    "LoggingSink",
    "MemorySink",
    "MultiSink",
    "Record",
    "TelemetryLayer",
    "TelemetrySink",
    "as_sink",
    "fingerprint",
    "watch_breaker",
]
