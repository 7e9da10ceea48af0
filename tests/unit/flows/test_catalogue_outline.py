"""A whole products answer outlined in one light pass (`catalogue.outline_models`) and grouped model by model gives
what `group_catalogue` of every row gives: the same fabrics, the same sheets in the same order, the same skips and
the same models left out. An answer whose models' rows are not consecutive is not outlined at all."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from connector.fastmag.reads import CatalogueTable
from connector.fastmag.wire import Table
from connector.flows import catalogue, products
from connector.settings import Settings, parse_settings
from tests.properties import examples
from tests.unit.flows.test_hostile_mapping import product_columns
from tests.unit.hostile import row_of

HEADER = list(product_columns)
# Few references, so that models have several rows; hostile ones (blank, padded) among them.
references = st.sampled_from(["CH2301", " CH2301", "CH2301 ", "RB1", "rb1", "", "PT-9"])
rows = st.lists(row_of({**product_columns, "reference": references}), max_size=14)
every_setting = st.sampled_from(
    [
        Settings(),
        parse_settings({"products": {"active_only": False}}),
        parse_settings({"products": {"seasons": ["PE26"]}}),
    ]
)


def _table(answer: list[dict[str, str]]) -> CatalogueTable:
    return CatalogueTable(Table(HEADER, [[row[name] for name in HEADER] for row in answer]), "auto")


def _sheets(sheets: list[catalogue.Sheet]) -> list[tuple[Any, ...]]:
    return [(sheet.reference, sheet.row, sheet.colours, sheet.sizes) for sheet in sheets]


def _consecutive(answer: list[dict[str, str]]) -> bool:
    references = [row["reference"].strip() for row in answer]
    runs = [
        reference
        for position, reference in enumerate(references)
        if not position or references[position - 1] != reference
    ]
    return len(runs) == len(set(runs))


@given(rows, every_setting, st.booleans())
@examples(300)
def test_an_outlined_answer_grouped_model_by_model_is_the_answer_grouped_whole(
    answer: list[dict[str, str]], settings: Settings, by_model: bool
) -> None:
    if by_model:  # the default query's order: each model's rows together, in the order Fastmag gave them
        answer = sorted(answer, key=lambda row: row["reference"].strip())
    table = _table(answer)
    whole = catalogue.group_catalogue(table.rows(), settings)
    outline = catalogue.outline_models(table, settings)
    if not _consecutive(answer):
        assert outline is None
        return
    assert outline is not None
    assert products.fabrics_of(outline.sheets, settings) == products.fabrics_of(whole.sheets, settings)
    assert outline.left_out == whole.left_out
    sheets, skipped = [], []
    for start, stop in outline.runs:
        grouped = catalogue.group_catalogue(table.rows(start, stop), settings)
        sheets += grouped.sheets
        skipped += grouped.skipped
        assert grouped.left_out == 0  # a model the settings leave out is not a run at all
    assert _sheets(sheets) == _sheets(whole.sheets)
    assert skipped == whole.skipped


def test_an_empty_answer_has_an_empty_outline_with_or_without_its_header() -> None:
    for table in (_table([]), CatalogueTable(Table([], []), "auto")):
        assert catalogue.outline_models(table, Settings()) == catalogue.Outline([], [], 0)
