"""Country names and codes as a Fastmag customer file spells them → ISO 3166-1 alpha-2.

Fastmag keeps the country as free text (`FRANCE`, `France`, `FR`, `Belgique`, `Deutschland`…); Le New
Black wants ISO-2 on every address. Spellings are compared without accents, case, punctuation or spaces, so
`Espagne`, `ESPAGNE` and `españa` meet; anything not in the table is unknown rather than guessed.
"""

from __future__ import annotations

import re
import unicodedata

# ISO-2 → ISO-3 and names in French, English, the country's own languages, German, Spanish and Italian.
# EU member states, then the other countries a European brand commonly sells to.
_NAMES: dict[str, tuple[str, ...]] = {
    "AT": ("AUT", "Autriche", "Austria", "Österreich", "Osterreich"),
    "BE": ("BEL", "Belgique", "Belgium", "België", "Belgien", "Bélgica", "Belgio"),
    "BG": ("BGR", "Bulgarie", "Bulgaria", "България", "Bulgarien"),
    "HR": ("HRV", "Croatie", "Croatia", "Hrvatska", "Kroatien", "Croacia", "Croazia"),
    "CY": ("CYP", "Chypre", "Cyprus", "Κύπρος", "Zypern", "Chipre", "Cipro"),
    "CZ": ("CZE", "République tchèque", "Tchéquie", "Czech Republic", "Czechia", "Česko", "Tschechien"),
    "DK": ("DNK", "Danemark", "Denmark", "Danmark", "Dänemark", "Dinamarca", "Danimarca"),
    "EE": ("EST", "Estonie", "Estonia", "Eesti", "Estland"),
    "FI": ("FIN", "Finlande", "Finland", "Suomi", "Finnland", "Finlandia"),
    "FR": ("FRA", "France", "Frankreich", "Francia", "France métropolitaine"),
    "DE": ("DEU", "Allemagne", "Germany", "Deutschland", "Alemania", "Germania"),
    "GR": ("GRC", "Grèce", "Greece", "Ελλάδα", "Hellas", "Griechenland", "Grecia"),
    "HU": ("HUN", "Hongrie", "Hungary", "Magyarország", "Ungarn", "Hungría", "Ungheria"),
    "IE": ("IRL", "Irlande", "Ireland", "Éire", "Irland", "Irlanda"),
    "IT": ("ITA", "Italie", "Italy", "Italia", "Italien"),
    "LV": ("LVA", "Lettonie", "Latvia", "Latvija", "Lettland", "Letonia", "Lettonia"),
    "LT": ("LTU", "Lituanie", "Lithuania", "Lietuva", "Litauen", "Lituania"),
    "LU": ("LUX", "Luxembourg", "Lëtzebuerg", "Luxemburg", "Luxemburgo", "Lussemburgo"),
    "MT": ("MLT", "Malte", "Malta"),
    "NL": ("NLD", "Pays-Bas", "Netherlands", "Nederland", "Holland", "Hollande", "Niederlande", "Países Bajos"),
    "PL": ("POL", "Pologne", "Poland", "Polska", "Polen", "Polonia"),
    "PT": ("PRT", "Portugal", "Portogallo"),
    "RO": ("ROU", "Roumanie", "Romania", "România", "Rumänien", "Rumanía"),
    "SK": ("SVK", "Slovaquie", "Slovakia", "Slovensko", "Slowakei", "Eslovaquia", "Slovacchia"),
    "SI": ("SVN", "Slovénie", "Slovenia", "Slovenija", "Slowenien", "Eslovenia"),
    "ES": ("ESP", "Espagne", "Spain", "España", "Spanien", "Spagna"),
    "SE": ("SWE", "Suède", "Sweden", "Sverige", "Schweden", "Suecia", "Svezia"),
    "GB": (
        "GBR",
        "UK",
        "Royaume-Uni",
        "Royaume Uni",
        "United Kingdom",
        "Great Britain",
        "Grande-Bretagne",
        "Angleterre",
        "England",
        "Vereinigtes Königreich",
        "Reino Unido",
        "Regno Unito",
    ),
    "CH": ("CHE", "Suisse", "Switzerland", "Schweiz", "Svizzera", "Suiza"),
    "NO": ("NOR", "Norvège", "Norway", "Norge", "Norwegen", "Noruega", "Norvegia"),
    "IS": ("ISL", "Islande", "Iceland", "Ísland", "Island", "Islandia"),
    "LI": ("LIE", "Liechtenstein"),
    "MC": ("MCO", "Monaco", "Principauté de Monaco"),
    "AD": ("AND", "Andorre", "Andorra"),
    "US": (
        "USA",
        "États-Unis",
        "Etats-Unis d'Amérique",
        "United States",
        "United States of America",
        "Vereinigte Staaten",
    ),
    "CA": ("CAN", "Canada", "Kanada"),
    "JP": ("JPN", "Japon", "Japan", "Giappone", "日本"),
}

_SEPARATORS = re.compile(r"[\s\-_.,'’()/]+")


def _fold(text: str) -> str:
    """`  Royaume-Uni ` → `ROYAUMEUNI`: no accents, case, spaces or punctuation."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(char for char in decomposed if not unicodedata.combining(char))
    return _SEPARATORS.sub("", bare).upper()


_INDEX: dict[str, str] = {_fold(spelling): iso for iso, spellings in _NAMES.items() for spelling in (iso, *spellings)}

KNOWN_CODES = frozenset(_NAMES)


def iso_country(text: str) -> str | None:
    """The ISO-2 code of a country name or code, or None when the spelling is not known."""
    folded = _fold(text)
    return _INDEX.get(folded) if folded else None
