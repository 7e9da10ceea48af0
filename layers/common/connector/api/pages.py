"""The confirm page of an export button, and where the other pages are built.

Pages are plain server-rendered HTML (`html.py`: frame, escaping, stylesheet; `i18n.py`: English and French):
the status page and run history in `status_html.py`, a run's page and an order's ledger page in `run_html.py`.
Links carry the caller's `token` query parameter when it came that way, because the Fastmag buttons are plain
links and a browser cannot add an Authorization header to the next click.
"""

from __future__ import annotations

from connector.api.html import Links, View, esc, js, page

__all__ = ["GUARDED_FLOWS", "Links", "View", "confirm_page"]

# Flows with an anomaly guard that a run can bypass with `force` (stock: a push zeroing too many SKUs is held).
GUARDED_FLOWS = frozenset({"stock"})


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
<form id="export-form">
<p><label><input type="checkbox" name="preview" id="preview"> {esc(view.t("confirm.preview"))}</label></p>
<p><label><input type="checkbox" name="full" id="full"> {esc(view.t("confirm.full"))}</label></p>
{force}
<p><button class="button" type="submit" id="confirm">{esc(view.t("confirm.confirm"))}</button>
<a class="button secondary" href="{esc(view.links.url("/"))}">{esc(view.t("confirm.cancel"))}</a></p>
<p class="error" id="problem"></p>
</form>
<script>
document.getElementById("export-form").addEventListener("submit", async (event) => {{
  event.preventDefault();
  const form = event.target;
  const choice = {{preview: form.preview.checked, full: form.full.checked}};
  if (form.force) {{ choice.force = form.force.checked; }}
  const answer = await fetch({js(target)}, {{
    method: "POST",
    headers: {{"Content-Type": "application/json", "Accept": "application/json"}},
    body: JSON.stringify(choice),
  }});
  const data = await answer.json();
  if (answer.status === 202) {{ window.location.href = data.page_url; }}
  else {{ document.getElementById("problem").textContent = data.message || JSON.stringify(data); }}
}});
</script>"""
    return page(title, body, language=view.language)
