"""The README's generated blocks, rewritten by `python -m tests.readme` (from the repository root, with
`PYTHONPATH=layers/common:.`); tests/unit/test_readme_blocks.py fails while one is out of date.

A block is the lines between `<!-- BEGIN generated: <name> … -->` and `<!-- END generated: <name> -->`; only
those lines are rewritten, so the prose others edit around a block merges as usual.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from connector.fastmag import queries

README = Path(__file__).resolve().parent.parent / "README.md"
COMMAND = "PYTHONPATH=layers/common:. .venv/bin/python -m tests.readme"
BLOCKS: Mapping[str, Callable[[], str]] = {"query contracts": queries.markdown}


def rendered(name: str) -> str:
    """What the block holds: the rendered Markdown set off by blank lines from its markers."""
    return f"\n{BLOCKS[name]().strip()}\n\n"


def _bounds(lines: list[str], name: str) -> tuple[int, int]:
    begins = [n for n, line in enumerate(lines) if line.startswith(f"<!-- BEGIN generated: {name} ")]
    ends = [n for n, line in enumerate(lines) if line.strip() == f"<!-- END generated: {name} -->"]
    if len(begins) != 1 or len(ends) != 1 or ends[0] < begins[0]:
        raise ValueError(f"README needs one BEGIN and, after it, one END marker of the generated block {name!r}")
    return begins[0], ends[0]


def block(text: str, name: str) -> str:
    """The text between the block's markers."""
    lines = text.splitlines(keepends=True)
    begin, end = _bounds(lines, name)
    return "".join(lines[begin + 1 : end])


def with_block(text: str, name: str, content: str) -> str:
    """`text` with the block's content replaced and every other line untouched."""
    lines = text.splitlines(keepends=True)
    begin, end = _bounds(lines, name)
    return "".join([*lines[: begin + 1], content, *lines[end:]])


def main() -> int:
    text = README.read_text(encoding="utf-8")
    updated = text
    for name in BLOCKS:
        updated = with_block(updated, name, rendered(name))
    if updated != text:
        README.write_text(updated, encoding="utf-8")
        print(f"rewrote the generated blocks of {README.name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
