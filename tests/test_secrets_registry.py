"""The secrets registry at scale: which pass masks what, and that none of it weakens with many
keys. The registry keeps token-charset values of 8+ characters out of its literal pass (the
fragment pass catches them); these tests pin each case that depends on that split.

Values are built at runtime from a seeded generator (none is a real key). The registry is
process-wide, so the 10,000-key and concurrency tests use their own ``_Registry``.
"""

from __future__ import annotations

import random
import string
import threading

from hypothesis import given, settings
from hypothesis import strategies as st

from llmkit.secrets import (
    _PREFILTER_GRAMS,
    _TOKEN_RE,
    MASK,
    APIKey,
    _Registry,
    register,
    scrub,
)

_ALPHABET = string.ascii_letters + string.digits


def token(rng: random.Random, n: int) -> str:
    return "".join(rng.choices(_ALPHABET, k=n))


def test_a_secret_outside_the_token_charset_is_masked_whole_and_literally() -> None:
    rng = random.Random(11)
    secret = f"{token(rng, 5)} pass:{token(rng, 6)}!"  # a space and a colon split it in tokens
    register(secret)
    assert scrub(f"login failed for <{secret}> today") == f"login failed for <{MASK}> today"


def test_a_six_or_seven_character_secret_is_masked_literally() -> None:
    rng = random.Random(12)
    six, seven = token(rng, 6), token(rng, 7)
    register(six, seven)
    assert scrub(f"pin {six}, code {seven}.") == f"pin {MASK}, code {MASK}."
    assert scrub(f"id={seven}") == f"id={MASK}"  # inside a token too: too short for fragments


def test_a_short_secret_inside_a_long_one_does_not_split_it() -> None:
    """The long key is masked whole first: masking the short one first would cut the long key
    into pieces shorter than a fragment, which would then show."""
    rng = random.Random(13)
    long_key = token(rng, 40)
    register(long_key, long_key[30:36])
    assert scrub(f"key {long_key} end") == f"key {MASK} end"


def test_eight_characters_of_a_long_key_are_masked() -> None:
    rng = random.Random(14)
    key = "sk-proj-" + token(rng, 56)
    register(key)
    assert scrub(f"key ending {key[-8:]} revoked") == f"key ending {MASK} revoked"
    assert scrub(f"seen {key[20:28]} twice") == f"seen {MASK} twice"


def test_a_key_containing_another_registered_key_is_masked_whole() -> None:
    rng = random.Random(15)
    inner = token(rng, 24)
    outer = token(rng, 6) + inner + token(rng, 6)
    with_colon = "user:" + inner  # outside the token charset, it still goes whole
    register(inner, outer, with_colon)
    assert scrub(f"a {outer} b") == f"a {MASK} b"
    assert scrub(f"a {with_colon} b") == f"a {MASK} b"
    assert scrub(f"a {inner} b") == f"a {MASK} b"


def test_a_label_before_a_registered_key_stays() -> None:
    """A key found whole is replaced literally, so ``api_key=`` still says what was there."""
    rng = random.Random(16)
    key = token(rng, 32)
    register(key)
    assert scrub(f"GET /v1?api_key={key}&v=1") == f"GET /v1?api_key={MASK}&v=1"


def test_a_key_given_to_scrub_is_masked_literally_whatever_its_shape() -> None:
    rng = random.Random(17)
    unregistered = token(rng, 5) + " " + token(rng, 5)
    assert scrub(f"[{unregistered}]", APIKey(unregistered)) == f"[{MASK}]"


def test_ten_thousand_keys_the_first_and_the_last_are_still_masked() -> None:
    rng = random.Random(18)
    shapes = (
        lambda: "sk-proj-" + token(rng, 56),
        lambda: "sk-ant-api03-" + token(rng, 93) + "AA",
        lambda: "AIza" + token(rng, 35),
        lambda: "".join(rng.choices("0123456789abcdef", k=32)),
    )
    keys = [shapes[i % 4]() for i in range(10_000)]
    registry = _Registry()
    for key in keys:
        registry.add([key])
    assert len(registry.values) == 10_000
    assert registry.gram_re is None  # past the prefilter's size: the fragment pass alone
    assert len(registry.grams) > _PREFILTER_GRAMS
    # keys share their prefixes; each is anchored on a fragment no other key has
    assert max(len(bucket) for bucket in registry.anchors.values()) == 1
    assert not registry.literal  # every key is left to the fragment pass

    first, last, middle = keys[0], keys[-1], keys[5_000]
    text = f"keys {first} and {last}; part of another: {middle[9:19]} (revoked)"
    assert registry.mask(text) == f"keys {MASK} and {MASK}; part of another: {MASK} (revoked)"
    assert registry.mask(f"api-key: {last}") == f"api-key: {MASK}"
    line = 'POST https://gateway.internal/v1/chat "HTTP/1.1 200 OK" tenant=acme request=42'
    assert registry.mask(line) == line


def test_readers_see_every_key_registered_before_they_read() -> None:
    """Scrubs run without a lock while keys are added: none fails, and each key whose
    registration returned is masked by any scrub that starts after it."""
    rng = random.Random(19)
    keys = ["sk-proj-" + token(rng, 48) for _ in range(2_000)]
    registry = _Registry()
    done = 0
    failures: list[str] = []

    def read() -> None:
        while done < len(keys):
            n = done
            if n and keys[n - 1] in registry.mask(f"x {keys[n - 1]} y {keys[n // 2]}"):
                failures.append(keys[n - 1])

    readers = [threading.Thread(target=read) for _ in range(3)]
    for t in readers:
        t.start()
    for i, key in enumerate(keys):
        registry.add([key])
        done = i + 1
    for t in readers:
        t.join()
    assert failures == []
    assert all(registry.mask(k) == MASK for k in (keys[0], keys[999], keys[-1]))


def _replace_all_then_fragments(values: list[str], text: str, extra: list[str]) -> str:
    """The registry's meaning, written the slow way: every value replaced literally (longest
    first), then every token holding an 8-character fragment of one masked whole."""
    kept = {v for v in values if len(v) >= 6}
    grams = {v[i : i + 8] for v in kept for i in range(len(v) - 7)}
    for v in sorted(kept | {e for e in extra if len(e) >= 4}, key=lambda v: (-len(v), v)):
        text = text.replace(v, MASK)
    if not grams:
        return text
    return _TOKEN_RE.sub(
        lambda m: MASK if any(m[0][i : i + 8] in grams for i in range(len(m[0]) - 7)) else m[0],
        text,
    )


_PIECES = st.text(alphabet="ab1-:", min_size=1, max_size=14)


@settings(max_examples=400, deadline=None)
@given(
    values=st.lists(_PIECES, min_size=1, max_size=6),
    parts=st.lists(st.tuples(st.integers(0, 5), st.integers(0, 14), st.integers(1, 14), _PIECES)),
    extra=st.lists(_PIECES, max_size=1),
)
def test_the_registry_masks_as_replacing_every_value_then_fragments(
    values: list[str], parts: list[tuple[int, int, int, str]], extra: list[str]
) -> None:
    """Texts built from the values, their slices and filler, on a tiny alphabet so that values
    overlap, contain each other and straddle tokens (``:`` is outside the token charset)."""
    text = " ".join(values[i % len(values)][a : a + n] + filler for i, a, n, filler in parts)
    text += " " + " ".join(values)
    registry = _Registry()
    for v in values:
        registry.add([v])
    assert registry.mask(text, extra) == _replace_all_then_fragments(values, text, extra)
