"""Masking runs on every logged and stored value, hostile ones included: its cost must grow with the text's
length, not with its square (an unbounded address pattern backtracks over a long run of address characters)."""

from __future__ import annotations

import time

from connector.observability import mask_email


def test_a_megabyte_of_address_characters_is_masked_in_linear_time() -> None:
    hostile = ("a" * 1_000 + "@") * 1_000  # a million characters, a thousand "@" and no domain after any of them
    started = time.process_time()
    assert mask_email(hostile) == hostile
    # Quadratic backtracking takes minutes here; linear work takes well under a second even on a loaded machine.
    assert time.process_time() - started < 5


def test_addresses_are_still_masked_beside_hostile_text() -> None:
    text = "x" * 10_000 + " jeanne.durand@example.fr, b@ex.co"
    assert mask_email(text).endswith(" j***@example.fr, b***@ex.co")
