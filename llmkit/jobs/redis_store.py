"""The job record store on Redis, for workers on many machines (same contract as
:class:`~llmkit.jobs.store.JobStore`).

Every write that must be atomic — create-or-find by idempotency key with the account limit,
take/renew/release a lease, a fenced state change with its event — is one Lua script, so it
runs as one step on the server. Leases are measured on the callers' wall clocks (keep them in
NTP sync; the lease TTL must exceed their skew). Keys live under ``prefix`` (one namespace per
deployment); the layout is not meant for Redis Cluster (a script touches keys it builds).
"""

from __future__ import annotations

import builtins
import json
import uuid
from typing import Any

import redis

from llmkit.clock import Clock, system_clock
from llmkit.jobs.model import TERMINAL, Job, JobInputError, JobSpec, Limits
from llmkit.jobs.store import LeaseLostError

__all__ = ["RedisJobStore"]

_LIB = """
local p = ARGV[1]
local function terminal(s)
  return s == 'done' or s == 'failed' or s == 'post_process_failed'
end
local function event(id, state, now, worker, detail)
  local seq = redis.call('INCR', p .. ':seq')
  redis.call('RPUSH', p .. ':events', cjson.encode({seq = seq, job_id = id, state = state,
    at = tonumber(now), worker = worker, detail = detail}))
  redis.call('RPUSH', p .. ':ev:' .. id, cjson.encode({state, tonumber(now)}))
end
local function live(k, worker, now)
  local owner = redis.call('HGET', k, 'lease_owner')
  local untl = redis.call('HGET', k, 'lease_until')
  return owner == worker and untl and untl ~= '' and tonumber(untl) >= tonumber(now)
end
"""

_CREATE = (
    _LIB
    + """
local key, id, account, spec, now, limit = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local existing = redis.call('GET', p .. ':key:' .. key)
if existing then return {existing, 0} end
local active = redis.call('SCARD', p .. ':active:' .. account)
if active >= tonumber(limit) then return {'', active} end
redis.call('SET', p .. ':key:' .. key, id)
redis.call('HSET', p .. ':job:' .. id, 'id', id, 'key', key, 'account', account, 'spec', spec,
  'state', 'validated', 'created', now, 'updated', now, 'attempts', 0, 'provider_calls', 0,
  'lease_owner', '', 'lease_until', '')
redis.call('ZADD', p .. ':jobs', now, id)
redis.call('SADD', p .. ':open', id)
redis.call('SADD', p .. ':active:' .. account, id)
event(id, 'validated', now, '', '')
return {id, 1}
"""
)

_ACQUIRE = (
    _LIB
    + """
local k = p .. ':job:' .. ARGV[2]
local st = redis.call('HGET', k, 'state')
if not st or terminal(st) then return 0 end
local untl = redis.call('HGET', k, 'lease_until')
if untl and untl ~= '' and tonumber(untl) >= tonumber(ARGV[5]) then return 0 end
redis.call('HSET', k, 'lease_owner', ARGV[3], 'lease_until', tonumber(ARGV[5]) + tonumber(ARGV[4]))
redis.call('HINCRBY', k, 'attempts', 1)
return 1
"""
)

_RENEW = (
    _LIB
    + """
local k = p .. ':job:' .. ARGV[2]
if not live(k, ARGV[3], ARGV[5]) then return 0 end
redis.call('HSET', k, 'lease_until', tonumber(ARGV[5]) + tonumber(ARGV[4]))
return 1
"""
)

_RELEASE = (
    _LIB
    + """
local k = p .. ':job:' .. ARGV[2]
if redis.call('HGET', k, 'lease_owner') == ARGV[3] then
  redis.call('HSET', k, 'lease_owner', '', 'lease_until', '')
end
return 1
"""
)

_ADVANCE = (
    _LIB
    + """
local id, worker, now, state, detail = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local k = p .. ':job:' .. id
if not live(k, worker, now) then return 0 end
redis.call('HSET', k, 'updated', now)
if ARGV[7] == '1' then redis.call('HINCRBY', k, 'provider_calls', 1) end
for name, value in pairs(cjson.decode(ARGV[8])) do
  if value == cjson.null then value = '' end
  redis.call('HSET', k, name, value)
end
if state ~= '' then
  redis.call('HSET', k, 'state', state)
  if terminal(state) then
    redis.call('SREM', p .. ':open', id)
    redis.call('SREM', p .. ':active:' .. redis.call('HGET', k, 'account'), id)
  end
  event(id, state, now, worker, detail)
end
return 1
"""
)

_NOTE = (
    _LIB
    + """
event(ARGV[2], ARGV[3], ARGV[6], ARGV[4], ARGV[5])
return 1
"""
)

_MARK_QUEUED = (
    _LIB
    + """
local k = p .. ':job:' .. ARGV[2]
if redis.call('HGET', k, 'state') ~= 'validated' then return 0 end
redis.call('HSET', k, 'state', 'queued', 'updated', ARGV[3])
event(ARGV[2], 'queued', ARGV[3], '', '')
return 1
"""
)

_RESET_POST = (
    _LIB
    + """
local id = ARGV[2]
local k = p .. ':job:' .. id
if redis.call('HGET', k, 'state') ~= 'post_process_failed' then return 0 end
redis.call('HSET', k, 'state', 'stored', 'error_kind', '', 'error_message', '', 'updated', ARGV[3])
redis.call('SADD', p .. ':open', id)
redis.call('SADD', p .. ':active:' .. redis.call('HGET', k, 'account'), id)
event(id, 'stored', ARGV[3], '', 'post-processing retried')
return 1
"""
)

_TOUCH = (
    _LIB
    + """
local k = p .. ':job:' .. ARGV[2]
local untl = redis.call('HGET', k, 'lease_until')
if untl and untl ~= '' and tonumber(untl) >= tonumber(ARGV[3]) then return 0 end
redis.call('HSET', k, 'updated', ARGV[3], 'lease_owner', '', 'lease_until', '')
return 1
"""
)


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisJobStore:
    """Job records in Redis, shared by the API, the CLI and workers on any machine."""

    def __init__(
        self, url: str, *, prefix: str = "llmkit-jobs", clock: Clock | None = None
    ) -> None:
        self.url = url
        self.prefix = prefix
        self.clock: Clock = clock or system_clock
        self._r = redis.Redis.from_url(url)
        self._scripts = {
            name: self._r.register_script(src)
            for name, src in {
                "create": _CREATE,
                "acquire": _ACQUIRE,
                "renew": _RENEW,
                "release": _RELEASE,
                "advance": _ADVANCE,
                "note": _NOTE,
                "mark_queued": _MARK_QUEUED,
                "reset_post": _RESET_POST,
                "touch": _TOUCH,
            }.items()
        }

    def __repr__(self) -> str:
        return f"RedisJobStore(prefix={self.prefix!r})"

    def _run(self, name: str, *args: Any) -> Any:
        return self._scripts[name](keys=[], args=[self.prefix, *args])

    def close(self) -> None:
        self._r.close()

    def flush(self) -> None:
        """Delete every key under this store's prefix (tests and benchmarks)."""
        for key in self._r.scan_iter(match=f"{self.prefix}:*", count=1000):
            self._r.delete(key)

    # ------------------------------------------------------------------------- create / read

    def create(self, spec: JobSpec, limits: Limits | None = None) -> tuple[Job, bool]:
        limits = limits or Limits()
        job_id = "job_" + uuid.uuid4().hex[:20]
        found, flag = self._run(
            "create",
            spec.key(),
            job_id,
            spec.account,
            json.dumps(spec.as_dict()),
            repr(self.clock.wall()),
            limits.max_active_per_account,
        )
        if not found:
            raise JobInputError(
                "account",
                f"has {int(flag)} active jobs; the limit is {limits.max_active_per_account}",
            )
        job = self.get(_s(found))
        assert job is not None
        return job, int(flag) == 1

    def get(self, job_id: str) -> Job | None:
        with self._r.pipeline(transaction=False) as pipe:
            pipe.hgetall(f"{self.prefix}:job:{job_id}")
            pipe.lrange(f"{self.prefix}:ev:{job_id}", 0, -1)
            raw, events = pipe.execute()
        if not raw:
            return None
        transitions = tuple((str(e[0]), float(e[1])) for e in map(json.loads, events))
        return _job({_s(k): _s(v) for k, v in raw.items()}, transitions)

    def _all(self) -> builtins.list[Job]:
        ids = [_s(i) for i in self._r.zrevrange(f"{self.prefix}:jobs", 0, -1)]
        with self._r.pipeline(transaction=False) as pipe:
            for i in ids:
                pipe.hgetall(f"{self.prefix}:job:{i}")
            rows = pipe.execute()
        return [_job({_s(k): _s(v) for k, v in r.items()}, ()) for r in rows if r]

    def list(self, *, state: str | None = None, limit: int = 100) -> builtins.list[Job]:
        jobs = [j for j in self._all() if state is None or j.state == state]
        return jobs[:limit]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for job in self._all():
            out[job.state] = out.get(job.state, 0) + 1
        return out

    def events(self, after: int = 0, limit: int = 1000) -> builtins.list[dict[str, Any]]:
        raw = self._r.lrange(f"{self.prefix}:events", after, after + limit - 1)
        out = []
        for item in raw:
            ev = json.loads(item)
            ev["worker"] = ev.get("worker") or None
            ev["detail"] = ev.get("detail") or None
            out.append(ev)
        return out

    # ---------------------------------------------------------------------- leases / writes

    def mark_queued(self, job_id: str) -> None:
        self._run("mark_queued", job_id, repr(self.clock.wall()))

    def acquire(self, job_id: str, worker: str, ttl: float) -> Job | None:
        taken = self._run("acquire", job_id, worker, repr(ttl), repr(self.clock.wall()))
        return self.get(job_id) if int(taken) == 1 else None

    def renew(self, job_id: str, worker: str, ttl: float) -> None:
        if int(self._run("renew", job_id, worker, repr(ttl), repr(self.clock.wall()))) != 1:
            raise LeaseLostError(f"{worker} lost the lease on {job_id}")

    def release(self, job_id: str, worker: str) -> None:
        self._run("release", job_id, worker)

    def advance(
        self,
        job_id: str,
        worker: str,
        state: str | None,
        *,
        detail: str | None = None,
        count_call: bool = False,
        **fields: Any,
    ) -> None:
        allowed = {
            "provider_job_id",
            "artifact",
            "thumbnail",
            "contact_sheet",
            "error_kind",
            "error_message",
        }
        if not set(fields) <= allowed:
            raise ValueError(f"unknown job fields: {sorted(set(fields) - allowed)}")
        ok = self._run(
            "advance",
            job_id,
            worker,
            repr(self.clock.wall()),
            state or "",
            detail or "",
            "1" if count_call else "0",
            json.dumps(fields),
        )
        if int(ok) != 1:
            raise LeaseLostError(f"{worker} lost the lease on {job_id}")

    def note(self, job_id: str, what: str, worker: str | None, detail: str | None = None) -> None:
        self._run("note", job_id, what, worker or "", detail or "", repr(self.clock.wall()))

    def reset_post_process(self, job_id: str) -> bool:
        return int(self._run("reset_post", job_id, repr(self.clock.wall()))) == 1

    def stale(self, *, pickup_timeout: float) -> builtins.list[str]:
        now = self.clock.wall()
        ids = [_s(i) for i in self._r.smembers(f"{self.prefix}:open")]
        with self._r.pipeline(transaction=False) as pipe:
            for i in ids:
                pipe.hmget(f"{self.prefix}:job:{i}", "state", "lease_until", "updated")
            rows = pipe.execute()
        out = []
        for job_id, (state, until, updated) in zip(ids, rows, strict=True):
            if state is None or _s(state) in TERMINAL:
                continue
            u = _s(until) if until is not None else ""
            if (u and float(u) < now) or (not u and float(_s(updated)) < now - pickup_timeout):
                out.append(job_id)
        return sorted(out)

    def touch(self, job_id: str) -> None:
        self._run("touch", job_id, repr(self.clock.wall()))


def _opt(row: dict[str, str], name: str) -> str | None:
    value = row.get(name, "")
    return value or None


def _job(row: dict[str, str], transitions: tuple[tuple[str, float], ...]) -> Job:
    until = _opt(row, "lease_until")
    return Job(
        id=row["id"],
        key=row["key"],
        spec=JobSpec(**json.loads(row["spec"])),
        state=row["state"],
        created=float(row["created"]),
        updated=float(row["updated"]),
        attempts=int(row.get("attempts", "0")),
        provider_calls=int(row.get("provider_calls", "0")),
        provider_job_id=_opt(row, "provider_job_id"),
        artifact=_opt(row, "artifact"),
        thumbnail=_opt(row, "thumbnail"),
        contact_sheet=_opt(row, "contact_sheet"),
        error_kind=_opt(row, "error_kind"),
        error_message=_opt(row, "error_message"),
        lease_owner=_opt(row, "lease_owner"),
        lease_until=float(until) if until else None,
        transitions=transitions,
    )
