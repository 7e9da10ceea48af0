"""The simulators' credentials, public on purpose: they open nothing but the local sandbox (hence noqa/nosec).

The sandbox's secret document (what the stack stores in its Secrets Manager) and the logins the simulators
accept by default; the deployed layer knows none of them.
"""

from __future__ import annotations

from typing import Any

SANDBOX_FASTMAG_PASSWORD = "sandbox-fastmag-password"  # noqa: S105 # nosec B105
SANDBOX_LNB_CLIENT_SECRET = "sandbox-client-secret"  # noqa: S105 # nosec B105
# The two secrets the stack reads: the flows' logins and the export buttons' tokens.
SANDBOX_CREDENTIALS: dict[str, Any] = {
    "fastmag_user": "edi-sandbox",
    "fastmag_password": SANDBOX_FASTMAG_PASSWORD,
    "lnb_client_id": "sandbox-client",
    "lnb_client_secret": SANDBOX_LNB_CLIENT_SECRET,
}
SANDBOX_API_TOKEN = "sandbox-api-token-7Qm2Xv9LpR4sKd8WzN3b"  # noqa: S105 # nosec B105
SANDBOX_SESSION_SIGNING_KEY = "sandbox-session-signing-key-H5tY8cJ2"  # nosec B105
SANDBOX_FLOWS = ("customers", "products", "prices", "images", "stock", "orders", "readiness")
# One Fastmag button link code per flow (`…/exports/<flow>?code=<code>`).
SANDBOX_LINK_CODES = {flow: f"sandbox-link-{flow}-code-Zr6Wq1Ht9Ue4Xk" for flow in SANDBOX_FLOWS}
SANDBOX_API_ACCESS: dict[str, Any] = {
    "api_tokens": [SANDBOX_API_TOKEN],
    "link_codes": [{"flow": flow, "code": code} for flow, code in SANDBOX_LINK_CODES.items()],
    "session_signing_key": SANDBOX_SESSION_SIGNING_KEY,
}
# Every sandbox secret value of both documents (the simulators and the leak tests read them from here).
SANDBOX_SECRET: dict[str, Any] = {**SANDBOX_CREDENTIALS, **SANDBOX_API_ACCESS}
