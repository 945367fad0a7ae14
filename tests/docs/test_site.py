"""The documentation site builds strictly, and a broken reference fails the build.

The notebooks are rendered as stored (``CONVREC_DOCS_EXECUTE=false``, as ``make docs`` builds
them too): ``make notebooks`` stores one complete run, and ``test_tutorials.py`` executes them.
``CONVREC_DOCS_EXECUTE=true make docs`` re-runs them during the build instead.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.docs.conftest import ROOT, TUTORIALS

# a strict build takes about a minute on two quiet cores, 2 to 3 under load: the timeouts
# (a build's, and the test's, which includes the module's site build) stop a hung build only
BUILD_TIMEOUT_S = 600
pytestmark = [pytest.mark.slow, pytest.mark.timeout(2 * BUILD_TIMEOUT_S)]


def _build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CONVREC_DOCS_EXECUTE": "false", "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)],
        cwd=config.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    result = _build(ROOT / "mkdocs.yml", out)
    assert result.returncode == 0, f"mkdocs build failed:\n{result.stderr[-6000:]}"
    assert "WARNING" not in result.stderr, result.stderr
    return out


def test_every_page_is_built(site: Path) -> None:
    pages = [
        "index.html",
        "cli/index.html",
        "shapes/index.html",
        "api/conv/index.html",
        "api/shapes/index.html",
        "api/data/index.html",
        "api/vision/index.html",
        "api/recsys/index.html",
    ]
    pages += [f"tutorials/{nb.stem}/index.html" for nb in sorted(TUTORIALS.glob("*.ipynb"))]
    missing = [p for p in pages if not (site / p).is_file()]
    assert not missing, f"pages not built: {missing}"


def test_api_reference_comes_from_the_docstrings(site: Path) -> None:
    conv = (site / "api/conv/index.html").read_text(encoding="utf-8")
    # one anchor per documented object, with its docstring text
    for obj in ["functional.conv2d", "kernels.edge_weights", "shapes.explain", "matmul.im2col"]:
        assert f'id="convrec.conv.{obj}"' in conv, obj
    assert "2-D cross-correlation, like" in conv  # conv2d's summary line
    shapes = (site / "api/shapes/index.html").read_text(encoding="utf-8")
    assert 'id="convrec.shapes.trace"' in shapes


def test_cli_page_lists_every_command(site: Path, cli_reference: ModuleType) -> None:
    page = (site / "cli/index.html").read_text(encoding="utf-8")
    for path in cli_reference.command_paths():
        assert f"<code>{' '.join(path)}</code>" in page, path


def test_tutorials_are_rendered_with_their_code(site: Path) -> None:
    page = (site / "tutorials/magic-of-convolutions/index.html").read_text(encoding="utf-8")
    assert "The magic of convolutions" in page
    assert "conv_matrix(top_edge, x3.shape)" in page


def test_links_in_the_tutorials_resolve(site: Path) -> None:
    """mkdocs does not check links inside notebooks: every relative link must hit a page."""
    broken, checked = [], 0
    for page in (site / "tutorials").glob("*/index.html"):
        for href in re.findall(r'<a [^>]*href="([^"#]+)(?:#[^"]*)?"', page.read_text("utf-8")):
            if "://" in href or href.startswith(("mailto:", "data:")):
                continue
            checked += 1
            target = (page.parent / href).resolve()
            if not (target.is_file() or (target / "index.html").is_file()):
                broken.append(f"{page.parent.name}: {href}")
    assert checked >= 3 and not broken, (checked, broken)


def test_site_needs_no_network(site: Path) -> None:
    """No script, stylesheet or font is fetched from another host when a page is viewed."""
    offenders = []
    for html in site.rglob("*.html"):
        text = html.read_text(encoding="utf-8")
        for marker in ('src="http', "src='http", 'rel="stylesheet" href="http', "@import url(http"):
            if marker in text:
                offenders.append(f"{html.relative_to(site)}: {marker}")
    assert not offenders, offenders


#: broken references, each with the name the build must report
BROKEN = {
    "[conv2d][convrec.conv.functional.no_such_function]\n": "no_such_function",
    "[the tutorial](tutorials/no-such-page.md)\n": "no-such-page.md",
}


def test_a_broken_reference_fails_the_build(tmp_path: Path) -> None:
    """The real configuration, on a one-page site (a full build here would take minutes).

    One build holds every kind of broken reference: a strict build reports each warning
    before it aborts, so each is checked by its own name in the report."""
    docs = tmp_path / "docs"
    docs.mkdir()
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    config = config.replace("paths: [src]", f"paths: [{ROOT / 'src'}]")
    config = re.sub(r"(?m)^hooks:\n(?:  .*\n)+", "", config)  # no generated CLI page
    config = config[: config.index("\nnav:")] + "\nnav:\n  - Home: index.md\n"
    (tmp_path / "mkdocs.yml").write_text(config, encoding="utf-8")
    good = (  # a reference resolves only to an object rendered on the site
        "# Home\n\n::: convrec.conv.functional.conv2d\n\n"
        "[conv2d][convrec.conv.functional.conv2d] exists.\n\n"
    )
    (docs / "index.md").write_text(good, encoding="utf-8")
    assert _build(tmp_path / "mkdocs.yml", tmp_path / "ok").returncode == 0  # the control
    (docs / "index.md").write_text(good + "\n".join(BROKEN), encoding="utf-8")
    result = _build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert result.returncode != 0
    unreported = [name for name in BROKEN.values() if name not in result.stderr]
    assert not unreported, f"not reported: {unreported}\n{result.stderr[-3000:]}"
