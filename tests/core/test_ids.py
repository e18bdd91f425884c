"""Seeded ids and random streams: same seed and names, same sequence; other names, independent."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from aiprod_sandbox.core.ids import Draws, IdSource, derive, stream

ID = re.compile(r"job_[0-9a-z]{16}")


def draw(source: IdSource, count: int = 20) -> list[str]:
    return [source.new("job") for _ in range(count)]


def test_same_seed_and_names_give_the_same_sequence() -> None:
    assert draw(IdSource(7, "acct_a")) == draw(IdSource(7, "acct_a"))


def test_ids_look_like_the_guides() -> None:
    source = IdSource(7, "acct_a")
    ids = draw(source, 50)
    assert all(ID.fullmatch(value) for value in ids)
    assert len(set(ids)) == 50
    assert re.fullmatch(r"key_[0-9a-z]{12}", source.new("key", 12))
    assert re.fullmatch(r"[0-9a-z]{32}", source.token())
    assert re.fullmatch(r"[0-9a-z]{8}", source.token(8))


def test_every_letter_is_equally_likely() -> None:
    """Ids are drawn a byte at a time with the top bytes dropped: no letter may be favoured
    (a plain `byte % 36` would make 0–3 more likely than the rest)."""
    source = IdSource(7, "uniform")
    counts = Counter("".join(source.new("x")[2:] for _ in range(9_000)))
    expected = 9_000 * 16 / 36  # 4,000 each
    assert set(counts) == set("0123456789abcdefghijklmnopqrstuvwxyz")
    chi_square = sum((n - expected) ** 2 / expected for n in counts.values())
    assert chi_square < 70  # 35 degrees of freedom: 70 is p ≈ 0.0005


def test_other_names_or_seeds_give_other_sequences() -> None:
    base = draw(IdSource(7, "acct_a"))
    assert draw(IdSource(7, "acct_b")) != base
    assert draw(IdSource(8, "acct_a")) != base
    assert draw(IdSource(7, "acct_a", "sub")) != base


def test_sources_are_independent_of_each_others_draws() -> None:
    alone = draw(IdSource(7, "acct_a"), 10)
    a, b = IdSource(7, "acct_a"), IdSource(7, "acct_b")
    interleaved = []
    for _ in range(10):
        b.new("job")
        b.token()
        interleaved.append(a.new("job"))
    assert interleaved == alone


def test_names_are_a_path_not_a_concatenation() -> None:
    assert derive(7, "ab", "c") != derive(7, "a", "bc")
    assert derive(7, "a") != derive(7, "a", "")
    assert derive(7, "1", "x") != derive(71, "x")


@settings(max_examples=200, deadline=None)
@given(st.integers(), st.lists(st.text(max_size=20), max_size=4))
def test_derive_is_a_pure_64_bit_function(seed: int, names: list[str]) -> None:
    value = derive(seed, *names)
    assert value == derive(seed, *names)
    assert 0 <= value < 2**64
    assert stream(seed, *names).random() == stream(seed, *names).random()


_PROBE = """
import json, sys
from aiprod_sandbox.core.ids import Draws, IdSource, derive, stream
source = IdSource(7, "acct_a")
print(json.dumps({
    "derive": [derive(7, "account", "sk_test_abc"), derive(0), derive(-3, "x", "y")],
    "ids": [source.new("job") for _ in range(5)] + [source.token()],
    "stream": [stream(7, "acct_a", "job_1").random() for _ in range(1)],
}))
"""


def _probe_here() -> dict[str, object]:
    source = IdSource(7, "acct_a")
    return {
        "derive": [derive(7, "account", "sk_test_abc"), derive(0), derive(-3, "x", "y")],
        "ids": [source.new("job") for _ in range(5)] + [source.token()],
        "stream": [stream(7, "acct_a", "job_1").random()],
    }


def test_derived_values_are_stable_across_processes() -> None:
    """Another interpreter, with another string-hash seed, draws exactly the same values."""
    here = _probe_here()
    for hash_seed in ("1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        output = subprocess.run(
            [sys.executable, "-c", _PROBE], capture_output=True, text=True, env=env, check=True
        ).stdout
        assert json.loads(output) == here


def test_draws_are_named_uniform_and_cover_many_blocks() -> None:
    first = [Draws(7, "acct_a", "job_1").random() for _ in range(3)]
    assert len(set(first)) == 1  # a new Draws with the same names starts again
    draws = Draws(7, "acct_a", "job_1")
    values = [draws.random() for _ in range(4_000)]  # 1,000 hash blocks
    assert values[0] == first[0]
    assert all(0.0 <= v < 1.0 for v in values)
    assert len(set(values)) == len(values)
    assert abs(sum(values) / len(values) - 0.5) < 0.02
    deciles = Counter(int(v * 10) for v in values)
    assert all(330 < deciles[d] < 470 for d in range(10))  # 400 expected in each
    other = Draws(7, "acct_a", "job_2")
    assert [other.random() for _ in range(4)] != values[:4]
    assert 2.0 <= Draws(7, "x").uniform(2, 8) < 8.0
