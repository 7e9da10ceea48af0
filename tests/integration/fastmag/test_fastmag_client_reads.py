"""The client's reads against every wire variant the simulator can play (fastmag-api.md §1)."""

from __future__ import annotations

import gzip
import http.server
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

import pytest

from connector.errors import FastmagError, FastmagTransportError
from connector.fastmag.client import FastmagClient
from connector.fastmag.queries import PRODUCTS
from connector.fastmag.queries import QUERIES as CONTRACTS
from connector.fastmag.sql import Raw, render
from connector.fastmag.wire import parse_decimal
from connector.settings import FastmagQueries, FastmagSettings
from sandbox.fastmag_sim import AnswerQuoting, FastmagSimulator
from sandbox.seed import Seed
from tests.conftest import TaskLog
from tests.integration.fastmag.conftest import PASSWORD, USER, MakeClient

pytestmark = pytest.mark.integration

QUERIES = FastmagQueries()
VALUES = {
    "stores": ["CENTRAL", "WEB"],
    "tariffs": ["GROS", "PVC"],
    "real_stock_filter": Raw("AND s.AR = 1"),
}


def designation_of(client: FastmagClient, reference: str) -> str:
    rows = client.query(render("SELECT designation FROM produitsfiches WHERE barcode = {r}", r=reference))
    return rows[0]["designation"]


def test_every_default_query_runs_unchanged_on_the_simulator(
    make_client: MakeClient, sim: FastmagSimulator, seed: Seed
) -> None:
    client = make_client()
    variant = seed.good_variants()[0]
    sim.execute("INSERT INTO commandes (RefExterne, Client) VALUES ('1001', '2001')")
    values = {
        **VALUES,
        "eans": [variant.gencod],
        "customers": [str(seed.customers[0].Client)],
        "references": ["1001"],
    }
    for query in CONTRACTS.values():
        if query.sql is None:
            continue
        rows = client.query(render(query.sql, **values), contract=query)
        assert rows, query.name
        # The default SQL gives every column its contract declares, optional ones included.
        assert set(rows[0]) == {column.alias for column in query.columns}, query.name
    retailers = client.query(QUERIES.customers)
    assert {row["customer_id"] for row in retailers} == {str(c.Client) for c in seed.retailers()}


def test_windows_1252_answer_with_accents(make_client: MakeClient, sim: FastmagSimulator) -> None:
    sim.execute("UPDATE produitsfiches SET designation = 'Pull d''hiver côtelé – œuvre' WHERE barcode = 'PU2301'")
    assert designation_of(make_client(), "PU2301") == "Pull d'hiver côtelé – œuvre"


def test_accents_in_the_sql_travel_in_the_request_charset(make_client: MakeClient, sim: FastmagSimulator) -> None:
    sim.execute("UPDATE produitsfiches SET designation = 'Écharpe rosée' WHERE barcode = 'FO2301'")
    rows = make_client().query(render("SELECT barcode FROM produitsfiches WHERE designation = {d}", d="Écharpe rosée"))
    assert rows == [{"barcode": "FO2301"}]


def test_utf8_switch(make_client: MakeClient, sim: FastmagSimulator) -> None:
    sim.execute("UPDATE produitsfiches SET designation = 'Zoë ★ étoile' WHERE barcode = 'CH2301'")
    assert designation_of(make_client(), "CH2301") == "Zoë ? étoile"  # cp1252 has no ★
    sim.switches.charset = "utf-8"
    assert designation_of(make_client(charset="utf-8"), "CH2301") == "Zoë ★ étoile"


@pytest.mark.parametrize("shape", ["raw", "quoted", "sprinkled"])
def test_every_answer_shape_is_read_exactly_with_quoting_auto(
    make_client: MakeClient, sim: FastmagSimulator, shape: AnswerQuoting
) -> None:
    sim.switches.answer_quoting = shape
    sim.execute("UPDATE produitsfiches SET designation = 'Jean \"Brut\"\tDélavé\r\n32\"' WHERE barcode = 'PU2301'")
    flattened = shape != "quoted"  # raw and sprinkled answers cannot carry a tab or a line break
    expected = 'Jean "Brut" Délavé  32"' if flattened else 'Jean "Brut"\tDélavé\r\n32"'
    assert designation_of(make_client(), "PU2301") == expected
    if shape == "sprinkled":
        assert designation_of(make_client(quoting="none"), "PU2301") == '"Jean ""Brut"" Délavé  32"""'
        assert designation_of(make_client(quoting="strip"), "PU2301") == "Jean Brut Délavé  32"
    if shape == "quoted":  # read raw, the quoted tab shifts the row: refused rather than misread
        for setting in ("none", "strip"):
            with pytest.raises(FastmagError, match="row 2 has 2 values for 1 columns"):
                designation_of(make_client(quoting=setting), "PU2301")


def test_decimal_commas(make_client: MakeClient, sim: FastmagSimulator, seed: Seed) -> None:
    sim.switches.decimal_separator = ","
    price = next(p for p in seed.prices if p.tarif == "GROS" and not p.couleur and not p.taille and p.prix % 1)
    rows = make_client().query(
        render(
            "SELECT prix FROM tarifs WHERE barcode = {r} AND tarif = 'GROS' AND couleur = '' AND taille = ''",
            r=price.barcode,
        )
    )
    assert "," in rows[0]["prix"]
    assert parse_decimal(rows[0]["prix"]) == Decimal(str(price.prix))
    with pytest.raises(ValueError, match="uses ','"):
        parse_decimal(rows[0]["prix"], ".")


def test_lf_line_endings(make_client: MakeClient, sim: FastmagSimulator, seed: Seed) -> None:
    client = make_client()
    crlf = client.query(QUERIES.customers)
    sim.switches.line_ending = "\n"
    assert client.query(QUERIES.customers) == crlf
    assert len(crlf) == len(seed.retailers())


def test_get_and_post(make_client: MakeClient, sim: FastmagSimulator) -> None:
    assert make_client(query_method="GET").query("SELECT 1 AS one") == [{"one": "1"}]
    assert sim.requests[-1].method == "GET"
    assert make_client().query("SELECT 1 AS one") == [{"one": "1"}]
    assert sim.requests[-1].method == "POST"
    sim.switches.query_methods = frozenset({"POST"})
    with pytest.raises(FastmagTransportError, match="405"):
        make_client(query_method="GET").query("SELECT 1 AS one")


def test_compte_or_utilisateur_and_name_case(make_client: MakeClient, sim: FastmagSimulator) -> None:
    make_client().query("SELECT 1 AS one")
    assert sim.requests[-1].parameter_names == ("Enseigne", "Magasin", "Compte", "MotPasse", "data")
    sim.switches.user_parameter = "Utilisateur"
    with pytest.raises(FastmagError) as refused:
        make_client().query("SELECT 1 AS one")
    assert refused.value.remote_message == "Identifiant ou mot de passe incorrect"
    assert make_client(user_parameter="Utilisateur", parameter_case="lower").query("SELECT 1 AS one")
    assert sim.requests[-1].parameter_names == ("enseigne", "magasin", "utilisateur", "motpasse", "data")


def test_ko_answers_are_errors_with_the_remote_message(make_client: MakeClient) -> None:
    with pytest.raises(FastmagError) as bad_password:
        make_client(password="wrong").query("SELECT 1 AS one")
    assert bad_password.value.remote_message == "Identifiant ou mot de passe incorrect"
    with pytest.raises(FastmagError) as not_select:
        make_client().query("DELETE FROM stock")
    assert not_select.value.remote_message == "Seules les requêtes SELECT sont autorisées"
    with pytest.raises(FastmagError) as bad_sql:
        make_client().query("SELECT nope FROM stock")
    assert (bad_sql.value.remote_message or "").startswith("Erreur SQL")


def test_a_contract_names_its_query_on_a_missing_alias_or_a_refusal(
    make_client: MakeClient, sim: FastmagSimulator
) -> None:
    client = make_client()
    without_season = (PRODUCTS.sql or "").replace(" AS season,", " AS saison,")
    with pytest.raises(FastmagError, match=r"^fastmag\.queries\.products: .*lacks column\(s\) \['season'\]"):
        client.query(without_season, contract=PRODUCTS)
    assert client.query(without_season)  # without the contract the same answer reads as rows
    with pytest.raises(FastmagError, match=r"^fastmag\.queries\.products: Fastmag refused") as refused:
        client.query("SELECT nope FROM stock", contract=PRODUCTS)
    assert (refused.value.remote_message or "").startswith("Erreur SQL")
    sim.fail_next(502, times=1)
    with pytest.raises(FastmagTransportError, match=r"^EDIQUERY answered HTTP 502"):  # not renamed, not retyped
        make_client(read_retries=0).query("SELECT 1 AS one", contract=PRODUCTS)


def test_a_select_cannot_write(make_client: MakeClient, sim: FastmagSimulator) -> None:
    with pytest.raises(FastmagError):
        make_client().query("WITH x AS (SELECT 1) DELETE FROM stock")
    assert sim.execute("SELECT COUNT(*) FROM stock")[0][0] > 0


def test_a_malformed_answer_is_an_error(make_client: MakeClient, sim: FastmagSimulator) -> None:
    sim.faults.malformed_next_query = True
    with pytest.raises(FastmagError, match="no header row"):
        make_client().query("SELECT 1 AS one")


def test_read_retried_after_a_transient_503_without_sleeping(
    make_client: MakeClient, sim: FastmagSimulator, sleeps: list[float]
) -> None:
    sim.fail_next(503, times=1)
    assert make_client().query("SELECT 1 AS one") == [{"one": "1"}]
    assert sim.calls["query"] == 2
    sim.fail_next(503, times=3)
    assert make_client(read_retries=3).query("SELECT 1 AS one") == [{"one": "1"}]
    assert sleeps == [1.0, 2.0]  # urllib3 retries the first at once, then backs off 0.5 × 2^n


def test_read_gives_up_after_the_configured_retries(make_client: MakeClient, sim: FastmagSimulator) -> None:
    sim.fail_next(502, times=5)
    with pytest.raises(FastmagTransportError, match="502"):
        make_client(read_retries=2).query("SELECT 1 AS one")
    assert sim.calls["query"] == 3


def test_unreachable_fastmag_is_a_transport_error_without_the_password(task_log: TaskLog) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = FastmagSettings(base_url=f"http://127.0.0.1:{port}").model_copy(
        update={"wire": FastmagSettings().wire.model_copy(update={"query_method": "GET", "read_retries": 0})}
    )
    with pytest.raises(FastmagTransportError) as caught:
        FastmagClient(settings, USER, PASSWORD).query("SELECT 1 AS one")
    assert PASSWORD not in str(caught.value)
    assert caught.value.__cause__ is None
    assert PASSWORD not in task_log.text()


def test_calls_are_logged_without_credentials(make_client: MakeClient, task_log: TaskLog) -> None:
    make_client(query_method="GET").query("SELECT 1 AS one")
    (call,) = task_log.events("remote.call")
    assert call["path"] == "/ediquery.ips"
    assert call["http_status"] == 200
    assert call["rows"] == 1
    assert PASSWORD not in task_log.text()
    assert "duration_ms" in call


class _OneAnswer(http.server.BaseHTTPRequestHandler):
    """Answers every request with `answer`: headers, then the body bytes (maybe fewer than announced)."""

    protocol_version = "HTTP/1.1"
    answer: tuple[dict[str, str], bytes] = ({}, b"")

    def do_GET(self) -> None:
        headers, body = self.answer
        self.send_response(200)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    do_POST = do_GET

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def answering(headers: dict[str, str], body: bytes) -> Iterator[FastmagClient]:
    handler = type("Handler", (_OneAnswer,), {"answer": (headers, body)})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        settings = FastmagSettings(base_url=f"http://127.0.0.1:{server.server_address[1]}")
        wire = settings.wire.model_copy(update={"read_retries": 0})
        yield FastmagClient(settings.model_copy(update={"wire": wire}), USER, PASSWORD)
    finally:
        server.shutdown()
        server.server_close()


def test_an_answer_cut_short_is_a_transport_error_not_a_shorter_table() -> None:
    body = b"reference\tcolour\r\n" + b"".join(f"R{n}\tNOIR\r\n".encode() for n in range(1000))
    with (
        answering({"Content-Length": str(len(body) + 500)}, body) as client,
        pytest.raises(FastmagTransportError, match="Fastmag unreachable") as caught,
    ):
        client.query("SELECT reference, colour FROM produits")
    assert PASSWORD not in str(caught.value)


def test_a_compressed_answer_is_read_as_sent() -> None:
    body = "reference\tdesignation\r\nR1\tRobe été\r\n".encode("cp1252")
    packed = gzip.compress(body)
    with answering({"Content-Length": str(len(packed)), "Content-Encoding": "gzip"}, packed) as client:
        assert client.query("SELECT reference, designation FROM produits") == [
            {"reference": "R1", "designation": "Robe été"}
        ]
