"""The HTML pages (server-rendered shells; the page scripts call the JSON API)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from convrec import __version__
from convrec.web.deps import OptionalUser

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).resolve().parents[1] / "templates")

#: Pages beyond the playground, shown in the navigation: (path, label).
EXTRA_PAGES: list[tuple[str, str]] = [("/digits", "Digit reader"),
                                      ("/training", "Training you can watch"),
                                      ("/movies", "Movies")]


def _render(request: Request, template: str, title: str, user: OptionalUser,
            **extra: object) -> HTMLResponse:
    return templates.TemplateResponse(
        request, template,
        {"title": title, "user": user, "version": __version__, "path": request.url.path,
         "extra_pages": EXTRA_PAGES, **extra},
    )


@router.get("/", response_class=HTMLResponse)
def index(request: Request, user: OptionalUser) -> HTMLResponse:
    return _render(request, "index.html", "Studio", user)


@router.get("/conv", response_class=HTMLResponse)
def conv_page(request: Request, user: OptionalUser) -> HTMLResponse:
    return _render(request, "conv.html", "Convolution playground", user)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, user: OptionalUser) -> HTMLResponse:
    from convrec.web.security import MIN_PASSWORD_LENGTH

    return _render(request, "login.html", "Sign up or log in", user,
                   min_password_length=MIN_PASSWORD_LENGTH)


@router.get("/digits", response_class=HTMLResponse)
def digits_page(request: Request, user: OptionalUser) -> HTMLResponse:
    return _render(request, "digits.html", "Digit reader", user)


@router.get("/movies", response_class=HTMLResponse)
def movies_page(request: Request, user: OptionalUser) -> HTMLResponse:
    return _render(request, "movies.html", "Movies", user)


@router.get("/docs", response_class=HTMLResponse)
def docs_page(request: Request) -> HTMLResponse:
    """Swagger UI on ``/openapi.json``, every asset served by this app (``/docs/assets``)."""
    return templates.TemplateResponse(request, "docs.html", {})
