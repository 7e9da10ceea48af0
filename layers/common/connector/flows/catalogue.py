"""What the catalogue flows share (products, prices, images): Fastmag rows grouped into models and colours,
fabric codes, collections and the size order.

The products query answers one row per variant (reference × colour × size). `group_catalogue` folds those
rows into `Sheet`s (one per model, in Fastmag's order) holding their colours and sizes, after the settings'
filters, so every catalogue flow sees the same models, colours and fabric codes. `outline_models` reads a whole
answer whose models' rows are consecutive in one light pass, so that a flow can group it model by model later.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple, cast

from connector.fastmag.reads import CatalogueTable, ProductRow
from connector.flows.source import Skip, SourceRow, text, variant_label
from connector.settings import CollectionName, Settings

type Row = ProductRow

# Fabric codes are identifiers in LNB and in file names of images: keep them short, ASCII and stable.
FABRIC_CODE_MAX = 60
_NOT_CODE = re.compile(r"[^A-Z0-9]+")
_INACTIVE = frozenset({"0", "false", "n", "no", "non"})
_UNRANKED = 1 << 30


@lru_cache(maxsize=4096)  # colours and materials repeat on every variant
def slug(value: str) -> str:
    """`Bleu marine é` → `BLEU-MARINE-E`: accents dropped, upper case, any other run of characters → `-`."""
    plain = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode()
    return _NOT_CODE.sub("-", plain.upper()).strip("-")


@lru_cache(maxsize=4096)  # a catalogue has few colour × material pairs, each met on many variants
def fabric_code(colour: str, material: str) -> str:
    """The LNB fabric code of a colour × material: `NOIR_COTON`, `ROSE-POUDRE_SOIE`; the colour alone without
    a material. Deterministic and ASCII; a code longer than FABRIC_CODE_MAX, or text with no letter or digit
    at all, ends with a digest of the exact text so two different fabrics do not share one code."""
    parts = [slug(colour), slug(material)]
    code = "_".join(part for part in parts if part)
    exact = f"{colour.strip()}\x1f{material.strip()}"
    if len(code) > FABRIC_CODE_MAX or not code:
        tail = hashlib.sha256(exact.encode()).hexdigest()[:8].upper()
        code = f"{code[: FABRIC_CODE_MAX - len(tail) - 1]}-{tail}".lstrip("-")
    return code


def fabric_name(colour: str, material: str) -> str:
    """What a buyer reads: `ROSE POUDRÉ - soie`, or the colour alone."""
    return f"{colour} - {material}" if material else colour


def collection_of(season: str, settings: Settings) -> CollectionName:
    """The LNB collection of a Fastmag season: the configured one, or code = name = the season."""
    return settings.products.collections.get(season) or CollectionName(code=season, name=season)


def sizing_name(sizes: Iterable[str]) -> str:
    """A size grid's name, from its sizes: products with the same grid share one LNB sizing."""
    return " / ".join(sizes)


def _rank(row: Row) -> int:
    rank = row.get("size_rank")
    return rank if isinstance(rank, int) else _UNRANKED  # blank or unreadable: after the ranked sizes


# The columns a SKU is named by (`variant_label`, `sku_of`): all a Line keeps of its row.
VARIANT_COLUMNS = ("reference", "colour", "size", "variant_id", "ean13")


class Line(NamedTuple):  # a tuple: built once per SKU, a million times at a million SKUs
    """One variant row of the products query: a size of a colour, its EAN13 as Fastmag holds it."""

    size: str
    ean13: str
    # The row's VARIANT_COLUMNS only (as Fastmag sent them), not the whole row: a catalogue's rows are read page
    # by page and let go, so memory grows with these few columns, not with the answer's.
    row: SourceRow


@dataclass
class Sheet:
    """One model: its sheet fields (from its first row), its colours with their sizes in Fastmag order."""

    reference: str
    row: Row
    colours: dict[str, list[Line]] = field(default_factory=dict)
    sizes: list[str] = field(default_factory=list)
    _order: dict[str, tuple[int, int]] = field(default_factory=dict, repr=False)

    @property
    def material(self) -> str:
        return text(self.row, "material")

    def fabric_code(self, colour: str) -> str:
        return fabric_code(colour, self.material)

    def disagreeing_colours(self) -> list[str]:
        """Colours that lack some of the model's sizes (LNB wants one sizing per model)."""
        return [colour for colour, lines in self.colours.items() if len(lines) != len(self.sizes)]


@dataclass
class Catalogue:
    sheets: list[Sheet] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    left_out: int = 0  # models the settings leave out (inactive, other seasons)


def _wanted(row: Row, settings: Settings) -> bool:
    options = settings.products
    if options.active_only and text(row, "active").lower() in _INACTIVE:
        return False
    return not options.seasons or text(row, "season") in options.seasons


def _variant_row(row: Row, reference: str, colour: str) -> dict[str, object]:
    """The row's VARIANT_COLUMNS ("" where it lacks one, as `sku_of` reads it, so that the SKU format can be filled
    from it directly), the model's reference and colour text shared where the row's are the same."""
    get = row.get
    own_reference, own_colour = get("reference", ""), get("colour", "")
    return {
        "reference": reference if own_reference == reference else own_reference,
        "colour": colour if own_colour == colour else own_colour,
        "size": get("size", ""),
        "variant_id": get("variant_id", ""),
        "ean13": get("ean13", ""),
    }


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def group_catalogue(rows: Iterable[Row], settings: Settings) -> Catalogue:
    """Pure: variant rows → models with colours and sizes in Fastmag order (`size_rank`, then first seen).

    A variant without colour or size, or a second row for the same colour and size, is skipped with a reason.
    """
    catalogue = Catalogue()
    sheets: dict[str, Sheet] = {}
    left_out: set[str] = set()
    seen: set[tuple[str, str, str]] = set()
    for position, row in enumerate(rows):
        get = row.get  # `text` of each column, without a call per column (100 000 rows a catalogue)
        reference = _text(get("reference"))
        if reference in left_out:
            continue
        sheet = sheets.get(reference)
        if sheet is None:
            if not _wanted(row, settings):
                left_out.add(reference)
                continue
            sheet = sheets[reference] = Sheet(reference, row)
        colour, size, ean13 = _text(get("colour")), _text(get("size")), _text(get("ean13"))
        if not colour or not size or (reference, colour, size) in seen:
            label = variant_label(row)
            problem = "appears twice" if colour and size else f"has no {'size' if colour else 'colour'}"
            key = ean13 or text(row, "variant_id") or label
            catalogue.skipped.append(Skip(key, f"variant {problem} in Fastmag", {"variant": label}))
            continue
        seen.add((sheet.reference, colour, size))  # the model's text, not each row's own copy of it
        sheet.colours.setdefault(colour, []).append(Line(size, ean13, _variant_row(row, sheet.reference, colour)))
        if size not in sheet._order:
            sheet._order[size] = (_rank(row), position)
    for sheet in sheets.values():
        if not sheet.colours:
            continue
        order = sheet._order
        sheet.sizes = sorted(order, key=order.__getitem__)
        for lines in sheet.colours.values():
            lines.sort(key=lambda line: order[line.size])
        # Fastmag ranks sizes, not colours: sorted colours keep a payload's digest independent of row order.
        sheet.colours = dict(sorted(sheet.colours.items()))
        catalogue.sheets.append(sheet)
    catalogue.left_out = len(left_out)
    return catalogue


@dataclass
class Outline:
    """A catalogue read in one light pass (`outline_models`), before it is grouped."""

    # The models the settings keep, each with its first row (its text: numbers not parsed) and its colours that have a
    # size (sorted, without lines): what the fabric codes need, as the grouped sheets would give them.
    sheets: list[Sheet]
    runs: list[tuple[int, int]]  # each kept model's records, start and stop: `group_catalogue` of one gives its Sheet
    left_out: int  # models the settings leave out


def outline_models(catalogue: CatalogueTable, settings: Settings) -> Outline | None:
    """The models of a whole products answer, from three columns of each record, or None when some model's rows
    are not consecutive (a query ordered otherwise), which only `group_catalogue` of every row reads right.

    A model's run of records grouped alone gives the Sheet, skips and order `group_catalogue` of the whole answer
    gives it: its rows are all there, in Fastmag's order, and nothing in the grouping looks across models."""
    header, records = catalogue.table.header, catalogue.table.records
    outline = Outline([], [], 0)
    if not records:  # an empty answer may have no header at all
        return outline
    at_reference, at_colour, at_size = (header.index(name) for name in ("reference", "colour", "size"))

    def close(reference: str, start: int, stop: int, colours: set[str]) -> None:
        # As read, its numbers not parsed: the filters and the fabrics read its text only.
        first = cast(Row, dict(zip(header, records[start], strict=True)))
        if not _wanted(first, settings):
            outline.left_out += 1
            return
        outline.runs.append((start, stop))
        if colours:
            outline.sheets.append(Sheet(reference, first, {colour: [] for colour in sorted(colours)}))

    seen: set[str] = set()
    reference, start, colours = "", 0, set[str]()
    for position, record in enumerate(records):
        own = record[at_reference].strip()
        if own != reference or not position:
            if own in seen:
                return None
            if position:
                close(reference, start, position, colours)
            seen.add(own)
            reference, start, colours = own, position, set()
        colour = record[at_colour].strip()
        if colour and record[at_size].strip():  # a row without a size is skipped: its colour alone is no variant
            colours.add(colour)
    close(reference, start, len(records), colours)
    return outline
