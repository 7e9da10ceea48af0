"""The export API (ARCHITECTURE §8): the buttons, runs, previews and the order ledger, behind a token.

`routes` holds the REST resolver the ApiFunction resolves, `pages` the HTML of the status, confirm and run
pages, `auth` the token check of the AuthorizerFunction, `invoke` how a run is handed to its flow function.
"""
