"""``llmkit jobs submit | status ID | list | worker | serve | reap | retry ID``.

Every command reads the same configuration (``--dir``, ``--queue``, ``--provider-url`` or the
``LLMKIT_JOBS_*`` environment, see :mod:`llmkit.jobs.queue`). Bad job input exits with 2 and one
line naming the field and the reason; nothing is created.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

__all__ = ["add_jobs"]


def _config(args: argparse.Namespace) -> Any:
    from llmkit.jobs.queue import JobsConfig

    return JobsConfig.from_env(
        data_dir=args.dir, queue_url=args.queue, provider_url=args.provider_url
    )


def _queue(args: argparse.Namespace) -> Any:
    from llmkit.jobs.queue import JobQueue

    return JobQueue(_config(args))


def _print(data: object) -> None:
    print(json.dumps(data, indent=2, sort_keys=True))


def _cmd_submit(args: argparse.Namespace) -> int:
    from llmkit.jobs.model import JobInputError, JobSpec

    queue = _queue(args)
    try:
        spec = JobSpec(
            prompt=args.prompt,
            kind=args.kind,
            size=args.size,
            format=args.format,
            model=args.model,
            account=args.account,
            idempotency_key=args.key,
        )
        job, created = queue.submit(spec)
    except JobInputError as exc:
        print(f"llmkit jobs submit: error: {exc.field}: {exc.reason}", file=sys.stderr)
        return 2
    if args.wait:
        give_up = time.monotonic() + args.wait
        while not job.terminal and time.monotonic() < give_up:
            time.sleep(0.2)
            job = queue.store.get(job.id) or job
    out = job.as_dict()
    out["created_now"] = created
    _print(out)
    return 0 if job.state != "failed" else 1


def _cmd_status(args: argparse.Namespace) -> int:
    job = _queue(args).store.get(args.id)
    if job is None:
        print(f"llmkit jobs status: error: no job {args.id}", file=sys.stderr)
        return 1
    _print(job.as_dict())
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    for job in _queue(args).store.list(state=args.state, limit=args.limit):
        err = f"  {job.error_kind}" if job.error_kind else ""
        print(f"{job.id}  {job.spec.kind:<9} {job.state:<19} attempts={job.attempts}{err}")
    return 0


def _cmd_worker(args: argparse.Namespace) -> int:
    queue = _queue(args)
    c = queue.config
    print(
        f"llmkit jobs worker: {c.backend} queue, {args.workers} thread(s), "
        f"provider {c.provider_url}",
        file=sys.stderr,
    )
    queue.run_worker(workers=args.workers)
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from llmkit.jobs.api import create_app

    app = create_app(_queue(args))
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def _cmd_reap(args: argparse.Namespace) -> int:
    ids = _queue(args).reap()
    print(f"re-enqueued {len(ids)} job(s)")
    return 0


def _cmd_retry(args: argparse.Namespace) -> int:
    if not _queue(args).retry_post_process(args.id):
        print(f"llmkit jobs retry: error: {args.id} is not post_process_failed", file=sys.stderr)
        return 1
    return 0


def add_jobs(subparsers: Any) -> None:
    p = subparsers.add_parser("jobs", help="the media job pipeline: submit, inspect, run workers")
    p.add_argument("--dir", default=None, help="data directory (LLMKIT_JOBS_DIR, .llmkit-jobs)")
    p.add_argument("--queue", default=None, help="redis:// URL for RedisHuey (default SQLite)")
    p.add_argument(
        "--provider-url", default=None, help="provider base URL (default http://127.0.0.1:8080/v1)"
    )
    sub = p.add_subparsers(dest="jobs_command", metavar="COMMAND")
    sub.required = True
    s = sub.add_parser("submit", help="validate, create and enqueue a job")
    s.add_argument("prompt")
    s.add_argument("--kind", default="image", help="image or animation")
    s.add_argument("--size", default="256x256")
    s.add_argument("--format", default="png")
    s.add_argument("--model", default="", help="default: gpt-image-1 / grok-imagine-video")
    s.add_argument("--account", default="default")
    s.add_argument("--key", default=None, help="idempotency key (same key, same job)")
    s.add_argument("--wait", type=float, default=0.0, help="wait up to N s for the job to finish")
    s.set_defaults(func=_cmd_submit)
    s = sub.add_parser("status", help="one job, with every transition")
    s.add_argument("id")
    s.set_defaults(func=_cmd_status)
    s = sub.add_parser("list", help="jobs, newest first")
    s.add_argument("--state", default=None)
    s.add_argument("--limit", type=int, default=50)
    s.set_defaults(func=_cmd_list)
    s = sub.add_parser("worker", help="run a worker (huey consumer + reaper) until interrupted")
    s.add_argument("--workers", type=int, default=1, help="threads in this process")
    s.set_defaults(func=_cmd_worker)
    s = sub.add_parser("serve", help="serve the status API and the jobs page")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8090)
    s.set_defaults(func=_cmd_serve)
    s = sub.add_parser("reap", help="re-enqueue jobs whose lease expired (workers do this too)")
    s.set_defaults(func=_cmd_reap)
    s = sub.add_parser("retry", help="re-run post-processing of a post_process_failed job")
    s.add_argument("id")
    s.set_defaults(func=_cmd_retry)
