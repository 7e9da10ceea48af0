"""Keyset paging of the big reads (`fastmag.page_rows`) against the simulator, which runs the paged SQL itself."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from connector.errors import FastmagError
from connector.fastmag.client import FastmagClient
from connector.fastmag.reads import FastmagReads
from connector.settings import Settings
from sandbox.fastmag_sim import FastmagSimulator
from tests.integration.fastmag.conftest import PASSWORD, USER

pytestmark = pytest.mark.integration

STORES = ("CENTRAL", "WEB")


def reads_of(sim: FastmagSimulator, page_rows: int | None, **fastmag: Any) -> FastmagReads:
    settings = Settings()
    fastmag_settings = sim.settings().model_copy(update={"page_rows": page_rows, **fastmag})
    client = FastmagClient(fastmag_settings, USER, PASSWORD, sleep=lambda _: None)
    return FastmagReads(client, settings.model_copy(update={"fastmag": fastmag_settings}))


def variant(row: Any) -> tuple[str, str, str]:
    return (row["reference"], row["colour"], row["size"])


def by_variant(rows: list[Any]) -> dict[tuple[str, str, str], Any]:
    return {variant(row): row for row in rows}


@pytest.mark.parametrize("page_rows", [1, 7, 100, 100_000])
def test_paged_reads_equal_the_one_query_reads(sim: FastmagSimulator, page_rows: int) -> None:
    whole = reads_of(sim, None)
    paged = reads_of(sim, page_rows)
    stock = paged.stock_rows(STORES, True)
    assert len(stock) == len(whole.stock_rows(STORES, True))
    assert by_variant(stock) == by_variant(whole.stock_rows(STORES, True))
    catalogue = paged.catalogue_rows()
    assert sorted(map(variant, catalogue)) == sorted(map(variant, whole.catalogue_rows()))
    assert by_variant(catalogue) == by_variant(whole.catalogue_rows())
    prices = paged.price_rows(["GROS", "PVC"])
    key = lambda row: (row["reference"], row["tariff"], row["colour"], row["size"])  # noqa: E731
    assert sorted(map(key, prices)) == sorted(map(key, whole.price_rows(["GROS", "PVC"])))


def test_pages_are_asked_by_key_never_by_offset_and_end_on_a_short_page(sim: FastmagSimulator) -> None:
    reads = reads_of(sim, 10)
    variants = len(reads_of(sim, None).stock_rows(STORES, True))
    sim.requests.clear()
    pages = list(reads.stock_pages(STORES, True))
    assert [len(page) for page in pages[:-1]] == [10] * (len(pages) - 1)
    assert len(pages[-1]) < 10  # a full last page would have asked for one more, empty
    assert len(pages) == variants // 10 + 1
    sent = [request.params["data"] for request in sim.requests]
    assert len(sent) == len(pages)
    assert all("OFFSET" not in sql.upper() and "LIMIT 10" in sql for sql in sent)
    last = pages[0][-1]
    assert f"> '{last['size']}'" in sent[1] and f"'{last['reference']}'" in sent[1]


def test_one_query_without_page_rows_as_before(sim: FastmagSimulator) -> None:
    sim.requests.clear()
    pages = list(reads_of(sim, None).stock_pages(STORES, True))
    assert len(pages) == 1
    assert "fastmag_page" not in sim.requests[0].params["data"]


def add_variant(sim: FastmagSimulator, reference: str, ean13: str) -> None:
    sim.execute(
        "INSERT INTO produits (barcode, couleur, taille, gencod) VALUES (?, 'NOIR', 'M', ?)", (reference, ean13)
    )
    sim.execute(
        "INSERT INTO stock (barcode, couleur, taille, codemag, stock, AR) VALUES (?, 'NOIR', 'M', 'WEB', 4, 1)",
        (reference,),
    )


def test_hostile_keys_page_through_quoted(sim: FastmagSimulator) -> None:
    """References with a quote, a backslash, an injection attempt: a page ending on one resumes right after it."""
    hostile = ["A'B", "A\\", "A\\'; DROP TABLE stock; --", "A' OR '1'='1", "Ä€", "A%23&Data=+"]
    for index, reference in enumerate(hostile):
        add_variant(sim, reference, f"x{index}")
    whole = reads_of(sim, None).stock_rows(STORES, True)
    paged = reads_of(sim, 1).stock_rows(STORES, True)
    assert Counter(map(variant, paged)) == Counter(map(variant, whole))
    assert {row["reference"] for row in paged} >= set(hostile)
    assert sim.execute("SELECT COUNT(*) FROM stock WHERE barcode = 'A''B'") == [(1,)]


def test_a_key_the_charset_cannot_carry_fails_the_read_rather_than_counting_it_twice(sim: FastmagSimulator) -> None:
    """`Ā` comes back as `?` in Windows-1252: resuming after `?` would give its row again. The read says so."""
    add_variant(sim, "Āmber", "x1")
    with pytest.raises(FastmagError, match="repeats the key"):
        reads_of(sim, 1).stock_rows(STORES, True)


def test_a_server_ignoring_the_page_condition_fails_the_read_instead_of_looping(sim: FastmagSimulator) -> None:
    """A page SQL whose condition the server does not apply gives the same page again: the read stops there."""
    template = "SELECT * FROM ({query}) AS fastmag_page WHERE {after} OR 1 = 1 ORDER BY {order} LIMIT {rows}"
    with pytest.raises(FastmagError, match="repeats the key"):
        reads_of(sim, 5, page_sql=template).stock_rows(STORES, True)


def test_a_failing_page_raises_out_of_the_read(sim: FastmagSimulator) -> None:
    queries = Counter[str]()

    def third_page_breaks() -> None:
        queries["seen"] += 1
        if queries["seen"] == 3:
            sim.faults.malformed_next_query = True

    sim.before_query = third_page_breaks
    pages = reads_of(sim, 10).stock_pages(STORES, True)
    assert len(next(pages)) == 10
    assert len(next(pages)) == 10
    with pytest.raises(FastmagError, match=r"fastmag\.queries\.stock"):
        next(pages)


def test_stock_moving_between_pages_is_read_once_per_variant(sim: FastmagSimulator) -> None:
    """Quantities change, a variant's rows are deleted and inserted again, a row is added in another store, before
    every page: each variant still comes exactly once, with a quantity it had during the read."""
    before = by_variant(reads_of(sim, None).stock_rows(STORES, True))
    sim.faults.churn_stock = 1000
    paged = reads_of(sim, 7).stock_rows(STORES, True)
    sim.faults.churn_stock = 0
    after = by_variant(reads_of(sim, None).stock_rows(STORES, True))
    assert len(sim.churned) >= 3 * 10
    assert Counter(map(variant, paged)) == Counter(dict.fromkeys(before, 1))
    for row in paged:  # every move adds stock: a page sees a variant at some point between before and after
        assert before[variant(row)]["quantity"] <= row["quantity"] <= after[variant(row)]["quantity"], row
    unchurned = set(before) - set(sim.churned)
    assert all(by_variant(paged)[key] == before[key] for key in unchurned)
