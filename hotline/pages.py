"""The console page itself: one HTML file and its static script and style, served with strict
security headers (no inline script, no framing, no sniffing) so user text can only ever be text."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from aiohttp import web

from core.web import Handler

STATIC = Path(__file__).parent / "console"
CONTENT_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


@cache
def _shipped(name: str) -> bytes:
    """A shipped file's bytes, read once: they do not change while the process runs."""
    return (STATIC / name).read_bytes()


def _file(name: str) -> web.Response:
    return web.Response(body=_shipped(name), content_type=CONTENT_TYPES[Path(name).suffix], charset="utf-8",
                        headers={"Cache-Control": "no-cache"})


async def index(request: web.Request) -> web.Response:
    return _file("index.html")


async def redirect(request: web.Request) -> web.Response:
    raise web.HTTPFound("/console/")


def static_files() -> Handler:
    """The handler of /console/static/{name}: only the files shipped beside this module, by exact
    name (no paths, no traversal, not the page itself). They are listed once, here: they do not
    change while the process runs."""
    shipped = frozenset(p.name for p in STATIC.iterdir() if p.suffix in CONTENT_TYPES and p.name != "index.html")

    async def static(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in shipped:
            raise web.HTTPNotFound()
        return _file(name)

    return static


@web.middleware
async def json_posts_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The console API takes only JSON bodies, which a cross-site form cannot send (with the
    SameSite=Strict cookie: no CSRF)."""
    if request.method == "POST" and request.path.startswith("/console/api/") and request.content_type != "application/json":
        raise web.HTTPUnsupportedMediaType()
    return await handler(request)


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: the security headers on everything under /console, error responses
    included (those are made outside the handlers, by the error middleware)."""
    if not request.path.startswith("/console"):
        return
    response.headers.update({"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                             "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"})
    if request.path.startswith("/console/api/"):
        response.headers["Cache-Control"] = "no-store"


def setup(app: web.Application) -> None:
    app.router.add_get("/console", redirect, allow_head=False)
    app.router.add_get("/console/", index, allow_head=False)
    app.router.add_get("/console/static/{name}", static_files(), allow_head=False)
    app.middlewares.append(json_posts_only)
    app.on_response_prepare.append(security_headers)
