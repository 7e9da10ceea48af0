"""EAN13 check digits: a bad checksum in Fastmag marks a variant Le New Black must not receive."""

from __future__ import annotations


def ean13_checksum(first12: str) -> int:
    """The GS1 check digit of twelve digits: weights 1 and 3 alternate from the left."""
    if len(first12) != 12 or not first12.isascii() or not first12.isdigit():
        raise ValueError(f"an EAN13 body is 12 digits, got {first12!r}")
    # Summing the ASCII bytes runs in C (catalogue flows check 100 000 codes per run); each digit's byte is
    # its value + 48, so the six odd-placed and six even-placed digits carry 48 × (6 + 3 × 6) too many.
    codes = first12.encode()
    total = sum(codes[0::2]) + 3 * sum(codes[1::2]) - 48 * 24
    return (10 - total % 10) % 10


def make_ean13(first12: str) -> str:
    """Twelve digits followed by their check digit."""
    return f"{first12}{ean13_checksum(first12)}"


def is_valid_ean13(text: str) -> bool:
    """Thirteen ASCII digits whose last one is the checksum of the first twelve."""
    if len(text) != 13 or not text.isascii() or not text.isdigit():
        return False
    # `ean13_checksum` inlined: a catalogue checks 100 000 codes a run, and the body is known to be 12 digits.
    codes = text.encode()
    total = sum(codes[0:12:2]) + 3 * sum(codes[1:12:2]) - 48 * 24
    return (10 - total % 10) % 10 == codes[12] - 48
