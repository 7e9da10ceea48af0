"""Every flow names what its counters count, in one table, and a legend the pages show."""

from __future__ import annotations

from connector.counters import COUNTER_UNITS, Counters, counter_legend
from connector.flows import FLOWS


def test_every_flow_has_units_and_no_unit_names_another_flows_counter() -> None:
    assert set(COUNTER_UNITS) == set(FLOWS)
    for units in COUNTER_UNITS.values():
        assert set(units.labels) <= set(Counters.model_fields)


def test_the_legend_says_read_counts_fastmag_rows_and_sent_counts_lnb_records() -> None:
    legend = counter_legend("prices")
    assert legend.startswith("read = Fastmag price rows; ")
    assert "sent" in legend and legend.endswith("LNB prices (one per model colour and price list, or per size)")
    assert "\n" not in legend


def test_images_counts_staged_files_not_uploads() -> None:
    units = COUNTER_UNITS["images"]
    assert units.label("accepted") == "staged"
    assert "staged" in counter_legend("images") and "accepted" not in counter_legend("images")
    assert units.unit("read") == "Fastmag photos" and units.unit("accepted") != units.unit("read")
