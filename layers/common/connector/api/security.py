"""What every HTML answer carries: the security headers (a Content-Security-Policy allowing exactly the pages'
own scripts, `pages.SCRIPTS`, by hash), and the short page that tells a refused caller what to do, in French or
English.
"""

from __future__ import annotations

import base64
import hashlib
import re
from html import escape

from connector.api.auth import Refusal
from connector.api.pages import SCRIPTS

# No credential is ever in a page's URL any more, yet a Referer could still name a run or an order: none leaves.
# No shared cache keeps a page (they show live data, for one session).
BASE_HEADERS = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def script_source(script: str) -> str:
    """A CSP source allowing exactly this inline script's text."""
    return f"'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'"


# Nothing but the pages' own scripts (by hash: a script injected into a page, were escaping ever to fail, does
# not run), inline styles, same-origin fetches and forms; never framed (clickjacking of the Confirm button).
# Styles stay 'unsafe-inline': the pages use style attributes, which a hash cannot allow, and a style runs no code.
CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; script-src {' '.join(sorted(map(script_source, SCRIPTS)))}; style-src 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


def page_headers() -> dict[str, str]:
    return {**BASE_HEADERS, "Content-Security-Policy": CONTENT_SECURITY_POLICY}


def prefers_french(accept_language: str) -> bool:
    """Whether the browser's first choice (by q-value, then order) is French."""
    best, best_q = "", -1.0
    for part in accept_language.split(","):
        tag, _, parameters = part.strip().partition(";")
        quality = 1.0
        match = re.search(r"q=([^;\s]*)", parameters)  # an unreadable q-value ranks the language last
        if match:
            try:
                quality = float(match.group(1))
            except ValueError:
                quality = 0.0
        if tag and quality > best_q:
            best, best_q = tag.lower(), quality
    return best.split("-")[0] == "fr"


_REFUSALS: dict[Refusal, tuple[str, str]] = {
    Refusal.MISSING: (
        "This page opens from its button in Fastmag: open it from there, or ask your administrator for a link.",
        "Cette page s'ouvre depuis son bouton dans Fastmag : ouvrez-la depuis Fastmag, "
        "ou demandez un lien à votre administrateur.",
    ),
    Refusal.INVALID: (
        "This link is not valid any more: ask your administrator for a new one.",
        "Ce lien n'est plus valable : demandez-en un nouveau à votre administrateur.",
    ),
    Refusal.EXPIRED: (
        "Your session has ended: open the export again from its button in Fastmag.",
        "Votre session a expiré : rouvrez l'export depuis son bouton dans Fastmag.",
    ),
    Refusal.WRONG_FLOW: (
        "This link opens another export: use this export's own button in Fastmag.",
        "Ce lien ouvre un autre export : utilisez le bouton de cet export dans Fastmag.",
    ),
    Refusal.NO_CSRF: (
        "This action must be sent from its page: reload the page and try again.",
        "Cette action doit partir de sa page : rechargez la page et recommencez.",
    ),
}


def refusal_message(reason: Refusal, *, french: bool) -> str:
    english, francais = _REFUSALS[reason]
    return francais if french else english


def refusal_page(reason: Refusal, *, french: bool) -> str:
    title = "Accès refusé" if french else "Access refused"
    return (
        f'<!doctype html><html lang="{"fr" if french else "en"}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title><style>body{{font-family:system-ui,sans-serif;margin:2rem;max-width:40rem}}</style>"
        f'</head><body><h1>{title}</h1><p id="refusal" data-reason="{escape(reason.value)}">'
        f"{escape(refusal_message(reason, french=french))}</p></body></html>"
    )
