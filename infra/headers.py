"""The one definition of the site's headers: CSP and the other security headers, and the
Cache-Control of each kind of file.

Pure Python (no aws_cdk import): the CloudFront response headers policy and the site's
uploads (infra/constructs/site.py), the local gateway and the tests all build their headers
here, so the cloud and the laptop serve the same policy.
"""

import fnmatch
from urllib.parse import urlsplit

HSTS_MAX_AGE_SECONDS = 2 * 365 * 24 * 60 * 60  # two years, the preload list's floor is one
REFERRER_POLICY = "no-referrer"
# Camera, microphone and screen capture for the site itself; nothing else, nobody else.
PERMISSIONS_POLICY = (
    "camera=(self), microphone=(self), display-capture=(self), "
    "geolocation=(), payment=(), usb=()"
)


def signaling_origin(signaling_url: str) -> str:
    """``wss://abc.execute-api.eu-west-1.amazonaws.com/prod`` -> ``wss://abc.execute-api...com``."""
    parts = urlsplit(signaling_url)
    if parts.scheme not in ("ws", "wss") or not parts.netloc:
        raise ValueError(f"signaling URL must be ws:// or wss:// with a host: {signaling_url!r}")
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(signaling_url: str) -> str:
    """A strict CSP: own scripts and styles only, no inline code, WebSocket to signaling only."""
    return content_security_policy_for_origin(signaling_origin(signaling_url))


def content_security_policy_for_origin(origin: str) -> str:
    """The CSP for an already known signaling origin (``wss://host``), taken verbatim.

    For callers whose origin is not a parsable string yet, e.g. the CDK stack, where it holds
    deploy-time tokens: the text around ``origin`` is the same as ``content_security_policy``'s.
    """
    directives = [
        ("default-src", "'none'"),
        ("script-src", "'self'"),
        ("style-src", "'self'"),
        ("img-src", "'self' data:"),
        ("media-src", "'self' blob:"),
        ("connect-src", f"'self' {origin}"),
        ("manifest-src", "'self'"),
        ("base-uri", "'none'"),
        ("form-action", "'self'"),
        ("frame-ancestors", "'none'"),
        ("object-src", "'none'"),
    ]
    return "; ".join(f"{name} {value}" for name, value in directives)


def security_headers(signaling_url: str, *, https: bool = True) -> dict[str, str]:
    """Every security header the site is served with. HSTS only makes sense over HTTPS."""
    return security_headers_for_origin(signaling_origin(signaling_url), https=https)


def security_headers_for_origin(origin: str, *, https: bool = True) -> dict[str, str]:
    """``security_headers`` for an already known signaling origin (may hold CDK tokens)."""
    headers = {
        "Content-Security-Policy": content_security_policy_for_origin(origin),
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": REFERRER_POLICY,
        "Permissions-Policy": PERMISSIONS_POLICY,
        "Cross-Origin-Opener-Policy": "same-origin",
    }
    if https:
        headers["Strict-Transport-Security"] = (
            f"max-age={HSTS_MAX_AGE_SECONDS}; includeSubDomains; preload"
        )
    return headers


# ---- Cache-Control, per kind of file ---------------------------------------------------------
# The site has no build step, so file names carry no content hash: js/room.js is js/room.js in
# every release. The pages, config.json, the scripts (ES modules importing each other) and the
# stylesheet change together, so a browser must never mix releases among them: it revalidates
# each of them on every use (max-age=0, must-revalidate; a 304 from CloudFront's edge when
# nothing changed). CloudFront itself may keep them a day (s-maxage): every deploy invalidates
# its copies and waits for that before it returns. Files no code depends on (icon, manifest)
# may be a day old in a browser.
REVALIDATED_FILES = ("*.html", "*.js", "*.css", "config.json")
CACHE_REVALIDATE = "max-age=0, must-revalidate, s-maxage=86400"
CACHE_STABLE = "public, max-age=86400"


def cache_control(key: str) -> str:
    """The Cache-Control of the object ``key`` (``js/room.js``, ``config.json``; ``""`` is the
    root page). The patterns match like ``aws s3 sync`` filters, which the CDK deployment
    uses to upload each kind with its header: ``*`` also matches ``/``."""
    key = key.lstrip("/") or "index.html"
    if any(fnmatch.fnmatchcase(key, pattern) for pattern in REVALIDATED_FILES):
        return CACHE_REVALIDATE
    return CACHE_STABLE
