"""The studio's static files come from memory: the same bytes as on disk, an ETag and 304s,
a gzip copy, no file read per request, and the studio's error format for a wrong name."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from convrec.web.assets import InMemoryFiles

STATIC = Path(__file__).resolve().parents[2] / "src" / "convrec" / "web" / "static"


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("assets")
    (folder / "app.js").write_text("console.log('x');\n" * 200)  # compressible, 3.6 kB
    (folder / "tiny.css").write_text("b{}")
    (folder / "sub").mkdir()
    (folder / "sub" / "pic.png").write_bytes(b"\x89PNG" + bytes(range(256)) * 8)
    return folder


def make(folder: Path, preload: bool = True) -> TestClient:
    return TestClient(Starlette(routes=[Mount("/static", InMemoryFiles(folder, preload))]))


@pytest.mark.parametrize("preload", [True, False])
def test_every_file_is_served_as_on_disk_without_reading_it_again(
    files: Path, preload: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = make(files, preload)
    plain = {"Accept-Encoding": "identity"}
    names = ("app.js", "tiny.css", "sub/pic.png")
    on_disk = {name: (files / name).read_bytes() for name in names}
    first = {name: client.get(f"/static/{name}", headers=plain) for name in names}

    def no_reads(_self: Path) -> bytes:
        raise AssertionError("a file was read again")

    monkeypatch.setattr(Path, "read_bytes", no_reads)
    for name, response in first.items():
        again = client.get(f"/static/{name}", headers=plain)
        assert again.status_code == response.status_code == 200, name
        assert again.content == response.content == on_disk[name], name
        assert "content-encoding" not in again.headers
    assert first["app.js"].headers["content-type"] == "text/javascript; charset=utf-8"
    assert first["tiny.css"].headers["content-type"] == "text/css; charset=utf-8"
    assert first["sub/pic.png"].headers["content-type"] == "image/png"


def test_etag_gives_304_and_gzip_is_offered_to_who_accepts_it(files: Path) -> None:
    client = make(files)
    on_disk = (files / "app.js").read_bytes()
    zipped = client.get("/static/app.js", headers={"Accept-Encoding": "gzip, br"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert int(zipped.headers["content-length"]) < len(on_disk) // 10
    assert zipped.content == on_disk  # httpx undoes the gzip; the bytes are the file's
    plain = client.get("/static/app.js", headers={"Accept-Encoding": "identity"})
    assert plain.headers["etag"] != zipped.headers["etag"]  # two representations, two tags
    assert plain.headers["cache-control"] == "no-cache" and plain.headers["vary"]
    for tag in (plain.headers["etag"], zipped.headers["etag"], f'"nope", {plain.headers["etag"]}'):
        again = client.get("/static/app.js", headers={"If-None-Match": tag})
        assert again.status_code == 304 and again.content == b"", tag
        assert again.headers["etag"]
    changed = client.get("/static/app.js", headers={"If-None-Match": '"old"'})
    assert changed.status_code == 200 and changed.content == on_disk
    tiny = client.get("/static/tiny.css", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in tiny.headers  # 3 bytes: not worth a gzip copy
    head = client.head("/static/app.js", headers={"Accept-Encoding": "identity"})
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(on_disk))


def test_the_studio_serves_its_files_and_refuses_other_names_in_its_error_format(
    client: TestClient,
) -> None:
    names = sorted(p.name for p in STATIC.iterdir() if p.is_file())
    assert "common.js" in names
    for name in names:
        response = client.get(f"/static/{name}")
        assert response.status_code == 200 and response.content == (STATIC / name).read_bytes()
        assert response.headers["x-content-type-options"] == "nosniff"  # the middleware ran
    for path in ("/static/nope.js", "/static/../app.py", "/static/%2e%2e/app.py",
                 "/docs/assets/../../app.py", "/docs/assets/nope.css"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.json()["detail"][0]["type"] == "not_found", path
    response = client.post("/static/common.js")
    assert response.status_code == 405 and response.headers["allow"] == "GET, HEAD"
    assert response.json()["detail"][0]["type"] == "method_not_allowed"


def test_freeze_loaded_objects_takes_them_out_of_full_collections() -> None:
    from convrec.web.app import freeze_loaded_objects

    kept = [[index] for index in range(1000)]  # long-lived objects the collector tracks
    before = gc.get_freeze_count()
    try:
        assert freeze_loaded_objects() >= before + len(kept)
        tracked = {id(o) for o in gc.get_objects(generation=2)}
        assert not any(id(item) in tracked for item in kept)
    finally:
        gc.unfreeze()
