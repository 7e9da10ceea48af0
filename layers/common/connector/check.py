"""`connector check`: is this configuration right? One line per check, each `ok`, `failed` or `unknown`.

Both endpoints with the given credentials; every configured Fastmag query with its required columns and the
shape of its answer; the orders lookup against an order the integrator knows Fastmag holds; and, for what Le
New Black's API cannot list (price lists, order statuses), what the last runs' refusals say. The last report is
kept in the state table (`CHECK#last`) for the status page.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from connector.check_report import CheckLine, CheckReport, CheckState
from connector.errors import ConnectorError
from connector.fastmag.queries import QUERIES, REAL_STOCK_FILTER, Query
from connector.fastmag.sql import Raw, Value, render
from connector.fastmag.wire import answer_is_quoted, decode
from connector.flows.prices import tariffs_to_read
from connector.flows.refusals import price_list_refusals, refusals_in_last_runs
from connector.observability import shorten
from connector.runs import RunStore

if TYPE_CHECKING:
    from connector.fastmag.client import FastmagClient
    from connector.services import Services
    from connector.settings import Settings

LOGIN_QUERY = "SELECT 1 AS ok"
PROBE = "connector-check-probe"  # a value no lookup finds: the answer's header still shows its columns
SAMPLE = 20  # values from one answer fed to the lookup that follows it


def _line(name: str, state: CheckState, detail: str) -> CheckLine:
    return CheckLine(name=name, state=state, detail=" ".join(shorten(detail).split()))


def _decimal_separators(rows: Iterable[Mapping[str, str]], contract: Query) -> str:
    aliases = [column.alias for column in contract.columns if column.type == "decimal"]
    if not aliases:
        return ""
    seen = {mark for row in rows for alias in aliases for mark in ",." if mark in row.get(alias, "")}
    return f"; decimal separator {' and '.join(sorted(seen)) if seen else 'none seen'}"


def _shape(settings: Settings, body: bytes) -> str:
    quoting = settings.fastmag.wire.quoting
    if quoting != "auto":
        return f"quoting {quoting} (set)"
    quoted = answer_is_quoted(decode(body, settings.fastmag.wire.charset))
    return "quoting auto: " + ("quoted" if quoted else "raw")


class _Fastmag:
    """The Fastmag checks, in an order where each lookup is fed values the previous reads found."""

    def __init__(self, client: FastmagClient, settings: Settings) -> None:
        self._client = client
        self._settings = settings
        self.samples: dict[str, list[str]] = {}

    def login(self) -> CheckLine:
        try:
            self._client.query(LOGIN_QUERY, required_columns=("ok",))
        except ConnectorError as error:
            return _line("fastmag login", CheckState.FAILED, str(error))
        base = self._settings.fastmag
        return _line("fastmag login", CheckState.OK, f"{base.base_url} as enseigne {base.enseigne}/{base.magasin}")

    def _parameters(self, name: str, known_order: str | None) -> dict[str, Value]:
        settings = self._settings
        stock_filter = REAL_STOCK_FILTER if settings.stock.real_stock_only else ""
        by_name: dict[str, Callable[[], dict[str, Value]]] = {
            "prices": lambda: {"tariffs": tariffs_to_read(settings)},
            "stock": lambda: {"stores": list(settings.stock.stores), "real_stock_filter": Raw(stock_filter)},
            "variants_by_ean": lambda: {"eans": self.samples.get("ean13") or [PROBE]},
            "customers_by_id": lambda: {"customers": self.samples.get("customer_id") or [PROBE]},
            "orders_by_reference": lambda: {"references": [known_order or PROBE]},
        }
        return by_name[name]() if name in by_name else {}

    def _contract(self, query: Query) -> Query:
        settings = self._settings
        if query.name == "customers" and settings.customers.families:
            return query.requiring("family")
        if query.name == "orders_by_reference" and settings.fastmag.wire.transactions_per_call == "one":
            return query.requiring("line_count")
        return query

    def query(self, query: Query, known_order: str | None) -> tuple[CheckLine, list[dict[str, str]]]:
        name = f"query {query.name}"
        sql = getattr(self._settings.fastmag.queries, query.name)
        if not sql:
            return _line(name, CheckState.OK, "not configured: this read is off"), []
        contract = self._contract(query)
        try:
            answer = self._client.answer(render(sql, **self._parameters(query.name, known_order)), contract=contract)
        except (ConnectorError, ValueError) as error:
            return _line(name, CheckState.FAILED, str(error)), []
        if not answer.body.strip():
            return _line(name, CheckState.UNKNOWN, "empty answer, no header: its columns could not be seen"), []
        for alias in ("ean13", "customer_id"):
            if query.name in {"stock", "customers"} and alias in contract.required:
                self.samples.setdefault(alias, [row[alias] for row in answer.rows if row.get(alias)][:SAMPLE])
        detail = (
            f"{len(answer.rows)} rows, required columns present ({', '.join(contract.required)}); "
            f"{_shape(self._settings, answer.body)}{_decimal_separators(answer.rows, contract)}"
        )
        return _line(name, CheckState.OK, detail), answer.rows


def _lookup_line(known_order: str | None, rows: list[dict[str, str]] | None) -> CheckLine:
    name = "orders lookup"
    if known_order is None:
        return _line(name, CheckState.UNKNOWN, "give --known-order REF (an LNB order Fastmag holds) to prove it")
    if rows is None:
        return _line(name, CheckState.FAILED, "the orders_by_reference query did not run (see its line)")
    found = [row for row in rows if row.get("external_reference") == known_order]
    if not found:
        return _line(
            name,
            CheckState.FAILED,
            f"does not find {known_order}: an order written by the connector would be written again; "
            "fix fastmag.queries.orders_by_reference (or the reference)",
        )
    number = found[0].get("fastmag_number") or "?"
    return _line(name, CheckState.OK, f"finds {known_order} as Fastmag order {number}")


def _unlistable(runs: RunStore | None, name: str, refusals: Mapping[str, re.Pattern[str]]) -> CheckLine:
    """A value LNB cannot list: failed when the last runs were refused over it, otherwise what can be said."""
    flows = tuple(refusals)
    if runs is None:
        return _line(name, CheckState.UNKNOWN, "cannot be verified through the API (no run records here)")
    try:
        named, read = refusals_in_last_runs(runs, refusals)
    except (BotoCoreError, ClientError) as error:  # no AWS state where the CLI runs: say so, check the rest
        return _line(name, CheckState.UNKNOWN, f"cannot be verified through the API (run records unreadable: {error})")
    if named:
        return _line(name, CheckState.FAILED, f"refused by Le New Black in the last run: {named[0]}")
    since = f"no refusal naming it in the last {' and '.join(read)}" if read else f"no {' or '.join(flows)} run yet"
    return _line(name, CheckState.UNKNOWN, f"cannot be verified through the API; {since}")


def _cutoff_line(settings: Settings) -> CheckLine:
    name = "orders cut-off"
    rules = settings.orders
    if not rules.cutoff_set:
        return _line(name, CheckState.UNKNOWN, "orders.not_before not set: every orders run is held until it is")
    if rules.not_before is None:
        return _line(name, CheckState.OK, "null: every order waiting in Le New Black is taken")
    return _line(name, CheckState.OK, f"orders placed before {rules.not_before.isoformat()} are ignored")


def run_checks(services: Services, *, known_order: str | None = None, runs: RunStore | None = None) -> CheckReport:
    """Every check, in order; nothing is written to Fastmag or Le New Black."""
    settings = services.settings
    fastmag = _Fastmag(services.fastmag, settings)
    lines = [fastmag.login()]
    try:
        services.lnb.authenticate()
    except ConnectorError as error:
        lines.append(_line("lenewblack token", CheckState.FAILED, str(error)))
    else:
        lines.append(_line("lenewblack token", CheckState.OK, f"{settings.lenewblack.base_url} gave a token"))
    lookup_rows: list[dict[str, str]] | None = None
    for query in QUERIES.values():
        if lines[0].state == CheckState.FAILED:
            lines.append(_line(f"query {query.name}", CheckState.FAILED, "not run: Fastmag login failed"))
            continue
        line, rows = fastmag.query(query, known_order)
        lines.append(line)
        if query.name == "orders_by_reference" and line.state == CheckState.OK:
            lookup_rows = rows
    lines.append(_lookup_line(known_order, lookup_rows))
    for code in sorted(set(settings.tariff_price_lists.values())):
        lines.append(_unlistable(runs, f"price list {code}", price_list_refusals(code)))
    statuses = settings.lenewblack.order_statuses
    for role, value in statuses.model_dump().items():
        move = re.compile(re.escape(f"could not set Le New Black status {value}:"))
        lines.append(_unlistable(runs, f"order status {role} ({value})", {"orders": move}))
    lines.append(_cutoff_line(settings))
    return CheckReport(checked_at=datetime.now(UTC).isoformat(timespec="seconds"), lines=tuple(lines))
