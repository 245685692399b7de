"""Templates and page responses: autoescaped Jinja2, strict security headers, no caching."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape

from recommender.console.auth import Viewer

# Everything the pages use is served from /console/static: no inline script or style, no
# other origin. Charts are inline SVG, which is markup, not style.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # Customer ids are in page URLs: never send them to another site in a Referer.
    # ("no-referrer" would also make Chrome send "Origin: null" on our own form posts.)
    "Referrer-Policy": "same-origin",
    # Pages show personal data: no copy in the browser's or a proxy's cache.
    "Cache-Control": "no-store",
}

templates = Environment(
    loader=PackageLoader("recommender.console", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def page(
    request: Request,
    template: str,
    viewer: Viewer | None,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    """A rendered page with the console's headers."""
    html = templates.get_template(template).render(
        viewer=viewer, path=request.url.path, static="/console/static", **context
    )
    return HTMLResponse(html, status_code=status, headers=HEADERS)
