"""The studio: a FastAPI web app and HTTP API over the convolution playground, the digit
reader and the movie recommender, with accounts and ratings in a real database.

Floor 3: imports ``conv``, ``data``, ``shapes``, ``vision``, ``recsys`` and ``settings``,
never ``cli``. Importing ``convrec`` does not import this package; importing this package
imports nothing heavy: its three names below load their modules on first use (so that
``convrec studio`` checks the database with SQLAlchemy alone, before FastAPI or any model).
The app's module imports FastAPI and SQLAlchemy but not torch (models load after the
worker serves, or on first use).

Public API:
    create_app(settings=None, services=None) -> FastAPI
    Services: the models and datasets the studio serves, loaded once.
    migrate(database_url) -> None: bring a database to the newest Alembic revision.

Layout: ``app.py`` (factory, error handlers, limits), ``deps.py`` (dependencies),
``db.py`` + ``models.py`` + ``migrations/`` (SQLAlchemy and Alembic), ``security.py``
(argon2 password hashes, session tokens), ``schemas.py`` (request and response models),
``services.py`` (model loading), ``routers/`` (one router per resource),
``timeline.py`` (timestamps of a start, for measuring it) and ``templates/`` + ``static/``
(the pages; no CDN, every asset is served by the app).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import lazy_loader

if TYPE_CHECKING:
    from convrec.web.app import create_app
    from convrec.web.db import migrate
    from convrec.web.services import Services

__all__ = ["Services", "create_app", "migrate"]

#: the module that defines each public name (imported on first use, PEP 562 via lazy_loader)
_HOMES = {"app": ("create_app",), "db": ("migrate",), "services": ("Services",)}
__getattr__, __dir__, _ = lazy_loader.attach(__name__, submod_attrs=_HOMES)
