"""What every HTML answer carries: the security headers (a Content-Security-Policy allowing exactly the pages'
own scripts, `pages.SCRIPTS`, by hash), and the short page that tells a refused caller what to do, in French or
English (the words are in the pages' catalogue, connector.api.i18n).
"""

from __future__ import annotations

import base64
import hashlib

from connector.api.auth import Refusal
from connector.api.html import esc, page
from connector.api.i18n import Language, text
from connector.api.pages import SCRIPTS

# No credential is ever in a page's URL any more, yet a Referer could still name a run or an order: none leaves.
# No shared cache keeps a page (they show live data, for one session).
BASE_HEADERS = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def script_source(script: str) -> str:
    """A CSP source allowing exactly this inline script's text."""
    return f"'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'"


# Nothing but the pages' own scripts (by hash: a script injected into a page, were escaping ever to fail, does
# not run), inline styles, same-origin fetches and forms; never framed (clickjacking of the Confirm button).
# Styles stay 'unsafe-inline': the pages use style elements, which a hash would pin to one text, and a style runs
# no code.
CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; script-src {' '.join(sorted(map(script_source, SCRIPTS)))}; style-src 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


def page_headers() -> dict[str, str]:
    return {**BASE_HEADERS, "Content-Security-Policy": CONTENT_SECURITY_POLICY}


def refusal_message(reason: Refusal, language: Language) -> str:
    return text(language, f"refusal.{reason.value}")


def refusal_page(reason: Refusal, language: Language) -> str:
    title = text(language, "refusal.title")
    body = (
        f'<h1>{esc(title)}</h1><p id="refusal" data-reason="{esc(reason.value)}">'
        f"{esc(refusal_message(reason, language))}</p>"
    )
    return page(title, body, language=language)
