"""The pages' frame: links, escaping, local times, tables that scroll in their own box, the stylesheet.

Plain server-rendered HTML: every value goes through `esc` (text and attributes). No link carries a credential (a
browser holds a session cookie, connector.api.auth); a value a script needs lives in a data attribute, since the
scripts are constant text the Content-Security-Policy allows by hash (`pages.SCRIPTS`, connector.api.security).
The stylesheet is inlined (no CDN) and classless but for a few states: it styles the elements, so a page reads
on a 390 px phone and at 1280 px, and a wide table scrolls inside its own `.scroll` box, never the page.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import escape
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from connector.api.i18n import Language, text, weekday

REFRESH_SECONDS = 2

STYLESHEET = """
*,*::before,*::after{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;line-height:1.45;color:#1d1d1f;background:#fff;
margin:0 auto;padding:1rem;max-width:72rem;overflow-wrap:anywhere}
h1{font-size:1.5rem;margin:.5rem 0 1rem}h2{font-size:1.2rem;margin:1.5rem 0 .5rem}
a{color:#1f4e99}code{font-size:.9em}td time{white-space:nowrap}
.scroll{overflow-x:auto;max-width:100%;margin:.5rem 0 1rem}
table{border-collapse:collapse;width:100%}#counters{width:auto;min-width:16rem}
td,th{border-bottom:1px solid #ddd;padding:.4rem .5rem;text-align:left;vertical-align:top}
th{background:#f4f5f7;font-weight:600;white-space:nowrap}
td.n{text-align:right;font-variant-numeric:tabular-nums}
tr.detail td{border-top:0;color:#555;font-size:.92em;padding-top:0}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;margin:.5rem 0 1rem}dt{font-weight:600}
.health{display:grid;grid-template-columns:repeat(auto-fit,minmax(14rem,1fr));gap:.25rem 1rem;
background:#f8f9fb;border:1px solid #e1e4e8;border-radius:6px;padding:.75rem;margin:.5rem 0}
.health div{min-width:0}.health b{display:block;font-size:.85em;color:#555;font-weight:600}
button,.button,input,select{font:inherit}
button,.button{display:inline-block;min-height:44px;min-width:44px;padding:.6rem 1rem;background:#1f4e99;color:#fff;
text-decoration:none;border:0;border-radius:6px;cursor:pointer;margin:.25rem .25rem .25rem 0}
.button.secondary{background:#fff;color:#1f4e99;border:1px solid #1f4e99}
input[type=search],input[type=text],select{min-height:44px;padding:.4rem .6rem;border:1px solid #999;
border-radius:6px;max-width:100%}
input[type=checkbox]{width:1.4rem;height:1.4rem;vertical-align:middle}
label{display:inline-block;padding:.4rem 0}
form.inline{display:flex;flex-wrap:wrap;gap:.5rem;align-items:center}
.succeeded{color:#176f2c}.partial,.held,.skipped{color:#8a5a00}.failed,.error{color:#b00020}
.help{color:#555;font-size:.92em}
#preview-counts{width:auto;min-width:16rem}#preview-counts th+th{text-align:right}
#preview-items td:nth-child(-n+3),#records-table td:nth-child(-n+2){white-space:nowrap;overflow-wrap:normal}
.pager{display:flex;flex-wrap:wrap;gap:.5rem;align-items:center}
"""


@dataclass(frozen=True)
class Links:
    """Absolute paths under the API's base path (the stage, or nothing behind a custom domain)."""

    prefix: str = ""
    csrf: str | None = None  # what the page's POSTs send as X-CSRF-Token (the caller's session or confirm ticket)

    def url(self, path: str, **query: str) -> str:
        return f"{self.prefix}{path}" + (f"?{urlencode(query)}" if query else "")

    def link(self, label: str, path: str, **query: str) -> str:
        return f'<a href="{esc(self.url(path, **query))}">{esc(label)}</a>'


def esc(value: object) -> str:
    """Any value as HTML text or attribute content (quotes included)."""
    return escape(str(value), quote=True)


@dataclass(frozen=True)
class View:
    """Who reads the page: their language, the brand's timezone for times, and the links' base."""

    links: Links
    language: Language = "en"
    zone: str = "Europe/Paris"

    def t(self, key: str, *values: object) -> str:
        return text(self.language, key, *values)

    def when(self, moment: datetime) -> str:
        """Day, date as read in France (day/month/year), 24-hour time to the minute and the zone's abbreviation."""
        return when(moment, self.language)

    def time(self, stamp: str | None) -> str:
        """An ISO instant as a local time, the UTC value on hover (`title`)."""
        moment = parse(stamp)
        if moment is None:
            return ""
        utc = moment.astimezone(UTC)
        local = moment.astimezone(ZoneInfo(self.zone))
        return (
            f'<time datetime="{esc(utc.isoformat(timespec="seconds"))}" title="{esc(f"{utc:%Y-%m-%d %H:%M:%S} UTC")}">'
            f"{esc(self.when(local))}</time>"
        )


def parse(stamp: str | None) -> datetime | None:
    if not stamp:
        return None
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def when(moment: datetime, language: Language = "en") -> str:
    return f"{weekday(language, moment.weekday())} {moment:%d/%m/%Y %H:%M} {moment.tzname()}"


def span(length: timedelta) -> str:
    """A duration to the second under ten minutes, to the minute under a day, in days and hours beyond; a
    zero last unit is left out (5 min, 2 h, 1 d)."""
    seconds = max(int(length.total_seconds()), 0)
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{minutes} min {seconds % 60:02d} s" if seconds < 600 and seconds % 60 else f"{minutes} min"
    if seconds < 86400:
        return f"{hours} h {minutes % 60:02d}" if minutes % 60 else f"{hours} h"
    return f"{days} d {hours % 24} h" if hours % 24 else f"{days} d"


def elapsed(start: str | None, end: str | None) -> str:
    begun, ended = parse(start), parse(end)
    return span(ended - begun) if begun and ended else ""


def table(headers: Iterable[str], rows: Iterable[str], *, table_id: str = "") -> str:
    """A table in its own horizontally scrolling box: `headers` are escaped, `rows` are ready `<tr>` markup."""
    head = "".join(f"<th>{esc(header)}</th>" for header in headers)
    ident = f' id="{esc(table_id)}"' if table_id else ""
    return (
        f'<div class="scroll"><table{ident}><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>'
    )


def page(title: str, body: str, *, language: Language = "en", refresh: bool = False) -> str:
    meta = f'<meta http-equiv="refresh" content="{REFRESH_SECONDS}">' if refresh else ""
    return (
        f'<!doctype html><html lang="{language}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"{meta}<title>{esc(title)}</title><style>{STYLESHEET}</style></head><body>{body}</body></html>"
    )
