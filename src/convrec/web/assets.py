"""The studio's static files (``/static``, ``/docs/assets``) served from memory.

Starlette's ``StaticFiles`` stats and reads the file on every request, in the thread pool:
a thread hop and a disk read per script or style sheet (RESULTS, "Studio": its p99 was the
anchor row's tail). Here the folder is listed once, at start-up; each file is read once
(``preload``: at start-up; otherwise on its first request, in a thread) and answered from
bytes in the event loop afterwards, with an ``ETag``, ``Cache-Control: no-cache`` (the
browser asks again and gets ``304 Not Modified`` while the file is unchanged) and a gzip
copy for clients that accept it.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import mimetypes
from pathlib import Path

from starlette.exceptions import HTTPException
from starlette.types import Receive, Scope, Send

__all__ = ["InMemoryFiles"]

#: Types worth compressing (scripts, styles, source maps, pages); images are compressed already.
COMPRESSIBLE = ("text/", "application/javascript", "application/json", "image/svg+xml")
#: Below this size a gzip copy saves less than its headers cost.
MIN_GZIP_BYTES = 1024
TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
         ".map": "application/json", ".html": "text/html; charset=utf-8"}


@dataclasses.dataclass(frozen=True)
class _File:
    """One file's answer, made once: its bytes, a gzip copy (or ``None``) and the headers."""

    body: bytes
    gzipped: bytes | None
    headers: list[tuple[bytes, bytes]]
    gzip_headers: list[tuple[bytes, bytes]]
    etags: frozenset[bytes]  # the plain and the gzip representation's tags

    @classmethod
    def read(cls, path: Path) -> _File:
        body = path.read_bytes()
        kind = TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or (
            "application/octet-stream")
        digest = hashlib.blake2b(body, digest_size=12).hexdigest()
        gzipped = None
        if kind.startswith(COMPRESSIBLE) and len(body) >= MIN_GZIP_BYTES:
            packed = gzip.compress(body, compresslevel=9, mtime=0)
            gzipped = packed if len(packed) < len(body) else None

        def headers(tag: str, size: int, extra: list[tuple[bytes, bytes]]) -> list[
                tuple[bytes, bytes]]:
            return [(b"content-type", kind.encode()), (b"content-length", str(size).encode()),
                    (b"etag", tag.encode()), (b"cache-control", b"no-cache"),
                    (b"vary", b"accept-encoding"), *extra]

        plain_tag, gzip_tag = f'"{digest}"', f'"{digest}-gzip"'
        return cls(
            body=body, gzipped=gzipped,
            headers=headers(plain_tag, len(body), []),
            gzip_headers=headers(gzip_tag, len(gzipped or b""),
                                 [(b"content-encoding", b"gzip")]),
            etags=frozenset({plain_tag.encode(), gzip_tag.encode()}),
        )


class InMemoryFiles:
    """An ASGI app answering ``GET``/``HEAD`` for the files under ``directory`` from memory.

    Args:
        directory: the folder; it is listed once here (a file added later is not served).
        preload: read every file now (a small folder); ``False`` reads each on its first
            request (Swagger UI's folder holds megabytes of source maps nobody may ask for).

    A name that is not one of the listed files is a 404 (no path is ever joined from the
    request, so ``..`` cannot leave the folder); another method is a 405.
    """

    def __init__(self, directory: Path | str, preload: bool = True) -> None:
        root = Path(directory)
        self.paths = {p.relative_to(root).as_posix(): p for p in sorted(root.rglob("*"))
                      if p.is_file()}
        self.files: dict[str, _File] = {}
        if preload:
            for name, path in self.paths.items():
                self.files[name] = _File.read(path)

    async def _file(self, name: str) -> _File:
        found = self.files.get(name)
        if found is None:
            path = self.paths.get(name)
            if path is None:
                raise HTTPException(status_code=404)
            import anyio.to_thread

            found = self.files[name] = await anyio.to_thread.run_sync(_File.read, path)
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise HTTPException(status_code=404)
        method = scope["method"]
        if method not in ("GET", "HEAD"):
            raise HTTPException(status_code=405, headers={"Allow": "GET, HEAD"})
        # the mount adds its prefix to root_path (as Starlette's get_route_path reads it)
        path, root = scope["path"], scope.get("root_path", "")
        name = (path[len(root):] if root and path.startswith(root) else path).lstrip("/")
        found = await self._file(name)
        accept = b""
        match = b""
        for key, value in scope["headers"]:
            if key == b"accept-encoding":
                accept = value
            elif key == b"if-none-match":
                match = value
        zipped = found.gzipped is not None and b"gzip" in accept
        headers = found.gzip_headers if zipped else found.headers
        if match and any(tag.strip() in found.etags or tag.strip() == b"*"
                         for tag in match.split(b",")):
            await send({"type": "http.response.start", "status": 304,
                        "headers": [h for h in headers
                                    if h[0] not in (b"content-length", b"content-type")]})
            await send({"type": "http.response.body", "body": b""})
            return
        body = (found.gzipped or b"") if zipped else found.body
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})
