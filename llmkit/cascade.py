"""Smaller models first: try the cheap model, validate its answer, escalate only when needed.

For routing, classification, extraction and validation a small model is right most of the
time at a fraction of the price. ``Cascade(["gpt-4o-mini", "gpt-4o"], validate=Ticket)`` asks
the first model; if its answer passes the validator it is the answer, and the call cost what
the small model costs. If the answer fails validation, or the small model errs, the same
request goes to the next model, and so on; the last model's failure is the call's failure.

The validator is a pydantic model (the answer text must parse into it), a JSON schema (a
mapping; checked with ``jsonschema``), or any callable taking the :class:`ChatResponse` and
returning True when the answer is good (an exception counts as a failure).

How it relates to ``llmkit.SmallerModel``: that is a *degradation* -- when every target has
failed, answer from a smaller model rather than not at all (worse but available). A cascade
goes the other way -- start small and *escalate* on a bad answer (cheaper when it can be).
Both can sit on one client.

Telemetry: the call's ``CascadeOutcome`` becomes ``llmkit.cascade.route``
(``gpt-4o-mini=invalid>gpt-4o=ok``), ``llmkit.cascade.escalations``, and the call's
``llmkit.cost`` becomes the sum over every step (the escalated call paid for both).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from llmkit.errors import InvalidResponseError, LLMError
from llmkit.layers import AsyncHandler, CallContext, Handler
from llmkit.outcomes import Column, register_columns
from llmkit.types import ChatRequest, ChatResponse

__all__ = ["Cascade", "CascadeOutcome", "CascadeStep", "as_validator"]

Check = Callable[[ChatResponse], bool]


def as_validator(spec: Any) -> Check:
    """A check from a pydantic model class, a JSON schema mapping, or a callable."""
    if isinstance(spec, type) and hasattr(spec, "model_validate_json"):
        model: Any = spec

        def pydantic_check(response: ChatResponse) -> bool:
            model.model_validate_json(response.text)
            return True

        return pydantic_check
    if isinstance(spec, Mapping):
        import jsonschema  # noqa: PLC0415 - loaded with the first schema cascade

        validator = jsonschema.Draft202012Validator(dict(spec))

        def schema_check(response: ChatResponse) -> bool:
            validator.validate(json.loads(response.text))
            return True

        return schema_check
    if callable(spec):
        fn: Check = spec
        return fn
    raise TypeError(
        "validate must be a pydantic model, a JSON schema mapping or a callable, "
        f"not {type(spec).__name__}"
    )


@dataclass(frozen=True, slots=True)
class CascadeStep:
    model: str
    result: str
    """``ok``, ``invalid`` (answered, failed validation) or the error kind."""
    cost: Decimal | None = None
    latency: float = 0.0


@dataclass(frozen=True, slots=True)
class CascadeOutcome:
    steps: tuple[CascadeStep, ...]

    @property
    def route(self) -> str:
        return ">".join(f"{s.model}={s.result}" for s in self.steps)

    @property
    def escalations(self) -> int:
        return len(self.steps) - 1

    @property
    def cost(self) -> Decimal | None:
        """Dollars over every step that answered; None if one of them was unpriced."""
        answered = [s for s in self.steps if s.result in ("ok", "invalid")]
        if any(s.cost is None for s in answered):
            return None
        return sum((s.cost for s in answered if s.cost is not None), Decimal(0))


def _total(o: CascadeOutcome) -> float | None:
    cost = o.cost
    return None if cost is None else float(cost)


register_columns(
    CascadeOutcome,
    Column("cascade_route", "llmkit.cascade.route", call=lambda o: o.route,
           doc="every model tried and how it ended: a=invalid>b=ok"),
    Column("cascade_escalations", "llmkit.cascade.escalations", call=lambda o: o.escalations,
           doc="models tried after the first"),
    Column("cost", "llmkit.cost", call=_total, doc="dollars over every cascade step"),
)  # fmt: skip


class Cascade:
    """A call-level layer (``Client(layers=[Cascade([...], validate=...)])``): the request's
    own ``model`` is replaced by each of ``models`` in turn."""

    def __init__(self, models: Sequence[str], validate: Any) -> None:
        if not models:
            raise ValueError("a cascade needs at least one model")
        self.models = tuple(models)
        self.check = as_validator(validate)

    def _valid(self, response: ChatResponse) -> bool:
        try:
            return bool(self.check(response))
        except Exception:
            return False

    def _step(
        self, model: str, response: ChatResponse | None, error: LLMError | None, t0: float,
        ctx: CallContext,
    ) -> CascadeStep:  # fmt: skip
        latency = ctx.clock.now() - t0
        if error is not None:
            return CascadeStep(model, error.kind.value, None, latency)
        assert response is not None
        result = "ok" if self._valid(response) else "invalid"
        return CascadeStep(model, result, response.cost, latency)

    def _finish(
        self, steps: list[CascadeStep], response: ChatResponse | None, error: LLMError | None,
        ctx: CallContext,
    ) -> ChatResponse:  # fmt: skip
        ctx.report(CascadeOutcome(tuple(steps)))
        if error is not None:
            raise error
        assert response is not None
        if steps[-1].result == "invalid":
            raise InvalidResponseError(
                f"no model's answer passed validation ({CascadeOutcome(tuple(steps)).route})",
                provider=response.provider,
                code="validation_failed",
            )
        return response

    def handle(self, request: ChatRequest, ctx: CallContext, next: Handler) -> ChatResponse:
        _no_streams(ctx)
        steps: list[CascadeStep] = []
        response = error = None
        for model in self.models:
            t0 = ctx.clock.now()
            response, error = None, None
            try:
                response = next(request.with_(model=model), ctx)
            except LLMError as exc:
                error = exc
            steps.append(self._step(model, response, error, t0, ctx))
            if steps[-1].result == "ok":
                break
        return self._finish(steps, response, error, ctx)

    async def ahandle(
        self, request: ChatRequest, ctx: CallContext, next: AsyncHandler
    ) -> ChatResponse:
        _no_streams(ctx)
        steps: list[CascadeStep] = []
        response = error = None
        for model in self.models:
            t0 = ctx.clock.now()
            response, error = None, None
            try:
                response = await next(request.with_(model=model), ctx)
            except LLMError as exc:
                error = exc
            steps.append(self._step(model, response, error, t0, ctx))
            if steps[-1].result == "ok":
                break
        return self._finish(steps, response, error, ctx)

    def __repr__(self) -> str:
        return f"Cascade({list(self.models)!r})"


def _no_streams(ctx: CallContext) -> None:
    if ctx.deliver_stream:
        raise ValueError("a cascade validates whole answers: use chat(), not stream()")
