"""The README's generated blocks (tests/readme.py) say what the code declares."""

from __future__ import annotations

import pytest

from tests.readme import BLOCKS, COMMAND, README, block, rendered, with_block


@pytest.mark.parametrize("name", sorted(BLOCKS))
def test_the_readme_block_matches_the_code(name: str) -> None:
    assert block(README.read_text(encoding="utf-8"), name) == rendered(name), (
        f"README block {name!r} is out of date with the code: run `{COMMAND}` and commit README.md"
    )


def test_rewriting_a_block_touches_only_the_lines_between_its_markers() -> None:
    text = (
        "intro edited by someone\n"
        "<!-- BEGIN generated: query contracts (regenerate: …) -->\n"
        "stale table\n"
        "<!-- END generated: query contracts -->\n"
        "runbook edited by someone else\n"
    )
    updated = with_block(text, "query contracts", "fresh table\n")
    assert updated == text.replace("stale table\n", "fresh table\n")
    assert block(updated, "query contracts") == "fresh table\n"


@pytest.mark.parametrize(
    "text",
    [
        "no markers at all\n",
        "<!-- END generated: query contracts -->\n<!-- BEGIN generated: query contracts -->\n",
        "<!-- BEGIN generated: query contracts x -->\n<!-- BEGIN generated: query contracts y -->\n"
        "<!-- END generated: query contracts -->\n",
    ],
)
def test_missing_reversed_or_doubled_markers_are_an_error_not_a_silent_append(text: str) -> None:
    with pytest.raises(ValueError, match="query contracts"):
        with_block(text, "query contracts", "table\n")
