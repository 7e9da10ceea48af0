"""The confirm page of an export button, where the other pages are built, and every script a page may run.

Pages are plain server-rendered HTML (`html.py`: frame, escaping, stylesheet; `i18n.py`: English and French):
the status page and run history in `status_html.py`, a run's page and an order's ledger page in `run_html.py`.
No link carries a credential: a browser holds a session cookie (connector.api.auth), and a page that POSTs
carries its CSRF token in a data attribute that its script sends as `X-CSRF-Token`. The scripts are constant
text (their values come from data attributes) so the Content-Security-Policy can allow them by hash
(connector.api.security).
"""

from __future__ import annotations

from connector.api.html import Links, View, esc, page
from connector.api.key_html import KEY_EVENTS_SCRIPT
from connector.api.run_html import POST_BUTTONS_SCRIPT
from connector.api.status_html import KEY_SEARCH_SCRIPT

__all__ = ["GUARDED_FLOWS", "SCRIPTS", "Links", "View", "confirm_page"]

# Flows with an anomaly guard that a run can bypass with `force` (stock: a push zeroing too many SKUs is held).
GUARDED_FLOWS = frozenset({"stock"})

# Posts the choice with the page's CSRF token; drops the link code from the address bar and history first.
CONFIRM_SCRIPT = """
history.replaceState(null, "", location.pathname);
const exportForm = document.getElementById("export-form");
exportForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const choice = {preview: exportForm.preview.checked, full: exportForm.full.checked};
  if (exportForm.force) { choice.force = exportForm.force.checked; }
  const answer = await fetch(exportForm.dataset.target, {
    method: "POST",
    credentials: "same-origin",
    headers: {
      "Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": exportForm.dataset.csrf,
    },
    body: JSON.stringify(choice),
  });
  const data = await answer.json();
  if (answer.status === 202) { window.location.href = data.page_url; }
  else { document.getElementById("problem").textContent = data.message || JSON.stringify(data); }
});
"""

# Every script a page may run: the Content-Security-Policy allows these texts and no other (connector.api.security).
SCRIPTS = (CONFIRM_SCRIPT, POST_BUTTONS_SCRIPT, KEY_SEARCH_SCRIPT, KEY_EVENTS_SCRIPT)


def confirm_page(flow: str, view: View) -> str:
    """The button's landing page: nothing runs until Confirm posts the choice."""
    target = view.links.url(f"/exports/{flow}")
    force = (
        f'<p><label><input type="checkbox" name="force" id="force"> {esc(view.t("confirm.force"))}</label>'
        f'<br><span class="help" id="force-help">{esc(view.t("confirm.force.help"))}</span></p>'
        if flow in GUARDED_FLOWS
        else ""
    )
    title = view.t("run.export", flow)
    body = f"""
<h1>{esc(title)}</h1>
<form id="export-form" data-target="{esc(target)}" data-csrf="{esc(view.links.csrf or "")}">
<p><label><input type="checkbox" name="preview" id="preview"> {esc(view.t("confirm.preview"))}</label></p>
<p><label><input type="checkbox" name="full" id="full"> {esc(view.t("confirm.full"))}</label></p>
{force}
<p><button class="button" type="submit" id="confirm">{esc(view.t("confirm.confirm"))}</button>
<a class="button secondary" href="{esc(view.links.url("/"))}">{esc(view.t("confirm.cancel"))}</a></p>
<p class="error" id="problem"></p>
</form>
<script>{CONFIRM_SCRIPT}</script>"""
    return page(title, body, language=view.language)
