"""Our ULIDs: the text the ULID spec gives, in creation order even within one millisecond, and
Inngest's seeded ids."""

from __future__ import annotations

import base64
import threading

from executor.util import ids
from executor.util.ids import encode_ulid, new_id, seeded_id

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def reference_text(value: int) -> str:
    """The spec's definition, one 5-bit digit at a time, most significant first."""
    return "".join(CROCKFORD[(value >> (5 * k)) & 31] for k in range(25, -1, -1))


def test_the_text_is_the_specs_crockford_base32_of_the_128_bits():
    # The spec's example: timestamp 1469918176385 ms starts "01ARYZ6S41".
    assert encode_ulid(1469918176385 << 80).startswith("01ARYZ6S41")
    assert encode_ulid(0) == "0" * 26
    assert encode_ulid(2**128 - 1) == "7" + "Z" * 25
    for value in (1, 2**80, 2**127 + 12345, 0x0123456789ABCDEF0123456789ABCDEF, 2**128 - 2):
        assert encode_ulid(value) == reference_text(value)


def test_ids_sort_in_the_order_they_were_made_even_within_a_millisecond(monkeypatch):
    made = [new_id() for _ in range(5000)]
    assert made == sorted(made) and len(set(made)) == len(made)
    # A wall clock that steps back does not reorder them either.
    clock = iter([10_000_000_000_000, 9_000_000_000_000, 9_000_000_000_000])
    monkeypatch.setattr(ids.time, "time_ns", lambda: next(clock))
    monkeypatch.setattr(ids, "_last_ms", -1)
    stepped = [new_id() for _ in range(3)]
    assert stepped == sorted(stepped) and len(set(stepped)) == 3


def test_a_full_millisecond_borrows_the_next_one(monkeypatch):
    monkeypatch.setattr(ids.time, "time_ns", lambda: 5_000_000_000_000)
    monkeypatch.setattr(ids, "_last_ms", 5_000_000)
    monkeypatch.setattr(ids, "_last_random", 2**80 - 1)
    after = new_id()
    assert after == encode_ulid(5_000_001 << 80)


def test_threads_never_get_the_same_id():
    got: list[list[str]] = [[] for _ in range(4)]
    threads = [threading.Thread(target=lambda out=out: out.extend(new_id() for _ in range(2000))) for out in got]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    everything = [i for out in got for i in out]
    assert len(set(everything)) == len(everything) == 8000


def test_a_seed_gives_inngests_ids_and_nonsense_gives_none():
    entropy = bytes(range(10))
    seed = f"1700000000000,{base64.b64encode(entropy).decode()}"
    tail = int.from_bytes(entropy[6:], "big")
    for index in (1, 2):
        expected = (1700000000000 << 80) | int.from_bytes(entropy[:6] + (tail + index).to_bytes(4, "big"), "big")
        assert seeded_id(seed, index) == reference_text(expected)
    for bad in (None, "", "123", "x,AAAA", "0," + base64.b64encode(entropy).decode(), "1,not-base64!", "1,AAAA"):
        assert seeded_id(bad, 1) is None
