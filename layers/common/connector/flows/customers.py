"""Customers: Fastmag B2B customers → LNB `/multi/retailers`, with addresses, price list and buyers.

read (customers, their delivery addresses, optional extra contacts) → map (one retailer per customer,
keyed by the Fastmag customer id that orders come back with; a customer that cannot be sent whole is
skipped with every reason found; one without an email is sent without buyers, unless
`customers.require_buyer`) → diff (against what LNB last accepted) → send (only what changed) → record.

A retailer LNB refuses only for some of its buyers (every field error under `buyers…`) is sent again in the
same run without them. The snapshot remembers each refused buyer by the digest of its data, so the next runs
send the retailer as LNB accepted it, and a buyer is tried again once its data changes (or on a full run).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from pydantic import ValidationError

from connector.countries import iso_country
from connector.errors import describe
from connector.flows.context import FlowContext
from connector.flows.source import Skip, text
from connector.flows.sync import Outgoing, record_skips, synchronise
from connector.lenewblack.models import Address, Buyer, ItemOutcome, Retailer
from connector.observability import log_record
from connector.settings import Settings
from connector.state import Snapshot, digest

RESOURCE = "retailers"
SNAPSHOT = "customers"
# Stricter than LNB's own check: a dotted domain of letters, digits and hyphens, no spaces or commas.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_EMAIL = re.compile(rf"[A-Za-z0-9.!#$%&'*+/=?^_`{{|}}~-]+@{_LABEL}(?:\.{_LABEL})+")
# LNB's field errors about one buyer: `buyers.0.email`, `buyers[0].email`, `buyers.0`; `buyers` alone names all.
_BUYER_FIELD = re.compile(r"buyers(?:\.(\d+)|\[(\d+)\])?(?:$|[.\[])")
# Snapshot key of a buyer LNB refused: the retailer's reference, then the digest of the buyer's data (no email).
_REFUSED = "{reference}#refused-buyer#{buyer}"
NO_BUYERS = "no buyer email: the customer has no email address; sent without buyers"

type Row = Mapping[str, object]


@dataclass
class Retailers:
    """The retailers ready to send, by reference, the customers skipped (one per key), and the retailers sent
    but not whole (e.g. without buyers), by reference, with why."""

    items: dict[str, Retailer] = field(default_factory=dict)
    warnings: dict[str, str] = field(default_factory=dict)
    read: int = 0
    _skips: dict[str, Skip] = field(default_factory=dict)

    @property
    def skipped(self) -> list[Skip]:
        return list(self._skips.values())

    def skip(self, key: str, reason: str) -> None:
        """Skip `key` with `reason` (a later reason for the same key replaces the earlier one)."""
        self._skips[key] = Skip(key, reason)

    def was_skipped(self, key: str) -> bool:
        return key in self._skips


def _optional(row: Row, name: str) -> str | None:
    return text(row, name) or None


def is_valid_email(email: str) -> bool:
    return bool(_EMAIL.fullmatch(email))


def _country(row: Row, settings: Settings, where: str, problems: list[str]) -> str | None:
    spelled = text(row, "country")
    if not spelled:
        if settings.customers.default_country:
            return settings.customers.default_country
        problems.append(f"no country on the {where}")
        return None
    code = iso_country(spelled)
    if code is None:
        problems.append(f"unknown country {spelled!r} on the {where}: use an ISO-2 code or a known country name")
    return code


def _main_address(customer: Row, company: str, country: str, reference: str) -> Address:
    """The customer record's own address (store and billing), with its VAT number."""
    contact = " ".join(part for part in (text(customer, "first_name"), text(customer, "last_name")) if part)
    return Address(
        reference=reference,
        company=company,
        country=country,
        contact_name=contact or None,
        contact_email=_optional(customer, "email"),
        tel=_optional(customer, "phone"),
        address_1=_optional(customer, "address_1"),
        address_2=_optional(customer, "address_2"),
        zipcode=_optional(customer, "zipcode"),
        city=_optional(customer, "city"),
        vat_number=_optional(customer, "vat_number"),
    )


def _delivery_countries(rows: Sequence[Row], settings: Settings, problems: list[str]) -> dict[str, tuple[str, Row]]:
    """The named delivery addresses by name, with their ISO-2 country; a nameless or doubled name is a problem."""
    by_name: dict[str, tuple[str, Row]] = {}
    for row in rows:
        name = text(row, "name")
        if not name:
            problems.append("a delivery address has no name")
        elif name in by_name:
            problems.append(f"two delivery addresses are named {name!r}")
        elif country := _country(row, settings, f"delivery address {name!r}", problems):
            by_name[name] = (country, row)
    return by_name


def _delivery_address(name: str, country: str, row: Row, company: str) -> Address:
    return Address(
        reference=name,
        company=text(row, "company") or company,
        country=country,
        contact_name=_optional(row, "contact_name"),
        address_1=_optional(row, "address_1"),
        address_2=_optional(row, "address_2"),
        zipcode=_optional(row, "zipcode"),
        city=_optional(row, "city"),
    )


def _buyers(customer: Row, extra_rows: Sequence[Row], settings: Settings, problems: list[str]) -> list[Buyer]:
    """The customer's contact, then the extra contacts; LNB matches buyers by email, so one per email.

    LNB takes a retailer without buyers, so a customer without an email is still sent, unless the settings
    require a buyer."""
    buyers: dict[str, Buyer] = {}
    email = text(customer, "email")
    if not email:
        if settings.customers.require_buyer:
            problems.append("no buyer email: the customer has no email address (customers.require_buyer)")
    elif not is_valid_email(email):
        problems.append("the customer's email is not a valid email address")
    else:
        buyers[email.casefold()] = Buyer(
            email=email, first_name=_optional(customer, "first_name"), last_name=_optional(customer, "last_name")
        )
    for number, row in enumerate(extra_rows, start=1):
        extra = text(row, "email")
        if not extra:
            problems.append(f"extra buyer {number} has no email address")
        elif not is_valid_email(extra):
            problems.append(f"extra buyer {number}'s email is not a valid email address")
        elif extra.casefold() not in buyers:
            buyers[extra.casefold()] = Buyer(
                email=extra, first_name=_optional(row, "first_name"), last_name=_optional(row, "last_name")
            )
    return list(buyers.values())


def _price_list(customer: Row, settings: Settings, problems: list[str]) -> str:
    tariff = text(customer, "tariff") or settings.customers.default_tariff
    if not tariff:
        problems.append("no tariff on the customer (and no customers.default_tariff)")
        return ""
    code = settings.tariff_price_lists.get(tariff)
    if not code:
        problems.append(
            f"tariff {tariff!r} maps to no price list: add it to tariff_price_lists "
            "(the price list must exist in Le New Black)"
        )
        return ""
    return code


def retailer_from(
    customer: Row, addresses: Sequence[Row], extra_buyers: Sequence[Row], settings: Settings
) -> Retailer | list[str]:
    """Pure mapping of one customer: the whole retailer, or every reason it cannot be sent."""
    problems: list[str] = []
    company = text(customer, "company")
    if not company:
        problems.append("no company name on the customer")
    price_list_code = _price_list(customer, settings, problems)
    country = _country(customer, settings, "customer's main address", problems)
    delivery = _delivery_countries(addresses, settings, problems)
    try:
        buyers = _buyers(customer, extra_buyers, settings, problems)
        if problems or country is None:
            return problems
        names = settings.customers
        store = _main_address(customer, company, country, names.main_address_name)
        # Without a named delivery address, goods go to the main address.
        delivery_addresses = [
            _delivery_address(name, *delivery[name], company)
            # The main address first, then by name: a stable order keeps an unchanged customer's digest.
            for name in sorted(delivery, key=lambda name: (name != names.main_address_name, name))
        ] or [store]
        return Retailer(
            reference=text(customer, "customer_id"),
            name=company,
            company=company,
            price_list_code=price_list_code,
            store_address=store,
            billing_address=_main_address(customer, company, country, names.billing_address_reference),
            delivery_addresses=delivery_addresses,
            buyers=buyers or None,
        )
    except ValidationError as error:
        return [*problems, describe(error, root="retailer")]


def _by_customer(rows: Iterable[Row]) -> dict[str, list[Row]]:
    grouped: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        grouped[text(row, "customer_id")].append(row)
    return grouped


def map_retailers(
    customers: Iterable[Row],
    addresses: Iterable[Row],
    extra_buyers: Iterable[Row],
    settings: Settings,
) -> Retailers:
    """Every B2B customer maps to a retailer or is skipped with a reason; nothing raises."""
    families = set(settings.customers.families)
    address_rows = _by_customer(addresses)
    buyer_rows = _by_customer(extra_buyers)
    result = Retailers()
    for number, customer in enumerate(customers, start=1):
        if families and text(customer, "family") not in families:
            continue
        result.read += 1
        reference = text(customer, "customer_id")
        if not reference:
            result.skip(f"customer row {number}", "the customer has no id (Client)")
            continue
        if reference in result.items or result.was_skipped(reference):
            result.skip(reference, f"customer {reference} appears more than once in the customers query")
            result.items.pop(reference, None)
            result.warnings.pop(reference, None)
            continue
        mapped = retailer_from(customer, address_rows.get(reference, []), buyer_rows.get(reference, []), settings)
        if isinstance(mapped, Retailer):
            result.items[reference] = mapped
            if not mapped.buyers:
                result.warnings[reference] = NO_BUYERS
        else:
            result.skip(reference, "; ".join(mapped))
    return result


def refused_buyers(outcome: ItemOutcome, buyer_count: int) -> dict[int, str] | None:
    """The positions of the buyers LNB refused, each with its reason, when every field error is about buyers;
    None when something else is wrong too (the retailer is then rejected whole). `buyers` alone names all."""
    refused: dict[int, list[str]] = {}
    for name, messages in outcome.errors.items():
        match = _BUYER_FIELD.match(name)
        if match is None:
            return None
        number = match.group(1) or match.group(2)
        positions = [int(number)] if number else list(range(buyer_count))
        for position in positions:
            if position >= buyer_count:
                return None
            refused.setdefault(position, []).extend(f"{name}: {message}" for message in messages)
    return {position: "; ".join(reasons) for position, reasons in sorted(refused.items())} or None


class RefusedBuyers:
    """Buyers LNB refused, remembered in the customers snapshot by the digest of their data (never the email)."""

    def __init__(self, ctx: FlowContext, snapshot: Snapshot) -> None:
        self._ctx = ctx
        self._snapshot = snapshot
        self._retry_all = ctx.run.request.full
        self._seen: set[str] = set()
        # Retailers whose refused buyers are withheld: most runs have none, and then no buyer is digested.
        self._withholding = {
            key.rpartition("#refused-buyer#")[0] for key in snapshot.entries if "#refused-buyer#" in key
        }

    @staticmethod
    def _key(reference: str, buyer: dict[str, object]) -> str:
        return _REFUSED.format(reference=reference, buyer=digest(buyer))

    def payload(self, reference: str, retailer: Retailer) -> dict[str, object]:
        """The retailer as LNB last accepted it: without the buyers it refused while their data is unchanged."""
        payload = retailer.payload()
        buyers: list[dict[str, object]] = payload.get("buyers") or []
        if self._retry_all or reference not in self._withholding:
            return _with_buyers(payload, buyers)
        kept = []
        for buyer in buyers:
            key = self._key(reference, buyer)
            if key in self._snapshot.entries:
                self._seen.add(key)
            else:
                kept.append(buyer)
        return _with_buyers(payload, kept)

    def forget_stale(self) -> None:
        """A refused buyer whose data changed, or that was sent again, is no longer withheld."""
        for key in [key for key in self._snapshot.entries if "#refused-buyer#" in key and key not in self._seen]:
            self._snapshot.forget(key)

    def resend(self, item: Outgoing, outcome: ItemOutcome) -> Outgoing | None:
        """LNB refused only buyers: report each, remember it, and send the retailer again without them."""
        buyers: list[dict[str, object]] = item.payload.get("buyers") or []
        refused = refused_buyers(outcome, len(buyers))
        if refused is None:
            return None
        for position, reason in refused.items():
            buyer = buyers[position]
            self._snapshot.accept(self._key(item.key, buyer), "refused")
            self._seen.add(self._key(item.key, buyer))
            self._ctx.run.problem(f"buyer refused by Le New Black: {_field_free(reason)}")
            log_record(
                "buyer.refused",
                item.key,
                reason=f"buyer refused by Le New Black, retailer sent without it: {reason}",
                level="WARNING",
                buyer=buyer.get("email"),
                http_status=outcome.http_status,
            )
        kept = [buyer for position, buyer in enumerate(buyers) if position not in refused]
        return Outgoing(item.key, _with_buyers(item.payload, kept), item.log_fields)


def _with_buyers(payload: dict[str, object], buyers: list[dict[str, object]]) -> dict[str, object]:
    rest = {name: value for name, value in payload.items() if name != "buyers"}
    return {**rest, "buyers": buyers} if buyers else rest


def _field_free(reason: str) -> str:
    # The run summary groups like with like: `buyers.0.email: x is taken` and `buyers.1.email: …` are one reason.
    return re.sub(r"buyers(?:\.|\[)?\d+\]?", "buyers", reason)


def run(ctx: FlowContext) -> None:
    reads = ctx.reads
    retailers = map_retailers(reads.customers(), reads.addresses(), reads.extra_buyers(), ctx.settings)
    ctx.run.count("read", retailers.read)
    record_skips(ctx, retailers.skipped)
    for key, reason in retailers.warnings.items():
        ctx.run.warned(key, reason)

    snapshot = ctx.snapshots.load(SNAPSHOT)
    refused = RefusedBuyers(ctx, snapshot)
    items = [
        Outgoing(reference, refused.payload(reference, retailer), {"what": retailer.name})
        for reference, retailer in retailers.items.items()
    ]
    refused.forget_stale()
    synchronise(ctx, RESOURCE, items, snapshot, resend=refused.resend)
