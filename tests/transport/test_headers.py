"""Security headers over every route family: API success and errors, the
plain-HTTP redirect listener, and the HTML 3-D Secure challenge page."""

from __future__ import annotations

import datetime
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
import requests

from transport_support import assert_security_headers, free_port, parse_csp, stripe_error

TDS_ALWAYS = "4000002760003184"
RETURN_URL = "https://merchant.example/checkout/return"


@pytest.fixture(scope="module")
def hgw(module_procs):
    """TLS (generated CA) on the main listener plus the plain-HTTP listener."""
    http_port = free_port()
    g = module_procs.gateway({"TESSERA_TLS_SELF_SIGNED": "true",
                              "TESSERA_HTTP_LISTEN": f"127.0.0.1:{http_port}"}, name="headers")
    g.require_tls()
    assert g.ca is not None, f"ready.json has no \"ca\": {g.ready}"
    assert g.http == f"http://127.0.0.1:{http_port}", (
        f"ready.json should report the plain-HTTP listener as \"http\": {g.ready}")
    return g


def _json(r: requests.Response) -> dict:
    assert "application/json" in r.headers.get("Content-Type", ""), r.headers.get("Content-Type")
    return r.json()


# --------------------------------------------------------------------------
# API responses over TLS


def test_api_success(hgw):
    r = hgw.request("GET", "/v1/customers", hgw.secret_key)
    assert r.status_code == 200, r.text[:500]
    _json(r)
    assert_security_headers(r, tls=True, api=True)

    r = hgw.request("POST", "/v1/customers", hgw.secret_key, data={"description": "headers"})
    assert r.status_code == 200, r.text[:500]
    assert_security_headers(r, tls=True, api=True)


def test_api_not_found(hgw):
    r = hgw.request("GET", "/v1/customers/cus_doesnotexist000000000", hgw.secret_key)
    assert r.status_code == 404, r.text[:500]
    stripe_error(r)
    assert_security_headers(r, tls=True, api=True)


def test_api_bad_key(hgw):
    r = hgw.request("GET", "/v1/customers", "sk_test_notarealkey0000000000000000")
    assert r.status_code == 401, r.text[:500]
    stripe_error(r)
    assert_security_headers(r, tls=True, api=True)


def test_unknown_route(hgw):
    r = hgw.request("GET", "/no/such/route", hgw.secret_key)
    assert r.status_code == 404, r.text[:500]
    assert_security_headers(r, tls=True, api=False)


# --------------------------------------------------------------------------
# The plain-HTTP listener: 308 to HTTPS, nothing served


@pytest.mark.parametrize("method", ["GET", "POST", "HEAD"])
def test_http_listener_redirects_to_https(hgw, method):
    query = "limit=3&email=nobody%40example.com"
    url = hgw.http + "/v1/customers?" + query
    r = requests.request(method, url, headers={"Authorization": f"Bearer {hgw.secret_key}"},
                         data={"description": "x"} if method == "POST" else None,
                         timeout=10, allow_redirects=False)
    assert r.status_code == 308, f"{method} {url}: HTTP {r.status_code} {r.text[:300]}"
    assert '"object"' not in r.text and '"data"' not in r.text, "the redirect must not carry API data"
    loc = r.headers.get("Location", "")
    got, api = urlsplit(loc), urlsplit(hgw.api)
    assert got.scheme == "https", f"Location {loc!r} is not https"
    assert got.path == "/v1/customers" and got.query == query, (
        f"Location {loc!r} should keep the path and the query")
    assert got.hostname in ("127.0.0.1", "localhost") and got.port == api.port, (
        f"Location {loc!r} should lead to the HTTPS listener {hgw.api}")
    assert_security_headers(r, tls=False, api=False, what=f"{method} {url} (308)")

    if method == "GET":  # the Location works
        follow = requests.get(loc, headers={"Authorization": f"Bearer {hgw.secret_key}"},
                              verify=str(hgw.ca), timeout=10, allow_redirects=False)
        assert follow.status_code == 200, follow.text[:300]


# --------------------------------------------------------------------------
# HTML: the 3-D Secure challenge page


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms = []

    def handle_starttag(self, tag, attrs):
        a = {k.lower(): (v or "") for k, v in attrs}
        if tag == "form":
            self.forms.append({"action": a.get("action", ""), "hidden": {}})
        elif tag == "input" and self.forms and a.get("type", "").lower() == "hidden" and a.get("name"):
            self.forms[-1]["hidden"][a["name"]] = a.get("value", "")


def _challenge_url(g) -> str:
    year = datetime.date.today().year + 2
    pm = g.request("POST", "/v1/payment_methods", g.secret_key, data={
        "type": "card", "card[number]": TDS_ALWAYS, "card[exp_month]": "12",
        "card[exp_year]": str(year), "card[cvc]": "123"})
    assert pm.status_code == 200, pm.text[:500]
    pi = g.request("POST", "/v1/payment_intents", g.secret_key, data={
        "amount": "1500", "currency": "usd", "payment_method": pm.json()["id"],
        "confirm": "true", "return_url": RETURN_URL})
    assert pi.status_code == 200, pi.text[:500]
    body = pi.json()
    assert body.get("status") == "requires_action", body
    url = body["next_action"]["redirect_to_url"]["url"]
    vault = g.ready["vault"].rstrip("/")
    assert url.startswith(vault + "/3d_secure/"), (
        f"challenge URL {url!r} is not on the gateway's HTTPS vault origin {vault}")
    return url


def _assert_restrictive_csp(value: str) -> None:
    csp = parse_csp(value)
    fa = [s.lower() for s in csp.get("frame-ancestors", [])]
    assert fa, f"CSP has no frame-ancestors: {value!r}"
    # Restrictive: 'none', 'self' or explicit origins; never a wildcard or a bare scheme.
    assert not any("*" in s or s in ("http:", "https:", "data:", "blob:") for s in fa), (
        f"frame-ancestors lets any site frame the page (clickjacking): {value!r}")
    ds = csp.get("default-src")
    assert ds and set(s.lower() for s in ds) <= {"'none'", "'self'"}, (
        f"CSP should set a restrictive default-src ('none' or 'self'): {value!r}")
    for directive, sources in csp.items():
        low = [s.lower() for s in sources]
        assert "*" not in low and "'unsafe-eval'" not in low, f"CSP {directive} too open: {value!r}"
        if directive in ("default-src", "script-src", "object-src"):
            assert not any(s in ("http:", "https:", "data:") for s in low), f"CSP {directive}: {value!r}"
    script = [s.lower() for s in csp.get("script-src", ds)]
    assert "'unsafe-inline'" not in script or any(s.startswith(("'nonce-", "'sha")) for s in script), (
        f"CSP allows inline scripts: {value!r}")


def test_challenge_page_headers(hgw):
    # The challenge is framed by the merchant's page (tessera.js's modal): with an origin
    # registered, only that origin may frame it. (With none, test mode on loopback lets
    # any origin frame it; live mode lets none.)
    hgw.cli("accounts", "configure", "--data-dir", str(hgw.data_dir), "--account", hgw.account_id,
            "--merchant-origin", "https://shop.example")
    url = _challenge_url(hgw)
    r = requests.get(url, verify=str(hgw.ca), timeout=10, allow_redirects=False)
    assert r.status_code == 200, r.text[:500]
    assert "text/html" in r.headers.get("Content-Type", ""), r.headers.get("Content-Type")
    assert_security_headers(r, tls=True, api=False, what="3-D Secure challenge page")
    csp = r.headers.get("Content-Security-Policy")
    assert csp, "the HTML challenge page has no Content-Security-Policy"
    _assert_restrictive_csp(csp)
    assert parse_csp(csp)["frame-ancestors"] == ["https://shop.example"], csp
    assert url.startswith("https://"), "the vault origin speaks TLS like the API"

    # Submitting it: the 303 back to the merchant carries the headers too.
    p = _Forms()
    p.feed(r.text)
    forms = [f for f in p.forms if "token" in f["hidden"]]
    assert forms, f"no challenge form on the page: {r.text[:800]}"
    data = dict(forms[0]["hidden"], result="complete")
    post = requests.post(urljoin(r.url, forms[0]["action"] or r.url), data=data,
                         verify=str(hgw.ca), timeout=10, allow_redirects=False)
    assert post.status_code == 303, post.text[:500]
    assert post.headers.get("Location", "").startswith(RETURN_URL)
    assert_security_headers(post, tls=True, api=False, what="3-D Secure form POST (303)")


# --------------------------------------------------------------------------
# Plain HTTP (test mode on loopback): same headers, never HSTS


def test_plain_http_headers_without_hsts(plain_gw):
    r = plain_gw.request("GET", "/v1/customers", plain_gw.secret_key)
    assert r.status_code == 200, r.text[:500]
    assert_security_headers(r, tls=False, api=True)
    r = plain_gw.request("GET", "/v1/customers/cus_doesnotexist000000000", plain_gw.secret_key)
    assert r.status_code == 404
    assert_security_headers(r, tls=False, api=True)
    r = plain_gw.request("GET", "/v1/customers", "sk_test_notarealkey0000000000000000")
    assert r.status_code == 401
    assert_security_headers(r, tls=False, api=True)
