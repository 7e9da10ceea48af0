"""The export API (ARCHITECTURE §8): the buttons, runs, previews and the order ledger, for scripts (a bearer
token) and browsers (a Fastmag link's code, then a session cookie).

`routes` holds the REST resolver the ApiFunction resolves; `pages` the confirm page and every page script, the
other pages in `status_html`, `run_html` and `readiness_page` (frame in `html`, words in `i18n`); `auth` who is
calling (the AuthorizerFunction's check, also run by the pages); `security` the pages' headers and refusal page;
`invoke` how a run is handed to its flow function.
"""
