"""What every HTML answer carries (the CSP allows exactly the page's own scripts) and the refusal page's language."""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.api.auth import Refusal
from connector.api.html import Links, View
from connector.api.i18n import preferred_language
from connector.api.key_html import key_page
from connector.api.pages import SCRIPTS, confirm_page
from connector.api.run_html import PreviewView, run_page
from connector.api.security import CONTENT_SECURITY_POLICY, page_headers, refusal_page
from connector.api.status_html import status_page
from connector.runs import RunRecord, RunStatus


def _hash(script: str) -> str:
    return f"'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'"


def _scripts(page: str) -> list[str]:
    return [part.split("</script>", 1)[0] for part in page.split("<script>")[1:]]


def test_the_policy_allows_the_pages_scripts_by_hash_and_nothing_else() -> None:
    preview = RunRecord.model_validate(
        {
            "run_id": "stock-1",
            "flow": "stock",
            "trigger": "button",
            "status": "succeeded",
            "preview": True,
            "preview_key": "previews/stock-1.jsonl.gz",
            "preview_base": "etag",
        }
    )
    held = preview.model_copy(update={"status": RunStatus.HELD, "preview": False})
    pages = [
        confirm_page("stock", View(Links("/dev", "ticket"))),
        run_page(preview, View(Links("/dev", "<csrf>")), preview=PreviewView(None, 3, 0, None)),
        run_page(held, View(Links("/dev", "<csrf>"))),
        status_page([], View(Links("/dev", "<csrf>"))),
        key_page(
            {"key": "ticket", "kind": "model", "findings": [], "sections": {}, "differences": []},
            View(Links("/dev", "<csrf>")),
        ),
    ]
    scripts = [script for page in pages for script in _scripts(page)]
    # Confirm, the run page's POST buttons (apply, new preview, Send anyway: one script), the key search, a key's
    # events.
    assert len(scripts) == 5 and set(scripts) == set(SCRIPTS)
    allowed = CONTENT_SECURITY_POLICY.split("script-src ", 1)[1].split(";", 1)[0].split()
    assert sorted(allowed) == sorted(map(_hash, set(scripts)))
    # A script injected into a page (were escaping ever to fail) is not one of them: the browser would not run it.
    assert _hash("alert(1)") not in allowed
    for directive in ("frame-ancestors 'none'", "default-src 'none'", "base-uri 'none'", "form-action 'self'"):
        assert directive in CONTENT_SECURITY_POLICY
    # The values a page carries live in data attributes, never in the script text (which must stay constant).
    assert all("ticket" not in script and "csrf>" not in script for script in scripts)


def test_every_page_header_is_there() -> None:
    headers = page_headers()
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Cache-Control"] == "no-store"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]


@pytest.mark.parametrize(
    ("accept_language", "french"),
    [
        ("fr-FR,fr;q=0.9,en;q=0.8", True),
        ("fr", True),
        ("FR-ca", True),
        ("en-GB,fr;q=0.9", False),
        ("de-DE,fr;q=0.5,en;q=0.7", False),
        ("en;q=0.2,fr;q=0.8", True),
        ("fr;q=abc,en", False),
        ("", False),
        ("*", False),
        ("frisian", False),
    ],
)
def test_french_only_when_it_is_the_browser_first_choice(accept_language: str, french: bool) -> None:
    # The refusal pages take their language from the pages' one reading of Accept-Language (connector.api.i18n).
    assert (preferred_language(accept_language) == "fr") is french


@pytest.mark.parametrize("reason", list(Refusal))
def test_every_refusal_says_what_to_do_in_both_languages(reason: Refusal) -> None:
    english, french = refusal_page(reason, "en"), refusal_page(reason, "fr")
    assert '<html lang="en">' in english and '<html lang="fr">' in french
    assert english != french
    assert 'name="viewport"' in english and "<script" not in english


@given(st.text())
def test_any_accept_language_is_read_without_error(header: str) -> None:
    assert preferred_language(header) in {"en", "fr"}
