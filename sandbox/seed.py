"""A deterministic French fashion catalogue, its B2B customers and Le New Black orders, for the simulators.

Rows are named tuples in the column order of the Fastmag tables the simulator creates, so they load with
`executemany` as they are. `iter_catalogue` yields one model at a time for callers that stream (benchmarks);
`build_seed` keeps everything. With `bad_rows` the catalogue carries the defects a real one has (bad EAN13
checksums, negative stock, a zero price, a variant without colour, stock for an unknown variant), listed in
`Seed.anomalies` so tests can assert each one is skipped with a reason.

A model has 2–4 colours × a size grid of 4–8 sizes (one size, `TU`, for accessories): about 12 SKUs per
model on average, so 100 000 SKUs ≈ `models=8_000`.
"""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, NamedTuple

from connector.ean import make_ean13

STORES = ("CENTRAL", "WEB", "PARIS", "LYON")
TARIFFS = ("GROS", "PVC", "SOLDES")
ORPHAN_REFERENCE = "ZZ9999"


class Product(NamedTuple):
    """produitsfiches: one row per model; `barcode` is the model reference."""

    barcode: str
    designation: str
    designation2: str
    marque: str
    famille: str
    sousfamille: str
    rayon: str
    saison: str
    matiere: str
    composition: str
    description: str
    actif: int


class Variant(NamedTuple):
    """produits: one row per reference × colour × size."""

    produit: int
    barcode: str
    couleur: str
    taille: str
    gencod: str
    ordretaille: int


class StockRow(NamedTuple):
    barcode: str
    couleur: str
    taille: str
    codemag: str
    stock: float
    AR: int


class PriceRow(NamedTuple):
    """tarifs: an empty colour or size means every colour or size of the model."""

    barcode: str
    tarif: str
    couleur: str
    taille: str
    prix: float


class Customer(NamedTuple):
    Client: int
    email: str
    Nom: str
    Prenom: str
    Sexe: str
    Societe: str
    Telephone: str
    Adresse1: str
    Adresse2: str
    codepostal: str
    Ville: str
    Pays: str
    TarifVente: str
    TVAIntra: str
    Famille: str
    DateModif: str


class DeliveryAddress(NamedTuple):
    Client: int
    AdrLivraison: str
    Nom: str
    Societe: str
    Adresse1: str
    Adresse2: str
    codepostal: str
    Ville: str
    Pays: str


class ModelRows(NamedTuple):
    product: Product
    variants: list[Variant]
    stock: list[StockRow]
    prices: list[PriceRow]


@dataclass
class Anomalies:
    """The deliberate defects, by key, so tests can look for their skip reasons."""

    invalid_ean: list[str] = field(default_factory=list)
    negative_stock: list[tuple[str, str, str, str]] = field(default_factory=list)
    zero_price: list[tuple[str, str]] = field(default_factory=list)
    missing_colour: list[int] = field(default_factory=list)
    orphan_stock: list[tuple[str, str, str]] = field(default_factory=list)


@dataclass
class Seed:
    seed: int
    products: list[Product]
    variants: list[Variant]
    stock: list[StockRow]
    prices: list[PriceRow]
    customers: list[Customer]
    addresses: list[DeliveryAddress]
    anomalies: Anomalies
    _price_index: dict[tuple[str, str, str, str], float] = field(default_factory=dict, repr=False)

    def price(self, reference: str, colour: str, size: str, tariff: str) -> float | None:
        """The most specific price row: colour+size, then colour, then size, then the model's."""
        if not self._price_index:
            self._price_index = {(p.barcode, p.tarif, p.couleur, p.taille): p.prix for p in self.prices}
        for key in ((colour, size), (colour, ""), ("", size), ("", "")):
            found = self._price_index.get((reference, tariff, *key))
            if found is not None:
                return found
        return None

    def good_variants(self) -> list[Variant]:
        """Variants a flow can send: valid EAN13, a colour, a non-zero wholesale price."""
        bad_eans = set(self.anomalies.invalid_ean)
        zero = {reference for reference, _ in self.anomalies.zero_price}
        return [v for v in self.variants if v.couleur and v.gencod not in bad_eans and v.barcode not in zero]

    def retailers(self) -> list[Customer]:
        return [c for c in self.customers if c.Societe]


# --- vocabulary ---------------------------------------------------------------------------------------------

LETTERS = ("XS", "S", "M", "L", "XL", "XXL")
NUMBERS = ("34", "36", "38", "40", "42", "44", "46", "48")

# famille, sousfamille, reference prefix, grid, wholesale price range, designations
FAMILIES: tuple[tuple[str, str, str, tuple[str, ...], tuple[int, int], tuple[str, ...]], ...] = (
    (
        "Hauts",
        "Chemises",
        "CH",
        LETTERS,
        (22, 45),
        ("Chemise à col Claudine", "Chemise en lin lavé", "Chemise oversize à rayures", "Chemise d'été brodée"),
    ),
    (
        "Hauts",
        "Pulls",
        "PU",
        LETTERS,
        (30, 70),
        ("Pull d'hiver côtelé", "Pull col roulé en mérinos", "Pull marinière", "Gilet à boutons nacrés"),
    ),
    (
        "Hauts",
        "T-shirts",
        "TS",
        LETTERS,
        (9, 18),
        ("T-shirt col V", "Tee-shirt « Bonjour Paris »", "Débardeur côtelé", "T-shirt manches bouffantes"),
    ),
    (
        "Bas",
        "Pantalons",
        "PA",
        NUMBERS,
        (28, 55),
        ("Pantalon à pinces", "Jean droit délavé", "Pantalon cargo", "Pantalon large en crêpe"),
    ),
    (
        "Bas",
        "Jupes",
        "JU",
        NUMBERS,
        (20, 40),
        ("Jupe plissée mi-longue", "Jupe portefeuille", "Jupe en jean boutonnée"),
    ),
    (
        "Robes",
        "Robes",
        "RO",
        NUMBERS,
        (35, 80),
        ("Robe portefeuille fleurie", "Robe chemise", "Robe d'été à bretelles", "Robe pull côtelée"),
    ),
    (
        "Vestes",
        "Manteaux",
        "MA",
        NUMBERS,
        (70, 160),
        ("Manteau en drap de laine", "Trench à ceinture", "Caban croisé", "Doudoune légère"),
    ),
    (
        "Accessoires",
        "Foulards",
        "FO",
        ("TU",),
        (12, 45),
        ("Foulard en soie imprimé", "Écharpe en cachemire", "Bandana à motifs cachemire"),
    ),
    (
        "Accessoires",
        "Sacs",
        "SA",
        ("TU",),
        (35, 120),
        ("Sac cabas en cuir grainé", "Pochette brodée", "Besace en toile enduite"),
    ),
)
SECTIONS = ("Femme", "Femme", "Femme", "Homme", "Enfant")
BRANDS = ("Maison Lumière", "Atelier Éphémère", "Les Filles d'Octobre", "Côté Sable")
SEASONS = ("AH24", "PE25", "AH25", "PE26")
MATERIALS = (
    ("coton", "100% coton biologique"),
    ("laine", "70% laine, 30% polyamide"),
    ("soie", "100% soie"),
    ("lin", "100% lin lavé"),
    ("viscose", "95% viscose, 5% élasthanne"),
    ("cachemire", "100% cachemire"),
    ("polyester recyclé", "100% polyester recyclé"),
    ("cuir", "cuir de vachette, doublure coton"),
)
COLOURS = (
    "NOIR",
    "BLANC",
    "ÉCRU",
    "BLEU MARINE",
    "ROSE POUDRÉ",
    "VERT SAPIN",
    "BORDEAUX",
    "GRIS CHINÉ",
    "CAMEL",
    "KAKI",
    "TERRACOTTA",
    "JAUNE D'OR",
    "BLEU CIEL",
)
LONG_TAIL = (
    " — édition limitée tissée en France dans un atelier familial, finitions main, boutons en corozo "
    "et étiquette brodée « fabriqué avec soin »"
)
FIRST_NAMES = (
    "Léa",
    "Héloïse",
    "Zoé",
    "Chloé",
    "Anaïs",
    "Inès",
    "Noémie",
    "Maëlle",
    "Béatrice",
    "Cécile",
    "Joséphine",
    "Agnès",
    "Éloïse",
    "Clémence",
    "Hélène",
    "Gaëlle",
    "Jérôme",
    "François",
    "Noël",
    "Loïc",
)
LAST_NAMES = (
    "Dupré",
    "Lefèvre",
    "Mercier",
    "Gauthier",
    "Rousseau",
    "Bézier",
    "Château",
    "N'Diaye",
    "D'Angelo",
    "Benoît",
    "Leclère",
    "Faure",
    "Girard",
    "Lemaître",
    "Da Silva",
    "Müller",
)
SHOP_PATTERNS = (
    "L'Atelier de {name}",
    "Boutique {name}",
    "Chez {name}",
    "Les Trésors de {name}",
    "La Garde-Robe de {name}",
    "Maison {name}",
    "Le Vestiaire de {name}",
    "Comptoir {name} & Filles",
)
# ISO code, spellings seen in a customer file, (zip code, city) pairs
COUNTRIES = (
    (
        "FR",
        ("FRANCE", "FR", "France"),
        (
            ("75011", "Paris"),
            ("69002", "Lyon"),
            ("33000", "Bordeaux"),
            ("44000", "Nantes"),
            ("59800", "Lille"),
            ("13100", "Aix-en-Provence"),
            ("42000", "Saint-Étienne"),
        ),
    ),
    ("BE", ("Belgique", "BE", "BELGIQUE"), (("1000", "Bruxelles"), ("4000", "Liège"), ("5000", "Namur"))),
    ("CH", ("Suisse", "CH"), (("1204", "Genève"), ("1003", "Lausanne"))),
    ("LU", ("Luxembourg", "LU"), (("1111", "Luxembourg"),)),
    ("ES", ("ESPAGNE", "ES"), (("08001", "Barcelona"),)),
)
STREETS = (
    "rue de la Paix",
    "place Bellecour",
    "cours Mirabeau",
    "rue Sainte-Catherine",
    "quai de l'Horloge",
    "avenue Jean-Jaurès",
    "rue du Faubourg Saint-Honoré",
    "chaussée d'Ixelles",
)
ADDRESS_LINES_2 = ("", "", "Bâtiment B", "2e étage, porte gauche", "Cour intérieure")
ADDRESS_NAMES = ("BOUTIQUE 2", "ENTREPÔT", "SHOWROOM", "DÉPÔT SUD")
COMMENTS = (
    "Livraison avant le salon, merci !",
    "Merci de prévoir l'étiquetage | cintres fournis\nLivrer au quai n°3, à l'arrière du magasin",
    "",
    "Commande de réassort — priorité aux coloris ÉCRU et ROSE POUDRÉ",
    "Facturer à l'adresse du siège ; livrer à l'entrepôt",
    "",
)


def _vat(iso: str, rng: random.Random) -> str:
    digits = "".join(rng.choices("0123456789", k=9))
    return {
        "FR": f"FR{rng.randint(10, 99)}{digits}",
        "BE": f"BE0{digits}",
        "CH": f"CHE-{digits[:3]}.{digits[3:6]}.{digits[6:]} TVA",
        "LU": f"LU{digits[:8]}",
        "ES": f"ESB{digits[:8]}",
    }[iso]


def _ascii_slug(text: str, separator: str = "") -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return separator.join("".join(c if c.isalnum() else " " for c in plain).split())


def _elide(text: str) -> str:
    """French elision: `de Éloïse` → `d'Éloïse`."""
    for vowel in "AEIOUÉÈHaeiouéèh":
        text = text.replace(f" de {vowel}", f" d'{vowel}")
    return text


def _round_price(value: float, ending: float) -> float:
    return round(int(value) + ending, 2)


# --- catalogue ----------------------------------------------------------------------------------------------


def iter_catalogue(models: int = 150, seed: int = 7, bad_rows: bool = True) -> Iterator[ModelRows]:
    """One model at a time with its variants, stock and prices; the same rows as `build_seed`."""
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
    counters: dict[str, int] = {}
    produit = 10_000
    bad_positions = _bad_positions(models) if bad_rows else {}
    for index in range(models):
        famille, sousfamille, prefix, grid, bounds, names = FAMILIES[index % len(FAMILIES)]
        counters[prefix] = counters.get(prefix, 0) + 1
        reference = f"{prefix}{2300 + counters[prefix]}"
        material, composition = rng.choice(MATERIALS)
        designation = rng.choice(names)
        if index % 37 == 36:
            designation += LONG_TAIL
        section = rng.choice(SECTIONS)
        product = Product(
            barcode=reference,
            designation=designation,
            designation2=f"{designation} ({material})"[:60],
            marque=rng.choice(BRANDS),
            famille=famille,
            sousfamille=sousfamille,
            rayon=section,
            saison=SEASONS[index % len(SEASONS)],
            matiere=material,
            composition=composition,
            description=f"{designation}, {composition}. Coupe {rng.choice(('ajustée', 'droite', 'ample'))}.",
            actif=0 if index % 29 == 28 else 1,
        )
        colours = rng.sample(COLOURS, rng.choice((2, 2, 3, 3, 4)))
        if len(grid) > 1:
            width = rng.randint(4, min(8, len(grid)))
            start = rng.randint(0, len(grid) - width)
            sizes = grid[start : start + width]
        else:
            sizes = grid
        variants: list[Variant] = []
        stock: list[StockRow] = []
        for colour in colours:
            for size in sizes:
                produit += 1
                rank = grid.index(size) + 1  # rank in the whole grid, so sizes sort alike across models
                variants.append(Variant(produit, reference, colour, size, make_ean13(f"376{produit:09d}"), rank))
                stock.extend(_stock_rows(rng, reference, colour, size))
        prices = _price_rows(rng, reference, colours, sizes, bounds)
        rows = ModelRows(product, variants, stock, prices)
        for defect in bad_positions.get(index, ()):
            rows = _spoil(rows, defect)
        yield rows


def _stock_rows(rng: random.Random, reference: str, colour: str, size: str) -> list[StockRow]:
    rows = [StockRow(reference, colour, size, "CENTRAL", float(rng.randint(0, 40)), 1)]
    draw = rng.random()
    if draw < 0.5:
        rows.append(StockRow(reference, colour, size, "WEB", float(rng.randint(0, 15)), 1))
    if draw < 0.25:
        rows.append(StockRow(reference, colour, size, "PARIS", float(rng.randint(0, 6)), 1))
        rows.append(StockRow(reference, colour, size, "LYON", float(rng.randint(0, 6)), 1))
    if draw > 0.95:
        # A reception not yet acknowledged: theoretical stock, not real stock.
        rows.append(StockRow(reference, colour, size, "CENTRAL", float(rng.randint(5, 20)), 0))
    return rows


def _price_rows(
    rng: random.Random, reference: str, colours: list[str], sizes: tuple[str, ...], bounds: tuple[int, int]
) -> list[PriceRow]:
    wholesale = _round_price(rng.uniform(*bounds), 0.5)
    prices = [
        PriceRow(reference, "GROS", "", "", wholesale),
        PriceRow(reference, "PVC", "", "", _round_price(wholesale * 2.2, 0.9)),
    ]
    if rng.random() < 0.3:
        prices.append(PriceRow(reference, "SOLDES", "", "", _round_price(wholesale * 1.5, 0.9)))
    if sizes[-1] in ("46", "48", "XXL"):
        prices.append(PriceRow(reference, "GROS", "", sizes[-1], wholesale + 5))
    if rng.random() < 0.1:
        prices.append(PriceRow(reference, "GROS", colours[0], "", wholesale + 3))
    return prices


def _bad_positions(models: int) -> dict[int, tuple[str, ...]]:
    positions: dict[int, list[str]] = {}
    for position, defect in (
        (3, "invalid_ean"),
        (11, "invalid_ean"),
        (23, "invalid_ean"),
        (5, "negative_stock"),
        (8, "zero_price"),
        (13, "missing_colour"),
        (0, "orphan_stock"),
    ):
        positions.setdefault(position % models, []).append(defect)
    return {key: tuple(value) for key, value in positions.items()}


def _spoil(rows: ModelRows, defect: str) -> ModelRows:
    product, variants, stock, prices = rows
    match defect:
        case "invalid_ean":
            first = variants[0]
            wrong = first.gencod[:12] + str((int(first.gencod[12]) + 1) % 10)
            variants = [first._replace(gencod=wrong), *variants[1:]]
        case "negative_stock":
            stock = [stock[0]._replace(stock=-3.0), *stock[1:]]
        case "zero_price":
            prices = [p._replace(prix=0.0) if p.tarif == "GROS" else p for p in prices]
        case "missing_colour":
            last = variants[-1]
            orphan_id = last.produit + 500_000_000
            blank = last._replace(produit=orphan_id, couleur="", gencod=make_ean13(f"377{last.produit:09d}"))
            variants = [*variants, blank]
        case "orphan_stock":
            stock = [*stock, StockRow(ORPHAN_REFERENCE, "NOIR", "M", "CENTRAL", 4.0, 1)]
    return ModelRows(product, variants, stock, prices)


def _record(anomalies: Anomalies, rows: ModelRows, defect: str) -> None:
    match defect:
        case "invalid_ean":
            anomalies.invalid_ean.append(rows.variants[0].gencod)
        case "negative_stock":
            first = rows.stock[0]
            anomalies.negative_stock.append((first.barcode, first.couleur, first.taille, first.codemag))
        case "zero_price":
            anomalies.zero_price.append((rows.product.barcode, "GROS"))
        case "missing_colour":
            anomalies.missing_colour.append(rows.variants[-1].produit)
        case "orphan_stock":
            anomalies.orphan_stock.append((ORPHAN_REFERENCE, "NOIR", "M"))


# --- customers ----------------------------------------------------------------------------------------------


def _customers(retailers: int, seed: int) -> tuple[list[Customer], list[DeliveryAddress]]:
    rng = random.Random(seed * 1_000_003 + 1)  # noqa: S311 - reproducible test data
    shop_names = [_elide(p.format(name=n)) for p in SHOP_PATTERNS for n in FIRST_NAMES]
    rng.shuffle(shop_names)
    customers: list[Customer] = []
    addresses: list[DeliveryAddress] = []
    day = date(2025, 1, 6)
    for number in range(retailers):
        company = shop_names[number % len(shop_names)]
        if number >= len(shop_names):
            company += f" {number // len(shop_names) + 1}"
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        iso, spellings, places = rng.choices(COUNTRIES, weights=(12, 4, 2, 1, 1))[0]
        zipcode, city = rng.choice(places)
        country = rng.choice(spellings)
        street = f"{rng.randint(1, 120)} {rng.choice(STREETS)}"
        line2 = rng.choice(ADDRESS_LINES_2)
        client = 2001 + number
        customers.append(
            Customer(
                Client=client,
                email=f"{_ascii_slug(first)}.{_ascii_slug(last)}@{_ascii_slug(company, '-')}.example",
                Nom=last,
                Prenom=first,
                Sexe="M" if first in ("Jérôme", "François", "Noël", "Loïc") else "F",
                Societe=company,
                Telephone=f"0{rng.randint(1, 9)} {rng.randint(10, 99)} {rng.randint(10, 99)} "
                f"{rng.randint(10, 99)} {rng.randint(10, 99)}",
                Adresse1=street,
                Adresse2=line2,
                codepostal=zipcode,
                Ville=city,
                Pays=country,
                TarifVente="GROS",
                TVAIntra=_vat(iso, rng),
                Famille="REVENDEUR",
                DateModif=f"{day + timedelta(days=number * 3)} {rng.randint(8, 18):02d}:{rng.randint(0, 59):02d}:00",
            )
        )
        contact = f"{first} {last}"
        addresses.append(DeliveryAddress(client, "PRINCIPALE", contact, company, street, line2, zipcode, city, country))
        for name in rng.sample(ADDRESS_NAMES, rng.randint(0, 2)):
            other_zip, other_city = rng.choice(places)
            addresses.append(
                DeliveryAddress(
                    client,
                    name,
                    contact,
                    company,
                    f"{rng.randint(1, 120)} {rng.choice(STREETS)}",
                    rng.choice(ADDRESS_LINES_2),
                    other_zip,
                    other_city,
                    country,
                )
            )
    # Web shoppers share the table; the customers query must leave them out (no company).
    for number in range(5):
        first, last = FIRST_NAMES[number], LAST_NAMES[number]
        customers.append(
            Customer(
                9001 + number,
                f"{_ascii_slug(first)}.{_ascii_slug(last)}@mail.example",
                last,
                first,
                "F",
                "",
                "06 12 34 56 78",
                "5 rue des Lilas",
                "",
                "75020",
                "Paris",
                "FRANCE",
                "PVC",
                "",
                "WEB",
                "2025-03-01 10:00:00",
            )
        )
    return customers, addresses


def build_seed(models: int = 150, retailers: int = 40, seed: int = 7, bad_rows: bool = True) -> Seed:
    products: list[Product] = []
    variants: list[Variant] = []
    stock: list[StockRow] = []
    prices: list[PriceRow] = []
    anomalies = Anomalies()
    bad_positions = _bad_positions(models) if bad_rows else {}
    for index, rows in enumerate(iter_catalogue(models, seed, bad_rows)):
        products.append(rows.product)
        variants.extend(rows.variants)
        stock.extend(rows.stock)
        prices.extend(rows.prices)
        for defect in bad_positions.get(index, ()):
            _record(anomalies, rows, defect)
    customers, addresses = _customers(retailers, seed)
    return Seed(seed, products, variants, stock, prices, customers, addresses, anomalies)


SEEDS = ("default", "clean")


def named_seed(name: str) -> Seed:
    """`default`: the catalogue with the defects a real one has (`bad_rows`); `clean`: the same without them,
    which the flows export whole (the readiness report of a synchronised clean sandbox is empty)."""
    if name not in SEEDS:
        raise ValueError(f"unknown seed {name!r}; seeds: {', '.join(SEEDS)}")
    return build_seed(bad_rows=name == "default")


def take_seed_option(argv: list[str]) -> tuple[list[str], str]:
    """`argv` without its `--seed NAME` (or `--seed=NAME`), and the name (`default` when not given)."""
    rest: list[str] = []
    name = "default"
    arguments = iter(argv)
    for argument in arguments:
        if argument == "--seed":
            name = next(arguments, "")
        elif argument.startswith("--seed="):
            name = argument.removeprefix("--seed=")
        else:
            rest.append(argument)
    if name not in SEEDS:
        raise SystemExit(f"--seed takes one of {', '.join(SEEDS)}, not {name!r}")
    return rest, name


# --- Le New Black orders --------------------------------------------------------------------------------------


def _iso_country(spelling: str) -> str:
    for iso, spellings, _ in COUNTRIES:
        if spelling in spellings:
            return iso
    return spelling


def _address(reference: str, row: Customer | DeliveryAddress, contact: str, email: str, vat: str) -> dict[str, Any]:
    return {
        "reference": reference,
        "company": row.Societe,
        "contact_name": contact,
        "contact_email": email,
        "address_1": row.Adresse1,
        "address_2": row.Adresse2,
        "zipcode": row.codepostal,
        "city": row.Ville,
        "country": _iso_country(row.Pays),
        "vat_number": vat,
    }


def lnb_orders(seed: Seed, count: int = 6, start_reference: int = 1001) -> list[dict[str, Any]]:
    """Le New Black orders in the `invoicing` status (lenewblack-api.md §2.10) for real retailers and
    sendable variants only; the second one's comment carries a `|` and a line break."""
    rng = random.Random(seed.seed * 7_919 + start_reference)  # noqa: S311 - reproducible test data
    retailers = seed.retailers()
    good = seed.good_variants()
    addresses: dict[int, list[DeliveryAddress]] = {}
    for address in seed.addresses:
        addresses.setdefault(address.Client, []).append(address)
    designations = {p.barcode: p.designation for p in seed.products}
    orders: list[dict[str, Any]] = []
    for offset in range(count):
        reference = start_reference + offset
        retailer = rng.choice(retailers)
        delivery = rng.choice(addresses[retailer.Client])
        contact = f"{retailer.Prenom} {retailer.Nom}"
        start = date(2026, 2, 2) + timedelta(weeks=rng.randint(0, 8))
        items: list[dict[str, Any]] = []
        total = 0.0
        for variant in rng.sample(good, min(len(good), rng.randint(1, 5))):
            price = seed.price(variant.barcode, variant.couleur, variant.taille, "GROS") or 0.0
            quantity, discount = rng.randint(1, 12), rng.choice((0, 0, 5, 10))
            total += price * quantity * (100 - discount) / 100
            items.append(
                {
                    "ean13": variant.gencod,
                    "sku": f"{variant.barcode}-{variant.couleur}-{variant.taille}",
                    "reference": variant.barcode,
                    "name": designations[variant.barcode],
                    "color": variant.couleur,
                    "size": variant.taille,
                    "quantity": quantity,
                    "unit_price": price,
                    "discount_rate": discount,
                }
            )
        orders.append(
            {
                "reference": reference,
                "purchase_order_reference": f"PO-{reference}",
                "status": "invoicing",
                "create_time": f"{start - timedelta(days=30)}T09:30:00+01:00",
                "retailer_reference": str(retailer.Client),
                "retailer_name": retailer.Societe,
                "buyer_email": retailer.email,
                "buyer_name": retailer.Nom,
                "buyer_first_name": retailer.Prenom,
                "price_list_code": "WHOLESALE-EUR",
                "billing_address": _address("FACTURATION", retailer, contact, retailer.email, retailer.TVAIntra),
                "delivery_address": _address(delivery.AdrLivraison, delivery, contact, retailer.email, ""),
                "comment": COMMENTS[offset % len(COMMENTS)],
                "delivery_start_on": start.isoformat(),
                "delivery_end_on": (start + timedelta(days=27)).isoformat(),
                "currency": "EUR",
                "amount_total": round(total, 2),
                "items": items,
            }
        )
    return orders
