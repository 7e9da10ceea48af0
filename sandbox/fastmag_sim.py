"""A stateful Fastmag EDI simulator (fastmag-api.md §6) on 127.0.0.1, for tests and `make run`.

EDIQUERY runs the connector's real SQL on SQLite and answers tab-separated text with a header row;
EDIWEBSRV parses order transactions with the same layout model as the client and answers `OK|n` /
`KO|message`; photos are served on the CDN path and on the photo page. Every behaviour the reference marks
as unknown is a switch (`Switches`), and the failures a real server shows are faults (`Faults`), both
plain attributes that tests set between calls.

    with FastmagSimulator(build_seed()) as sim:
        sim.faults.drop_after_commit = 1
        hold = sim.hold_next_write()  # the next write waits: hold.wait_reached(), then hold.release()
        ...  # point FastmagSettings.base_url at sim.url
"""

from __future__ import annotations

import contextlib
import hashlib
import random
import re
import socket
import sqlite3
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal, Self, cast
from urllib.parse import parse_qsl, unquote

from connector.fastmag.models import FastmagOrder
from connector.fastmag.queries import STOCK
from connector.fastmag.transaction import (
    OrderTransactionLayout,
    parse_order_header,
    parse_order_line,
    parse_order_transaction,
)
from connector.fastmag.wire import parse_line, split_transactions
from connector.settings import FastmagSettings, PhotoSource
from sandbox.background import BackgroundServer
from sandbox.credentials import SANDBOX_SECRET
from sandbox.seed import STORES, Seed, build_seed

# `fastmag.queries.stock_changed_since` for this simulator: the default stock query, for the variants with a row
# modified after `{since}`, with their latest modification time.
STOCK_CHANGED_SINCE_SQL = (
    str(STOCK.sql).replace("SUM(s.stock) AS quantity", "SUM(s.stock) AS quantity, MAX(s.modified) AS modified_at")
    + " HAVING MAX(s.modified) > {since}"
)

SCHEMA = """
CREATE TABLE produitsfiches (barcode TEXT PRIMARY KEY, designation TEXT, designation2 TEXT, marque TEXT,
    famille TEXT, sousfamille TEXT, rayon TEXT, saison TEXT, matiere TEXT, composition TEXT,
    description TEXT, actif INTEGER);
CREATE TABLE produits (produit INTEGER PRIMARY KEY, barcode TEXT, couleur TEXT, taille TEXT, gencod TEXT,
    ordretaille INTEGER);
CREATE INDEX produits_variant ON produits (barcode, couleur, taille);
CREATE INDEX produits_gencod ON produits (gencod);
CREATE TABLE stock (barcode TEXT, couleur TEXT, taille TEXT, codemag TEXT, stock REAL, AR INTEGER,
    modified TEXT DEFAULT (strftime('%Y-%m-%d %H:%M:%S', 'now')));
CREATE TABLE receptions_attente (produit INTEGER, quantite REAL, date_prevue TEXT);
-- Brand setups keep a modification time per stock row (the incremental stock read's watermark): any change of
-- a row's quantity, by the simulator or a test, stamps it with the database's clock, as Fastmag would.
CREATE TRIGGER stock_modified AFTER UPDATE OF stock, AR ON stock BEGIN
    UPDATE stock SET modified = strftime('%Y-%m-%d %H:%M:%S', 'now') WHERE rowid = NEW.rowid;
END;
CREATE TABLE tarifs (barcode TEXT, tarif TEXT, couleur TEXT, taille TEXT, prix REAL);
CREATE TABLE clients (Client INTEGER PRIMARY KEY, email TEXT, Nom TEXT, Prenom TEXT, Sexe TEXT, Societe TEXT,
    Telephone TEXT, Adresse1 TEXT, Adresse2 TEXT, codepostal TEXT, Ville TEXT, Pays TEXT, TarifVente TEXT,
    TVAIntra TEXT, Famille TEXT, DateModif TEXT);
CREATE TABLE clientadresse (Client INTEGER, AdrLivraison TEXT, Nom TEXT, Societe TEXT, Adresse1 TEXT,
    Adresse2 TEXT, codepostal TEXT, Ville TEXT, Pays TEXT);
CREATE TABLE commandes (Commande INTEGER PRIMARY KEY AUTOINCREMENT, RefExterne TEXT, Client TEXT,
    Magasin TEXT, Email TEXT, AdrLivraison TEXT, DateCommande TEXT, DateLivraisonDebut TEXT,
    DateLivraisonFin TEXT, MontantTotal REAL, QteTotale INTEGER, Commentaire TEXT, Statut INTEGER DEFAULT 100);
INSERT INTO sqlite_sequence (name, seq) VALUES ('commandes', 700000);
CREATE TABLE commandelignes (Commande INTEGER, Ligne INTEGER, Reference TEXT, Taille TEXT, Couleur TEXT,
    Designation TEXT, Gencod TEXT, PrixUnitaire REAL, Quantite INTEGER, Remise REAL, MontantLigne REAL);
"""
_READ_ACTIONS = frozenset(
    {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE}
)
_SELECT = re.compile(r"\s*(select|with)\b", re.IGNORECASE)
# A MySQL string literal: backslash escapes and doubled quotes (the client quotes for MySQL).
_MYSQL_LITERAL = re.compile(r"'((?:[^'\\]|\\.|'')*)'", re.DOTALL)
_MYSQL_ESCAPES = {"0": "\x00", "n": "\n", "r": "\r", "t": "\t", "b": "\b", "Z": "\x1a"}
_TSV_BREAKS = str.maketrans("\t\r\n", "   ")
type AnswerQuoting = Literal["raw", "quoted", "sprinkled"]
_HTTP_CHARSETS = {"cp1252": "windows-1252", "utf-8": "utf-8", "latin-1": "iso-8859-1"}


@dataclass
class Switches:
    """Wire behaviours the reference leaves open (fastmag-api.md §1); defaults match the client's."""

    charset: str = "cp1252"  # of answers
    request_charset: str = "cp1252"  # used to decode %-escapes in parameters
    line_ending: Literal["\r\n", "\n"] = "\r\n"
    answer_quoting: AnswerQuoting = "raw"  # how query answers wrap text: see `write_tsv`
    decimal_separator: Literal[".", ","] = "."
    user_parameter: Literal["any", "Compte", "Utilisateur"] = "any"
    query_methods: frozenset[str] = frozenset({"GET", "POST"})
    photos_per_colour: int = 3


class Hold:
    """A barrier for one write: the write waits, its body received and nothing stored, until `release()`.

    `reached` is set when the write gets there, so a test orders its steps without sleeping.
    """

    def __init__(self) -> None:
        self.reached = threading.Event()
        self.done = threading.Event()  # the held write was handled (stored or refused) after its release
        self._released = threading.Event()

    def wait_reached(self, timeout: float = 10.0) -> None:
        if not self.reached.wait(timeout):
            raise TimeoutError("no write reached the hold")

    def release(self) -> None:
        self._released.set()

    def release_and_wait(self, timeout: float = 10.0) -> None:
        self.release()
        if not self.done.wait(timeout):
            raise TimeoutError("the held write did not finish")

    def _hold(self, timeout: float = 30.0) -> None:
        self.reached.set()
        self._released.wait(timeout)


@dataclass
class Faults:
    """Failures to inject; each counter is consumed by the calls it affects."""

    latency_seconds: float = 0.0  # added to every call
    fail_next: int = 0  # the next N calls of any endpoint answer `fail_status` with an HTML page
    fail_status: int = 503
    drop_after_commit: int = 0  # the next N writes commit, then the connection is cut without an answer
    ko_next_write: str | None = None  # the next write is refused with this message, nothing committed
    malformed_next_query: bool = False  # the next query answers an HTML page with HTTP 200
    fail_next_write: int = 0  # the next N writes answer `fail_status` (HTML) after reading the body, storing nothing
    fail_after_commit: int = 0  # the next N writes store the order, then answer `fail_status` (HTML)
    ko_after_lines: int | None = None  # one transaction per call: lone lines after this many in an order are refused
    lookup_lag: int = 0  # an order stored is invisible to the next N queries (a lagging replica)
    holds: list[Hold] = field(default_factory=list)  # the next writes wait at these, in order
    # The next N queries first move stock, as shops selling while a paged read runs would (`churn_stock`): a read
    # in pages sees some variants before and others after the move, and must still see each variant once.
    churn_stock: int = 0


@dataclass(frozen=True)
class Recorded:
    endpoint: str
    method: str
    path: str
    parameter_names: tuple[str, ...]
    params: dict[str, str]  # names lower-cased, the password masked


@dataclass
class _Answer:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/plain"
    drop: bool = False


def write_tsv(
    header: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    charset: str = "cp1252",
    line_ending: str = "\r\n",
    quoting: AnswerQuoting = "raw",
    decimal_separator: str = ".",
) -> bytes:
    """An EDIQUERY answer; characters the charset lacks become `?`. Numbers and NULLs are never wrapped.

    - `raw`: values as they are, tabs, CRs and LFs inside a value turned into spaces (raw TSV cannot carry them).
    - `quoted`: CSV-style, the header and every text value wrapped in `"`, an inner `"` doubled, tabs and line
      breaks kept inside the quotes.
    - `sprinkled`: text values wrapped and inner quotes doubled but the header bare, tabs and line breaks
      turned into spaces (the shape that made live clients delete every `"`).
    """

    def wrap(value: str) -> str:
        return '"' + value.replace('"', '""') + '"'

    def text(value: Any) -> str:
        if type(value) is str:
            if quoting == "quoted":
                return wrap(value)
            cleaned = value.translate(_TSV_BREAKS)
            return wrap(cleaned) if quoting == "sprinkled" else cleaned
        if value is None:
            return ""
        if isinstance(value, float):
            formatted = f"{value:.6f}".rstrip("0").rstrip(".")
            return formatted.replace(".", decimal_separator)
        return str(value)

    lines = ["\t".join(map(wrap, header) if quoting == "quoted" else header)]
    lines.extend("\t".join(text(value) for value in row) for row in rows)
    return (line_ending.join(lines) + line_ending).encode(charset, errors="replace")


def mysql_to_sqlite(sql: str) -> str:
    def convert(match: re.Match[str]) -> str:
        body = re.sub(r"''", "'", match.group(1))
        body = re.sub(r"\\(.)", lambda m: _MYSQL_ESCAPES.get(m.group(1), m.group(1)), body, flags=re.DOTALL)
        return "'" + body.replace("'", "''") + "'"

    return _MYSQL_LITERAL.sub(convert, sql)


def photo_bytes(reference: str, colour: str, index: int, version: int = 0) -> bytes:
    """A small deterministic JPEG-looking payload, different for every slot and version."""
    digest = hashlib.sha256(f"{reference}|{colour}|{index}|{version}".encode()).digest()
    return b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + digest * 8 + b"\xff\xd9"


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up before its answer was written (a read timeout under test) is the client's doing:
        not printed as the simulator's error."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class FastmagSimulator:
    def __init__(
        self,
        seed: Seed | None = None,
        *,
        layout: OrderTransactionLayout | None = None,
        photos: PhotoSource | None = None,
        enseigne: str = FastmagSettings().enseigne,
        user: str = SANDBOX_SECRET["fastmag_user"],
        password: str = SANDBOX_SECRET["fastmag_password"],
        stores: Sequence[str] = STORES,
        port: int = 0,
    ) -> None:
        self.layout = layout or OrderTransactionLayout()
        self.photos = photos or PhotoSource()
        self.enseigne, self.user, self.password = enseigne, user, password
        self.stores = frozenset(stores)
        self.switches = Switches()
        self.faults = Faults()
        # Called before each EDIQUERY is answered: a test's hook runs a step (a barrier, a second delivery) there.
        self.before_query: Callable[[], None] | None = None
        self.calls: Counter[str] = Counter()
        self.requests: list[Recorded] = []
        self._lock = threading.RLock()
        self._idle = threading.Condition(self._lock)
        self._in_flight = 0
        self._db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        self._db.executescript(SCHEMA)
        self._load(seed if seed is not None else build_seed())
        self._photo_keys: set[tuple[str, str]] | None = None
        self._photo_overrides: dict[tuple[str, str, int], bytes | None] = {}
        self._photo_versions: Counter[tuple[str, str, int]] = Counter()
        self._port = port
        self._background: BackgroundServer | None = None
        self._lagging: dict[int, int] = {}  # order number → queries it stays invisible to
        self._churn = random.Random(11)  # noqa: S311 - a repeatable test fixture, not a secret
        self.churned: list[tuple[str, str, str]] = []  # the variants `churn_stock` moved, in order

    # --- lifecycle --------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._background is None:
            raise RuntimeError("the simulator is not started")
        return f"http://127.0.0.1:{self._background.port}"

    def start(self) -> Self:
        handler = type("Handler", (_Handler,), {"simulator": self})
        server = _Server(("127.0.0.1", self._port), handler)
        server.daemon_threads = True
        self._background = BackgroundServer(server, "fastmag-sim")
        return self

    def stop(self) -> None:
        if self._background is not None:
            self._background.stop()
            self._background = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    def settings(self, **wire: Any) -> FastmagSettings:
        """Client settings pointing at this simulator; keyword arguments override wire options."""
        base = FastmagSettings()
        return base.model_copy(
            update={
                "base_url": self.url,
                "enseigne": self.enseigne,
                "wire": base.wire.model_copy(update=wire),
                "order_transaction": self.layout,
                "photos": self.photos.model_copy(update={"cdn_base_url": self.url}),
            }
        )

    # --- state helpers for tests ------------------------------------------------------------------------

    def _load(self, seed: Seed) -> None:
        with self._lock:
            db = self._db
            db.execute("BEGIN")
            db.executemany(f"INSERT INTO produitsfiches VALUES ({_marks(12)})", seed.products)
            db.executemany(f"INSERT INTO produits VALUES ({_marks(6)})", seed.variants)
            db.executemany(
                f"INSERT INTO stock (barcode, couleur, taille, codemag, stock, AR) VALUES ({_marks(6)})", seed.stock
            )
            db.executemany(f"INSERT INTO tarifs VALUES ({_marks(5)})", seed.prices)
            db.executemany(f"INSERT INTO clients VALUES ({_marks(16)})", seed.customers)
            db.executemany(f"INSERT INTO clientadresse VALUES ({_marks(9)})", seed.addresses)
            db.execute("COMMIT")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run any SQL on the simulator's database (arrange a state, or inspect it)."""
        with self._lock:
            rows = self._db.execute(sql, params).fetchall()
            self._photo_keys = None
            return rows

    def churn_stock(self) -> list[tuple[str, str, str]]:
        """Move the stock of three variants (reference, colour, size), as sales and receptions do: one's quantity
        changes; one's rows are deleted and inserted again, last in the table (a reader by position would see
        every later row shift); one gets a new row in another store. The set of variants stays the same."""
        with self._lock:
            variants = self._db.execute(
                "SELECT DISTINCT barcode, couleur, taille FROM stock ORDER BY barcode, couleur, taille"
            ).fetchall()
            if not variants:
                return []
            changed, moved, added = (tuple(self._churn.choice(variants)) for _ in range(3))
            self._db.execute("BEGIN")
            self._db.execute(
                "UPDATE stock SET stock = stock + 3 WHERE rowid = (SELECT MIN(rowid) FROM stock "
                "WHERE barcode = ? AND couleur = ? AND taille = ?)",
                changed,
            )
            rows = self._db.execute(
                "SELECT barcode, couleur, taille, codemag, stock, AR FROM stock "
                "WHERE barcode = ? AND couleur = ? AND taille = ?",
                moved,
            ).fetchall()
            self._db.execute("DELETE FROM stock WHERE barcode = ? AND couleur = ? AND taille = ?", moved)
            self._db.executemany(
                f"INSERT INTO stock (barcode, couleur, taille, codemag, stock, AR) VALUES ({_marks(6)})", rows
            )
            store = sorted(self.stores)[self._churn.randrange(len(self.stores))]
            self._db.execute(
                "INSERT INTO stock (barcode, couleur, taille, codemag, stock, AR) VALUES (?, ?, ?, ?, 2, 1)",
                (*added, store),
            )
            self._db.execute("COMMIT")
            moves = [cast(tuple[str, str, str], variant) for variant in (changed, moved, added)]
            self.churned += moves
            return moves

    def orders(self) -> list[dict[str, Any]]:
        """Stored orders, oldest first, each with its `lines`."""
        with self._lock:
            orders = _dicts(self._db.execute("SELECT * FROM commandes ORDER BY Commande"))
            lines = _dicts(self._db.execute("SELECT * FROM commandelignes ORDER BY Commande, Ligne"))
        for order in orders:
            order["lines"] = [line for line in lines if line["Commande"] == order["Commande"]]
        return orders

    def fail_next(self, status: int = 503, times: int = 1) -> None:
        """The next `times` calls (any endpoint) answer HTTP `status` with an HTML page."""
        with self._lock:
            self.faults.fail_status, self.faults.fail_next = status, times

    def drop_after_commit(self, times: int = 1) -> None:
        """The next `times` writes commit, then the connection is cut without an answer."""
        with self._lock:
            self.faults.drop_after_commit = times

    def hold_next_write(self) -> Hold:
        """The next write not yet held waits at a barrier the test releases (see `Hold`)."""
        hold = Hold()
        with self._lock:
            self.faults.holds.append(hold)
        return hold

    def ko_next_write(self, message: str) -> None:
        with self._lock:
            self.faults.ko_next_write = message

    def replace_photo(self, reference: str, colour: str, index: int, data: bytes | None = None) -> bytes:
        """Give a photo slot new content (default: new deterministic bytes); returns what is now served."""
        key = (reference.lower(), colour.lower() or "_", index)
        self._photo_versions[key] += 1
        content = data or photo_bytes(*key, version=self._photo_versions[key])
        self._photo_overrides[key] = content
        return content

    def remove_photo(self, reference: str, colour: str, index: int) -> None:
        self._photo_overrides[(reference.lower(), colour.lower() or "_", index)] = None

    # --- request handling -------------------------------------------------------------------------------

    def handle(self, method: str, raw_path: str, body: bytes) -> _Answer:
        with self._lock:
            self._in_flight += 1
        try:
            return self._handle(method, raw_path, body)
        finally:
            with self._idle:
                self._in_flight -= 1
                self._idle.notify_all()

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Until no call is being handled (a write the client gave up on may still be storing its order)."""
        with self._idle:
            if not self._idle.wait_for(lambda: self._in_flight == 0, timeout):
                raise TimeoutError("the simulator is still handling calls")

    def _handle(self, method: str, raw_path: str, body: bytes) -> _Answer:
        path, _, query_string = raw_path.partition("?")
        pairs = parse_qsl(query_string, keep_blank_values=True, encoding=self.switches.request_charset)
        if method == "POST" and body:
            pairs += parse_qsl(body.decode("latin-1"), keep_blank_values=True, encoding=self.switches.request_charset)
        params = {name.lower(): value for name, value in pairs}
        endpoint = self._route(path)
        with self._lock:
            self.calls[endpoint] += 1
            masked = {k: ("***" if k == "motpasse" else v) for k, v in params.items()}
            self.requests.append(Recorded(endpoint, method, path, tuple(n for n, _ in pairs), masked))
            fail = self.faults.fail_next > 0
            if fail:
                self.faults.fail_next -= 1
        if self.faults.latency_seconds:
            time.sleep(self.faults.latency_seconds)
        if fail:
            return _Answer(self.faults.fail_status, b"<html><body>Service indisponible</body></html>", "text/html")
        match endpoint:
            case "query":
                if self.before_query is not None:
                    self.before_query()
                with self._lock:
                    churn = self.faults.churn_stock > 0
                    self.faults.churn_stock -= int(churn)
                if churn:
                    self.churn_stock()
                return self._query(method, params)
            case "write":
                return self._write(params)
            case "photo_endpoint":
                return self._photo_endpoint(params)
            case "photo_cdn":
                return self._photo_cdn(path)
        return _Answer(404, b"<html><body>Page introuvable</body></html>", "text/html")

    def _route(self, path: str) -> str:
        lowered = unquote(path).lower()
        if lowered == "/ediquery.ips":
            return "query"
        if lowered == "/ediwebsrv.ips":
            return "write"
        if lowered == self.photos.endpoint_path.lower():
            return "photo_endpoint"
        if lowered.startswith("/photos/"):
            return "photo_cdn"
        return "unknown"

    def _ko(self, message: str) -> _Answer:
        return _Answer(200, f"KO|{message}".encode(self.switches.charset, errors="replace"))

    def _refuse_credentials(self, params: dict[str, str]) -> _Answer | None:
        if self.switches.user_parameter == "any":
            user = params.get("compte", params.get("utilisateur"))
        else:
            user = params.get(self.switches.user_parameter.lower())
        if params.get("enseigne") != self.enseigne:
            return self._ko(f"Enseigne inconnue : {params.get('enseigne', '')}")
        if user != self.user or params.get("motpasse") != self.password:
            return self._ko("Identifiant ou mot de passe incorrect")
        if params.get("magasin") not in self.stores:
            return self._ko(f"Magasin inconnu : {params.get('magasin', '')}")
        return None

    def _query(self, method: str, params: dict[str, str]) -> _Answer:
        if method not in self.switches.query_methods:
            return _Answer(405, b"<html><body>M\xe9thode non autoris\xe9e</body></html>", "text/html")
        refused = self._refuse_credentials(params)
        if refused:
            return refused
        if self.faults.malformed_next_query:
            self.faults.malformed_next_query = False
            return _Answer(200, b"<html><body><h1>Erreur d'ex\xe9cution du script</h1></body></html>", "text/html")
        sql = params.get("data", "")
        if not _SELECT.match(sql):
            return self._ko("Seules les requêtes SELECT sont autorisées")
        with self._lock:
            lagging = self._hide_lagging_orders()
            self._db.set_authorizer(lambda action, *_: 0 if action in _READ_ACTIONS else 1)
            try:
                cursor = self._db.execute(mysql_to_sqlite(sql))
                header = [column[0] for column in cursor.description or ()]
                rows = cursor.fetchall()
            except sqlite3.Error as error:
                return self._ko(f"Erreur SQL : {error}")
            finally:
                self._db.set_authorizer(None)
                self._show_orders(lagging)
        switches = self.switches
        body = write_tsv(
            header,
            rows,
            charset=switches.charset,
            line_ending=switches.line_ending,
            quoting=switches.answer_quoting,
            decimal_separator=switches.decimal_separator,
        )
        return _Answer(200, body, f"text/plain; charset={_HTTP_CHARSETS.get(switches.charset, switches.charset)}")

    def _hide_lagging_orders(self) -> list[int]:
        """A lagging replica: orders stored less than `lookup_lag` queries ago are out of sight for this one."""
        hidden = [number for number, left in self._lagging.items() if left > 0]
        for number in hidden:
            self._lagging[number] -= 1
        self._db.executemany(
            "UPDATE commandes SET RefExterne = '(lagging) ' || RefExterne WHERE Commande = ?", [(n,) for n in hidden]
        )
        return hidden

    def _show_orders(self, hidden: list[int]) -> None:
        self._db.executemany(
            "UPDATE commandes SET RefExterne = substr(RefExterne, 11) WHERE Commande = ?", [(n,) for n in hidden]
        )

    def _html_error(self) -> _Answer:
        return _Answer(self.faults.fail_status, b"<html><body>Service indisponible</body></html>", "text/html")

    def _write_refused_before_storing(self, params: dict[str, str]) -> _Answer | None:
        """Credentials and the faults that store nothing, in the order a server meets them."""
        refused = self._refuse_credentials(params)
        if refused:
            return refused
        with self._lock:
            fail_before = self.faults.fail_next_write > 0
            self.faults.fail_next_write -= int(fail_before)
        if fail_before:
            return self._html_error()
        if self.faults.ko_next_write is not None:
            message, self.faults.ko_next_write = self.faults.ko_next_write, None
            return self._ko(message)
        return None

    def _write(self, params: dict[str, str]) -> _Answer:
        with self._lock:
            hold = self.faults.holds.pop(0) if self.faults.holds else None
        if hold is None:
            return self._handle_write(params)
        hold._hold()
        try:
            return self._handle_write(params)
        finally:
            hold.done.set()

    def _handle_write(self, params: dict[str, str]) -> _Answer:
        refused = self._write_refused_before_storing(params)
        if refused:
            return refused
        groups: list[list[str]] = []
        for line in split_transactions(params.get("data", "")):
            fields = parse_line(line)
            if fields[0] != self.layout.keyword:
                return self._ko(f"Transaction inconnue : {fields[0]}")
            if (len(fields) > 1 and fields[1] == self.layout.header_marker) or not groups:
                groups.append([line])
            else:
                groups[-1].append(line)
        if not groups:
            return self._ko("Aucune transaction")
        answers = [self._store(group) for group in groups]
        body = self.switches.line_ending.join(answers).encode(self.switches.charset, errors="replace")
        with self._lock:
            committed = any(a.startswith("OK") for a in answers)
            drop = self.faults.drop_after_commit > 0 and committed
            self.faults.drop_after_commit -= int(drop)
            fail_after = self.faults.fail_after_commit > 0 and committed and not drop
            self.faults.fail_after_commit -= int(fail_after)
        if fail_after:
            return self._html_error()
        return _Answer(200, body, drop=drop)

    def _store(self, group: list[str]) -> str:
        """One order transaction (header and lines, or a lone line sent on its own): `OK…` or `KO|…`."""
        layout = self.layout
        try:
            if parse_line(group[0])[1:2] != [layout.header_marker]:
                return self._store_lone_lines(group)
            if len(group) == 1:
                header = parse_order_header(group[0], layout)
                return self._insert(header.model_dump(exclude={"stated_total_quantity"}), [])
            order = parse_order_transaction(group, layout)
        except ValueError as error:
            return f"KO|Transaction invalide : {_first_line(error)}"
        return self._insert_order(order)

    def _insert_order(self, order: FastmagOrder) -> str:
        with self._lock:
            missing = [
                f"{line.reference}/{line.colour}/{line.size}"
                for line in order.lines
                if not self._db.execute(
                    "SELECT 1 FROM produits WHERE barcode = ? AND couleur = ? AND taille = ?",
                    (line.reference, line.colour, line.size),
                ).fetchone()
            ]
            if missing:
                return f"KO|Article inconnu : {', '.join(missing)}"
            header = order.model_dump(exclude={"lines", "total_quantity"})
            header["stated_total_amount"] = header.pop("total_amount")
            return self._insert(header, [line.model_dump() for line in order.lines])

    def _insert(self, header: dict[str, Any], lines: list[dict[str, Any]]) -> str:
        with self._lock:
            if not self._db.execute("SELECT 1 FROM clients WHERE Client = ?", (header["customer_id"],)).fetchone():
                return f"KO|Client inconnu : {header['customer_id']}"
            self._db.execute("BEGIN")
            cursor = self._db.execute(
                "INSERT INTO commandes (RefExterne, Client, Magasin, Email, AdrLivraison, DateCommande, "
                "DateLivraisonDebut, DateLivraisonFin, MontantTotal, QteTotale, Commentaire) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    header["external_reference"],
                    header["customer_id"],
                    header["store"],
                    header["email"],
                    header["delivery_address_name"],
                    _iso(header["order_date"]),
                    _iso(header["delivery_start"]),
                    _iso(header["delivery_end"]),
                    _float(header["stated_total_amount"]),
                    sum(line["quantity"] for line in lines),
                    header["comment"],
                ),
            )
            number = int(cursor.lastrowid or 0)
            for position, line in enumerate(lines, start=1):
                self._insert_line(number, position, line)
            self._db.execute("COMMIT")
            if self.faults.lookup_lag:
                self._lagging[number] = self.faults.lookup_lag
        return f"OK|{number}"

    def _insert_line(self, number: int, position: int, line: dict[str, Any]) -> None:
        self._db.execute(
            "INSERT INTO commandelignes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                number,
                position,
                line["reference"],
                line["size"],
                line["colour"],
                line["designation"],
                line["ean13"],
                float(line["unit_price"]),
                line["quantity"],
                float(line["discount_rate"]),
                float(line["line_amount"]),
            ),
        )

    def _store_lone_lines(self, group: list[str]) -> str:
        """Lines posted one per call (`transactions_per_call = "one"`) join the order named on them,
        or the latest order when the layout does not carry the external reference."""
        with self._lock:
            for raw in group:
                parsed = parse_order_line(raw, self.layout)
                if parsed.external_reference:
                    found = self._db.execute(
                        "SELECT MAX(Commande) FROM commandes WHERE RefExterne = ?", (parsed.external_reference,)
                    ).fetchone()
                else:
                    found = self._db.execute("SELECT MAX(Commande) FROM commandes").fetchone()
                if not found or found[0] is None:
                    return f"KO|Commande inconnue : {parsed.external_reference or ''}"
                number = int(found[0])
                (count,) = self._db.execute(
                    "SELECT COUNT(*) FROM commandelignes WHERE Commande = ?", (number,)
                ).fetchone()
                if self.faults.ko_after_lines is not None and count >= self.faults.ko_after_lines:
                    return f"KO|Ligne refusée : {parsed.line.reference}"
                self._insert_line(number, count + 1, parsed.line.model_dump())
                self._db.execute(
                    "UPDATE commandes SET QteTotale = QteTotale + ? WHERE Commande = ?",
                    (parsed.line.quantity, number),
                )
        return "OK"

    def _photo_content(self, reference: str, colour: str, index: int) -> bytes | None:
        key = (reference, colour, index)
        if key in self._photo_overrides:
            return self._photo_overrides[key]
        with self._lock:
            if self._photo_keys is None:
                # Lower-cased in Python: SQLite's lower() leaves accented letters (ROSE POUDRÉ) as they are.
                rows = self._db.execute("SELECT DISTINCT barcode, couleur FROM produits")
                self._photo_keys = {(ref.lower(), (col or "").lower() or "_") for ref, col in rows}
            known = (reference, colour) in self._photo_keys
        if known and 1 <= index <= self.switches.photos_per_colour:
            return photo_bytes(reference, colour, index)
        return None

    def _photo_answer(self, reference: str, colour: str, index: str) -> _Answer:
        if not index.isdigit():
            return _Answer(404, b"", "text/html")
        content = self._photo_content(reference.lower(), colour.lower() or "_", int(index))
        if content is None:
            return _Answer(404, b"<html><body>Not Found</body></html>", "text/html")
        return _Answer(200, content, "image/jpeg")

    def _photo_cdn(self, path: str) -> _Answer:
        parts = [unquote(part) for part in path.strip("/").split("/")]
        if len(parts) != 7 or parts[1] != self.photos.cdn_account or parts[6] != "photo.jpg":
            return _Answer(404, b"<html><body>Not Found</body></html>", "text/html")
        return self._photo_answer(parts[3], parts[4], parts[5])

    def _photo_endpoint(self, params: dict[str, str]) -> _Answer:
        refused = self._refuse_credentials(params)
        if refused:
            return refused
        photos = self.photos
        return self._photo_answer(
            params.get(photos.endpoint_product_parameter.lower(), ""),
            params.get(photos.endpoint_colour_parameter.lower(), ""),
            params.get(photos.endpoint_index_parameter.lower(), ""),
        )


class _Handler(BaseHTTPRequestHandler):
    simulator: FastmagSimulator
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes; no 40 ms delayed-ACK stall

    def do_GET(self) -> None:
        self._answer("GET")

    def do_POST(self) -> None:
        self._answer("POST")

    def _answer(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        answer = self.simulator.handle(method, self.path, body)
        if answer.drop:
            # The commit happened; the client must see a cut connection, not an answer.
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        self.wfile.write(answer.body)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request stderr line; tests read `simulator.requests` instead."""


def _marks(count: int) -> str:
    return ", ".join("?" * count)


def _dicts(cursor: sqlite3.Cursor) -> list[dict[str, Any]]:
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _float(value: Any) -> float | None:
    return float(value) if value is not None else None


def _first_line(error: Exception) -> str:
    return str(error).splitlines()[0] if str(error) else type(error).__name__
