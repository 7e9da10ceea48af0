"""Explain one key: from the Fastmag rows behind it to what Le New Black holds now, and why they differ.

One service per kind of key, each built on the flows' own reads and mapping (never a copy of them), so what it
says the connector would send is what the flow sends:

- an EAN13 or SKU: the stock rows behind it per configured store (real and pending), the buffer, the
  available-to-sell computed now (`stock.available_to_sell`), the last value pushed (the stock snapshot), the
  value LNB holds now (read live), whether its product, its colour's images and its prices are in LNB;
- an order reference: the ledger entry and its history, the LNB status now, what Fastmag's lookup finds now;
- a retailer reference: the Fastmag customer → the payload the connector would send (`customers.map_retailers`)
  → the LNB retailer now, field by field (reconcile's comparison projection);
- a model: the product payload now (`products.map_products`) against what LNB holds, field by field.

Nothing is written to either side. The kind is given, or inferred in that order: 13 digits with a valid check
digit is an EAN13; a reference the ledger knows is an order; a Fastmag customer id a retailer; a Fastmag
reference a model; a variant's SKU a SKU; a variant's EAN13 with a bad check digit an EAN13. Anything else is
KeyNotFound.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from functools import cached_property
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, Field

from connector.config import load_settings
from connector.ean import is_valid_ean13
from connector.errors import ConnectorError, FastmagError, LeNewBlackError
from connector.fastmag.reads import FastmagReads, ProductRow, StockRow, Unreadable
from connector.flows.customers import map_retailers
from connector.flows.incoming_stock import expected_receptions
from connector.flows.products import map_products
from connector.flows.reconcile_projections import PRODUCTS, RETAILERS, Projection
from connector.flows.source import sku_of, text, variant_label
from connector.flows.stock import Entry, available_to_sell
from connector.keys import InvalidKey, KeyEvent, searchable_key
from connector.lenewblack.reads import IMAGE_SLOTS, LeNewBlackReads
from connector.observability import logger
from connector.runs import RunRecord, RunStatus
from connector.services import Services, services_for

# The function that answers the export API's explain requests: it holds the credentials and reads both sides.
EXPLAINING_FLOW = "readiness"
RECENT_STOCK_RUNS = 5  # stock runs read for the last one that ended (its status explains a value not pushed)


class KeyKind(StrEnum):
    EAN = "ean"
    SKU = "sku"
    ORDER = "order"
    RETAILER = "retailer"
    MODEL = "model"


class KeyNotFound(ConnectorError):
    """No EAN13, SKU, order, retailer or model of that key on either side."""


class Difference(BaseModel):
    """One field where LNB holds something else than the connector would send."""

    field: str
    connector: Any = Field(description="what the connector would send now")
    lnb: Any = Field(description="what Le New Black holds now (null: absent)")


class Explanation(BaseModel):
    """What is known about one key, in sections (each a mapping of facts), with the differences and the
    findings (sentences: what differs and why, when known)."""

    key: str
    kind: KeyKind
    findings: list[str] = Field(default_factory=list)
    sections: dict[str, Any] = Field(default_factory=dict)
    differences: list[Difference] = Field(default_factory=list)
    events: list[KeyEvent] | None = Field(default=None, description="recent events (null: ask /keys/{key}/history)")


class ExplainRequest(BaseModel):
    """What the export API asks the function that holds the credentials (`{"explain": {...}}`)."""

    key: str
    kind: KeyKind | None = None


class ExplainAnswer(BaseModel):
    """That function's answer: an HTTP status, and the explanation (200) or what is wrong (otherwise)."""

    status: int
    explanation: Explanation | None = None
    message: str | None = None


type History = Callable[[str], list[KeyEvent]]


def differences(projection: Projection, payload: Mapping[str, Any], held: Mapping[str, Any] | None) -> list[Difference]:
    """Field by field through reconcile's projection (only what the connector sends is compared)."""
    if held is None:
        return [Difference(field="(record)", connector=projection.project(payload), lnb=None)]
    changes = projection.differences(payload, held)
    return [Difference(field=path, connector=new, lnb=old) for path, (old, new) in changes.items()]


class KeyExplainer:
    """Explains keys against one Fastmag and one LNB account (reads are made once per explainer)."""

    def __init__(self, services: Services, history: History | None = None) -> None:
        self._services = services
        self._settings = services.settings
        self._reads = FastmagReads(services.fastmag, services.settings)
        self._lnb = LeNewBlackReads(services.lnb)
        self._history = history
        self._events: dict[str, list[KeyEvent]] = {}

    # --- what is read once ----------------------------------------------------------------------------------

    @cached_property
    def _stock_rows(self) -> list[StockRow]:
        stock = self._settings.stock
        return self._reads.stock_rows(stock.stores, stock.real_stock_only)

    @cached_property
    def _catalogue(self) -> list[ProductRow]:
        return self._reads.catalogue_rows()

    def _lnb_one(self, path: str) -> dict[str, Any] | None:
        """One LNB record by its brand key, None when LNB answers 404."""
        try:
            body = self._services.lnb.get(path)
        except LeNewBlackError as error:
            if error.http_status == 404:
                return None
            raise
        return body if isinstance(body, dict) else None

    def _stock_key(self, row: Mapping[str, Any]) -> str:
        return text(row, "ean13") if self._settings.stock.key == "ean13" else sku_of(self._settings, row)

    # --- kinds ----------------------------------------------------------------------------------------------

    def kind_of(self, key: str) -> KeyKind:
        """The kind of `key`, inferred (see the module docstring); KeyNotFound when nothing has it."""
        if len(key) == 13 and key.isdigit() and is_valid_ean13(key):
            return KeyKind.EAN
        if self._services.ledger.get(key) is not None:
            return KeyKind.ORDER
        if any(text(row, "customer_id") == key for row in self._reads.customers()):
            return KeyKind.RETAILER
        if any(text(row, "reference") == key for row in self._catalogue):
            return KeyKind.MODEL
        if any(sku_of(self._settings, row) == key for row in (*self._catalogue, *self._stock_rows)):
            return KeyKind.SKU
        if any(text(row, "ean13") == key for row in (*self._catalogue, *self._stock_rows)):
            return KeyKind.EAN  # an EAN13 Fastmag holds with a bad check digit: explained with its reason
        raise KeyNotFound(f"{key}: no EAN13, SKU, order, retailer or model has this key")

    def explain(self, key: str, kind: KeyKind | None = None) -> Explanation:
        key = searchable_key(key)
        kind = kind or self.kind_of(key)
        explanation = Explanation(key=key, kind=kind)
        match kind:
            case KeyKind.EAN | KeyKind.SKU:
                self._variant(explanation)
            case KeyKind.ORDER:
                self._order(explanation)
            case KeyKind.RETAILER:
                self._retailer(explanation)
            case KeyKind.MODEL:
                self._model(explanation)
        if self._history is not None:
            explanation.events = self._recent(key)
        return explanation

    def _recent(self, key: str) -> list[KeyEvent]:
        """The key's recent events, read once (a Logs Insights query takes seconds)."""
        if self._history is None:
            return []
        if key not in self._events:
            self._events[key] = self._history(key)
        return self._events[key]

    # --- an EAN13 or SKU --------------------------------------------------------------------------------------

    def _variant_rows(self, key: str, kind: KeyKind) -> tuple[list[StockRow], list[ProductRow]]:
        def names(row: Mapping[str, Any]) -> bool:
            return text(row, "ean13") == key if kind == KeyKind.EAN else sku_of(self._settings, row) == key

        return [row for row in self._stock_rows if names(row)], [row for row in self._catalogue if names(row)]

    def _variant(self, explanation: Explanation) -> None:
        key, settings = explanation.key, self._settings
        stock_rows, product_rows = self._variant_rows(key, explanation.kind)
        if not stock_rows and not product_rows:
            raise KeyNotFound(f"{key}: no Fastmag variant has this {explanation.kind.value}")
        stock_key = self._stock_key((stock_rows or product_rows)[0])
        variant_ids = sorted({text(row, "variant_id") for row in stock_rows if text(row, "variant_id")})
        levels = available_to_sell(self._stock_rows, settings)
        now = levels.quantities.get(stock_key)
        skipped = [skip.reason for skip in (*levels.skipped, *levels.warnings) if skip.key == stock_key]
        explanation.sections["fastmag"] = {
            "variants": [variant_label(row) for row in (stock_rows or product_rows)],
            "stock key": f"{settings.stock.key} {stock_key}",
            "stores counted": list(settings.stock.stores),
            "real stock only": settings.stock.real_stock_only,
            "per store": self._per_store(variant_ids),
            "safety buffer": settings.stock.safety_buffer,
            "available to sell now": now,
            **({"not sent as read": skipped} if skipped else {}),
            **self._incoming(variant_ids),
        }
        pushed = self._services.snapshots.load(f"stock-{settings.stock.key}").entries.get(stock_key)
        last_pushed = Entry.parse(pushed).quantity if pushed else None
        held = self._lnb_one(f"/inventory/{'ean' if settings.stock.key == 'ean13' else 'sku'}/{quote(stock_key, '')}")
        lnb_value = held.get("in_stock") if held else None
        last_run = self._last_stock_run()
        explanation.sections["le new black"] = {
            "last value pushed": last_pushed,
            **({"last pushed at": at} if (at := self._last_sent_at(stock_key)) else {}),
            "value held now": lnb_value,
            **({"held since": held.get("in_stock_update_time")} if held and held.get("in_stock_update_time") else {}),
            **({"last stock run": f"{last_run.run_id} {last_run.status}"} if last_run else {}),
        }
        explanation.findings += self._stock_findings(now, last_pushed, lnb_value, last_run, skipped)
        if product_rows:
            self._catalogue_presence(explanation, product_rows[0])

    def _per_store(self, variant_ids: list[str]) -> dict[str, dict[str, Any]]:
        """Real and pending stock of the variant in each configured store: the stock query per store, with and
        without the real-stock filter (the pending part is the difference)."""
        result: dict[str, dict[str, Any]] = {}
        for store in self._settings.stock.stores:
            real = self._quantity(self._reads.stock_rows([store], True), variant_ids)
            every = self._quantity(self._reads.stock_rows([store], False), variant_ids)
            pending = every - real if not isinstance(every, str) and not isinstance(real, str) else None
            result[store] = {"real": real, "pending": pending}
        return result

    @staticmethod
    def _quantity(rows: list[StockRow], variant_ids: list[str]) -> int | Decimal | str:
        """The variant's summed quantity in `rows` (0 when absent), or why it cannot be read."""
        total: int | Decimal = 0
        for row in rows:
            if text(row, "variant_id") in variant_ids:
                value = row.get("quantity")
                if isinstance(value, Unreadable):
                    return f"unreadable ({value.text})"
                total += value or 0
        return total

    def _incoming(self, variant_ids: list[str]) -> dict[str, Any]:
        if not self._settings.fastmag.queries.incoming_stock:
            return {}
        incoming = expected_receptions(
            self._reads.incoming_stock(), self._settings.stock.incoming, datetime.now(UTC).date()
        )
        found = [incoming.by_variant[v] for v in variant_ids if v in incoming.by_variant]
        return {"incoming": [f"{item.quantity} on {item.expected.isoformat()}" for item in found]}

    def _last_stock_run(self) -> RunRecord | None:
        runs, _ = self._services.runs.list("stock", limit=RECENT_STOCK_RUNS)
        return next((run for run in runs if run.finished_at and not run.preview), None)

    def _last_sent_at(self, key: str) -> str | None:
        if self._history is None:
            return None
        sent = [event for event in self._recent(key) if event.flow == "stock" and event.event == "record.sent"]
        return sent[0].at if sent else None

    @staticmethod
    def _stock_findings(
        now: int | None, pushed: int | None, lnb: Any, last_run: RunRecord | None, skipped: list[str]
    ) -> list[str]:
        findings = [f"Fastmag's row is not sent as read: {reason}" for reason in skipped]
        if now is not None and lnb == now:
            return [*findings, f"Le New Black holds {lnb}, as Fastmag gives now"]
        shown = "nothing" if lnb is None else lnb
        findings.append(f"Le New Black holds {shown}; Fastmag gives {now if now is not None else 'no quantity'} now")
        if last_run is not None and last_run.status == RunStatus.HELD:
            findings.append(f"the last stock run {last_run.run_id} was held: {last_run.message}")
        elif last_run is not None and last_run.status == RunStatus.FAILED:
            findings.append(f"the last stock run {last_run.run_id} failed: {last_run.message}")
        elif pushed is not None and pushed == now:
            findings.append(
                f"the connector last pushed {pushed}: Le New Black changed it since (an order, an edit in LNB); "
                "a full stock push or a reconcile repair sends it again"
            )
        elif pushed != now:
            findings.append("the change is not pushed yet: the next stock run sends it")
        return findings

    def _catalogue_presence(self, explanation: Explanation, row: ProductRow) -> None:
        """Whether the variant's product, its colour's images and its prices are in LNB."""
        model = text(row, "reference")
        export = map_products(self._catalogue, self._settings)
        payload = export.products.get(model)
        variant = next(
            (
                v
                for v in (payload or {}).get("variants", [])
                if any(s.get("ean13") == text(row, "ean13") for s in v["skus"])
            ),
            None,
        )
        held = self._lnb_one(f"/products/{quote(model, '')}")
        section: dict[str, Any] = {"model": model, "product in le new black": held is not None}
        if payload is None:
            reasons = [skip.reason for skip in export.skipped if skip.key == model]
            section["not exported"] = reasons or ["left out by products.seasons or products.active_only"]
        if variant is not None:
            code = variant["fabric_code"]
            section["fabric code"] = code
            held_variant = next((v for v in (held or {}).get("variants", []) if v.get("fabric_code") == code), None)
            images = sum(1 for i in range(1, IMAGE_SLOTS + 1) if (held_variant or {}).get(f"image_{i}_url"))
            section["colour in le new black"] = held_variant is not None
            section["images in le new black"] = images
            prices = self._lnb.reconcile_variant_prices(model, code) if held_variant is not None else []
            section["price lists in le new black"] = sorted({str(p.get("price_list_code")) for p in prices})
            if held_variant is not None and not images:
                explanation.findings.append(f"colour {code} of {model} has no image in Le New Black")
            if held_variant is not None and not prices:
                explanation.findings.append(f"colour {code} of {model} has no price in Le New Black")
        if held is None:
            explanation.findings.append(f"product {model} is not in Le New Black: export products first")
        explanation.sections["catalogue"] = section

    # --- an order ---------------------------------------------------------------------------------------------

    def _order(self, explanation: Explanation) -> None:
        key = explanation.key
        entry = self._services.ledger.get(key)
        held = self._lnb_one(f"/orders/{quote(key, '')}")
        if entry is None and held is None:
            raise KeyNotFound(f"order {key} is neither in the ledger nor in Le New Black")
        found = self._reads.orders_by_reference([key])
        explanation.sections["ledger"] = (
            entry.model_dump(mode="json", exclude_none=True) if entry else {"status": "never seen by the connector"}
        )
        explanation.sections["le new black"] = (
            {
                "status": held.get("status"),
                "retailer": held.get("retailer_reference"),
                "updated": held.get("update_time"),
            }
            if held
            else {"status": "not in Le New Black"}
        )
        explanation.sections["fastmag lookup"] = (
            {"found": True, "fastmag number": found[0].get("fastmag_number")} if found else {"found": False}
        )
        if entry is not None:
            explanation.findings.append(f"ledger: {entry.status}" + (f" ({entry.reason})" if entry.reason else ""))
        if found and (entry is None or entry.fastmag_number != found[0].get("fastmag_number")):
            explanation.findings.append(
                f"Fastmag holds it as {found[0].get('fastmag_number')}; the ledger says "
                f"{entry.fastmag_number if entry else 'nothing'}"
            )

    # --- a retailer -------------------------------------------------------------------------------------------

    def _retailer(self, explanation: Explanation) -> None:
        key = explanation.key
        customers = [row for row in self._reads.customers() if text(row, "customer_id") == key]
        held = self._lnb_one(f"/retailers/{quote(key, '')}")
        if not customers and held is None:
            raise KeyNotFound(f"retailer {key} is neither a Fastmag customer nor in Le New Black")
        addresses = [row for row in self._reads.addresses() if text(row, "customer_id") == key]
        buyers = [row for row in self._reads.extra_buyers() if text(row, "customer_id") == key]
        explanation.sections["fastmag"] = dict(customers[0]) if customers else {"customer": "not in Fastmag"}
        retailers = map_retailers(customers, addresses, buyers, self._settings)
        retailer = retailers.items.get(key)
        skips = [skip.reason for skip in retailers.skipped if skip.key == key]
        if retailer is None:
            reason = "; ".join(skips) or "left out by customers.families"
            explanation.findings.append(f"the connector does not send it: {reason}" if customers else "not in Fastmag")
        else:
            payload = retailer.payload()
            explanation.sections["connector payload"] = payload
            explanation.differences = differences(RETAILERS, payload, held)
        explanation.sections["le new black"] = held if held is not None else {"retailer": "not in Le New Black"}
        self._difference_findings(explanation, held, "retailer")

    # --- a model ----------------------------------------------------------------------------------------------

    def _model(self, explanation: Explanation) -> None:
        key = explanation.key
        rows = [row for row in self._catalogue if text(row, "reference") == key]
        held = self._lnb_one(f"/products/{quote(key, '')}")
        if not rows and held is None:
            raise KeyNotFound(f"model {key} is neither in Fastmag nor in Le New Black")
        export = map_products(rows, self._settings)
        payload = export.products.get(key)
        explanation.sections["fastmag"] = {"variants": [variant_label(row) for row in rows]}
        if payload is None:
            reasons = [skip.reason for skip in export.skipped if skip.key == key]
            explanation.findings.append(
                "the connector does not send it: "
                + ("; ".join(reasons) or ("not in Fastmag" if not rows else "left out by the products settings"))
            )
        else:
            explanation.sections["connector payload"] = payload
            explanation.differences = differences(PRODUCTS, payload, held)
        explanation.sections["le new black"] = held if held is not None else {"product": "not in Le New Black"}
        self._difference_findings(explanation, held, "product")

    @staticmethod
    def _difference_findings(explanation: Explanation, held: Mapping[str, Any] | None, what: str) -> None:
        if "connector payload" not in explanation.sections:
            return
        if held is None:
            explanation.findings.append(f"the {what} is not in Le New Black: the next export sends it")
        elif explanation.differences:
            fields = ", ".join(difference.field for difference in explanation.differences)
            explanation.findings.append(f"Le New Black differs on {fields}: the next full export sends them")
        else:
            explanation.findings.append(f"Le New Black holds the {what} as the connector would send it")


def answer(request: ExplainRequest, services: Services) -> ExplainAnswer:
    """A request explained, or why not: 404 unknown key, 422 a key no record can have, 502 a side unreadable
    (its answer goes to the log: the caller learns which side to check)."""
    try:
        return ExplainAnswer(status=200, explanation=KeyExplainer(services).explain(request.key, request.kind))
    except KeyNotFound as error:
        return ExplainAnswer(status=404, message=str(error))
    except InvalidKey as error:
        return ExplainAnswer(status=422, message=str(error))
    except (FastmagError, LeNewBlackError) as error:
        logger.warning(f"explain {request.key}: {error}", extra={"event": "explain.failed", "key": request.key})
        side = "Fastmag" if isinstance(error, FastmagError) else "Le New Black"
        return ExplainAnswer(status=502, message=f"{side} could not be read: try again, or run connector check")


def handle_explain(event: dict[str, Any]) -> dict[str, Any]:
    """The body of a function's synchronous explain request (the export API's `GET /keys/{key}`): the API holds
    no credentials, so the function that reads both sides answers it."""
    request = ExplainRequest.model_validate(event["explain"])
    return answer(request, services_for(*load_settings())).model_dump(mode="json", exclude_none=True)
