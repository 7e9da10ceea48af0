"""The LNB client's session reads the environment once: each call gets the proxies, CA bundle and .netrc
credentials requests would have read from the environment for that call."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from connector.http import session_reading_the_environment_once

URL = "https://api.lenewblack.example/v2/multi/prices?access_token=t"
BASE = "https://api.lenewblack.example/v2"

ENVIRONMENTS = {
    "nothing set": {},
    "a proxy": {"HTTPS_PROXY": "http://proxy.internal:3128", "HTTP_PROXY": "http://proxy.internal:3128"},
    "a proxy the host is spared": {"HTTPS_PROXY": "http://proxy.internal:3128", "NO_PROXY": ".lenewblack.example"},
    "a proxy another host is spared": {"HTTPS_PROXY": "http://proxy.internal:3128", "NO_PROXY": "fastmag.example"},
    "a CA bundle": {"REQUESTS_CA_BUNDLE": "/etc/ssl/bundle.pem"},
    "a curl CA bundle": {"CURL_CA_BUNDLE": "/etc/ssl/curl.pem"},
    "netrc credentials": {"NETRC": "netrc"},
}
VARIABLES = ("HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "ALL_PROXY", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NETRC")


def effective(session: requests.Session) -> tuple[object, object, str | None]:
    """Proxies, TLS verification and Authorization header one call of `session` would use."""
    settings = session.merge_environment_settings(URL, {}, None, None, None)
    prepared = session.prepare_request(requests.Request("POST", URL))
    return settings["proxies"], settings["verify"], prepared.headers.get("Authorization")


@pytest.mark.parametrize("name", sorted(ENVIRONMENTS))
def test_every_call_gets_what_requests_reads_from_the_environment(
    name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for variable in VARIABLES:
        monkeypatch.delenv(variable, raising=False)
        monkeypatch.delenv(variable.lower(), raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no .netrc of the machine running the tests
    netrc = tmp_path / "netrc"
    netrc.write_text("machine api.lenewblack.example login user password secret\n")
    netrc.chmod(0o600)
    for variable, value in ENVIRONMENTS[name].items():
        monkeypatch.setenv(variable, str(netrc) if variable == "NETRC" else value)
    once = session_reading_the_environment_once(BASE)
    assert not once.trust_env
    assert effective(once) == effective(requests.Session())
    # Where the environment says anything for this host, the call is not the one an empty environment gives.
    if name not in {"nothing set", "a proxy the host is spared"}:
        assert effective(once) != ({}, True, None)
