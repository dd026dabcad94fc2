"""PII redaction, measured: recall per type on Faker data, false positives on real prompts.

    python benchmarks/redaction.py                 # 1,000 values per type, 9 locales
    python benchmarks/redaction.py --per-type 200  # a smaller run
    python benchmarks/redaction.py --json          # the figures as one JSON object

Recall: ``llmkit.pii_eval.measure_recall`` embeds Faker-generated emails, phone numbers, cards,
IBANs, national ids and IP addresses in sentences and counts those ``llmkit.redact`` removes;
the phone row is also given for ``phonenumbers`` alone, to show what the digit-run detector
adds. False positives: every prompt message of every real recording in ``../shared/real-cassettes``
and ``-set2`` (or the folders in ``LLMKIT_REAL_CASSETTES``), counted as changed when the redactor
finds anything in it. Exits 1 when a target is missed (recall >= 98% per type, <= 1% of real
prompts changed); the false-positive part is reported as skipped when no recordings are found.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from llmkit.pii import Redactor
from llmkit.pii_eval import LOCALES, measure_false_positives, measure_recall, real_cassette_dirs

RECALL_TARGET = 0.98
FP_TARGET = 0.01


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--per-type", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    recall = measure_recall(args.per_type, seed=args.seed)
    alone = measure_recall(args.per_type, seed=args.seed, redactor=Redactor(digit_runs=False))
    dirs = real_cassette_dirs()
    fp = measure_false_positives(dirs) if dirs else None
    seconds = time.perf_counter() - started

    ok = all(r >= RECALL_TARGET for *_, r in recall.rows())
    ok = ok and (fp is None or fp.rate <= FP_TARGET)
    if args.json:
        out = {
            "recall": {k: r for k, _, _, r in recall.rows()},
            "phone_recall_phonenumbers_alone": alone.recall("PHONE"),
            "false_positive_rate": None if fp is None else fp.rate,
            "real_messages": None if fp is None else fp.messages,
            "ok": ok,
        }
        print(json.dumps(out))
        return 0 if ok else 1

    print(f"recall: {args.per_type} values per type over {len(LOCALES)} locales "
          f"({', '.join(LOCALES)}), seed {args.seed}")  # fmt: skip
    print(f"  {'type':8}{'values':>8}{'found':>8}{'recall':>9}")
    for kind, total, found, r in recall.rows():
        print(f"  {kind:8}{total:>8}{found:>8}{r:>9.2%}")
    print(f"  PHONE with phonenumbers alone (no digit-run detector): {alone.recall('PHONE'):.2%}")
    for kind, examples in recall.misses.items():
        print(f"  missed {kind}: {', '.join(examples[:5])}")
    if fp is None:
        print("false positives: skipped (no real recordings found; set LLMKIT_REAL_CASSETTES)")
    else:
        print(f"false positives: {fp.changed} of {fp.messages} real prompt messages changed "
              f"= {fp.rate:.2%} (from {', '.join(d.name for d in dirs)})")  # fmt: skip
        for example in fp.examples[:10]:
            print(f"  changed: {example}")
    verdict = "PASS" if ok else "FAIL"
    print(f"  {verdict} recall >= {RECALL_TARGET:.0%} per type, <= {FP_TARGET:.0%} changed "
          f"({seconds:.1f} s)")  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
