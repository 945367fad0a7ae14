"""Movie metadata lookup, the trained recommender of a release, and results with titles.

This is the surface the CLI and the studio use; it never asks which model is inside. Titles,
search and explanations always come from the release the model was trained on: a model file
stores the release name and the fingerprint of its catalogue
(:class:`~convrec.recsys.persistence.Provenance`) and :func:`load_recommender` refuses a model
whose catalogue is not the one it finds.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from convrec.data.movielens import (
    DEFAULT_RELEASE,
    Movies,
    load_movielens,
    release,
)
from convrec.data.registry import RatingScale
from convrec.recsys.base import Recommendation, Recommender
from convrec.recsys.persistence import ModelFileError, Provenance, load_model, rebuild_command
from convrec.recsys.ratings import Ratings
from convrec.recsys.registry import DEFAULT_MODEL
from convrec.settings import Settings, resolve_settings

__all__ = [
    "DEFAULT_DATASET",
    "DEFAULT_MODEL_FILE",
    "DEFAULT_MODEL_TYPE",
    "AmbiguousTitleError",
    "MovieCatalog",
    "MovieInfo",
    "MovieRecommender",
    "NoMatchError",
    "RecommenderLike",
    "ScoredMovie",
    "default_model_path",
    "get_default_recommender",
    "load_recommender",
    "provenance_for",
    "release_catalog",
]

DEFAULT_DATASET = DEFAULT_RELEASE
#: the default ranks with EASE + recency and shows Bayesian MF's predicted ratings
#: (benchmarks/bench_foldin.py: new users' HR@10 several times popularity's and BayesianMF's)
DEFAULT_MODEL_TYPE = DEFAULT_MODEL  # one home: the model registry
DEFAULT_MODEL_FILE = f"{DEFAULT_DATASET}-{DEFAULT_MODEL_TYPE}.npz"

#: a search hit below this score is "no match" (fuzzy ratios of unrelated titles reach ~0.5)
MIN_SCORE = 0.6
#: hits within this much of the best are candidates: the query is ambiguous
AMBIGUOUS_GAP = 0.03
#: the highest fuzzy score (difflib's ratio 1.0); every whole-word match scores above it
MAX_FUZZY = 0.8


@dataclass(frozen=True)
class MovieInfo:
    """One movie: original id, title, year (-1 unknown), genres."""

    movie_id: int
    title: str
    year: int
    genres: tuple[str, ...]


@dataclass(frozen=True)
class ScoredMovie:
    """A recommended or similar movie with its score and an explanation string.

    ``is_rating`` is True when ``score`` is a predicted rating on the dataset's scale (a rating
    model); otherwise it is a ranking score or a similarity and must not be called "predicted".
    """

    movie_id: int
    title: str
    score: float
    explanation: str
    is_rating: bool = False


class NoMatchError(KeyError):
    """No title is close enough to the query; the message names the query."""


class AmbiguousTitleError(KeyError):
    """Several titles match the query about equally; the message lists them with their ids."""

    def __init__(self, message: str, candidates: Sequence[MovieInfo]) -> None:
        super().__init__(message)
        self.candidates = tuple(candidates)


_ARTICLES = ("the", "a", "an", "les", "la", "le", "l'", "il", "das", "der", "die", "el")
_TRAILING_ARTICLE = re.compile(
    r"^(.*), (The|A|An|Les|La|Le|L'|Il|Das|Der|Die|El)( \(.*\))?$", re.IGNORECASE)
_YEAR = re.compile(r"\s*\((\d{4})\)\s*$")
_BARE_ARTICLE = re.compile(r"^(?:" + "|".join(a for a in _ARTICLES if a != "l'") + r") |^l'")


def _fold(text: str) -> str:
    """Lower-case ASCII words, the article in front: "Misérables, Les (1995)" reads
    "les miserables (1995)"; "Amélie" reads "amelie"."""
    m = _TRAILING_ARTICLE.match(text.strip())
    if m:
        text = f"{m.group(2)} {m.group(1)}{m.group(3) or ''}"
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    text = re.sub(r"[^\w()' ]+", " ", text.lower())
    return " ".join(text.split())


def _forms(folded: str) -> tuple[str, str]:
    """``(without the year, without the year and the leading article)``."""
    no_year = _YEAR.sub("", folded).strip()
    return no_year, _BARE_ARTICLE.sub("", no_year).strip()


class MovieCatalog:
    """Id → :class:`MovieInfo`, and title search that knows when nothing matches."""

    def __init__(self, movies: Movies, dataset: str | None = None,
                 _keys: tuple[list[str], list[tuple[str, str]]] | None = None,
                 source: str | None = None) -> None:
        self.movies = movies
        self.dataset = dataset
        # what the faces name as the catalogue's origin: the release, or a ratings file's name
        self.source = source or dataset or "your ratings"
        self._by_id = {int(m): k for k, m in enumerate(movies.ids.tolist())}
        if _keys is None:  # the search keys; release_catalog() passes those it cached
            folded = [_fold(t) for t in movies.titles]
            _keys = folded, [_forms(f) for f in folded]
        self._folded, self._forms = _keys

    def __len__(self) -> int:
        return len(self.movies)

    def __contains__(self, movie_id: object) -> bool:
        try:
            return int(movie_id) in self._by_id  # type: ignore[call-overload]
        except (TypeError, ValueError):
            return False

    def fingerprint(self) -> str:
        """The catalogue's fingerprint (see :meth:`convrec.data.movielens.Movies.fingerprint`)."""
        return self.movies.fingerprint()

    def get(self, movie_id: object) -> MovieInfo:
        """Metadata of a movie id (raises ``KeyError`` naming the id)."""
        try:
            k = self._by_id[int(movie_id)]  # type: ignore[call-overload]
        except (KeyError, TypeError, ValueError):
            where = f" in {self.dataset}" if self.dataset else ""
            raise KeyError(f"no movie has id {movie_id!r}{where}") from None
        m = self.movies
        return MovieInfo(int(m.ids[k]), m.titles[k], int(m.years[k]), m.genres[k])

    def title(self, movie_id: object) -> str:
        """The title, or ``"movie <id>"`` when the id is not in the catalogue."""
        try:
            k = self._by_id.get(int(movie_id))  # type: ignore[call-overload]
        except (TypeError, ValueError):
            k = None
        return self.movies.titles[k] if k is not None else f"movie {movie_id}"

    def _word_score(self, k: int, q: str, q_forms: tuple[str, str]) -> float:
        """Title ``k``'s score for the folded query ``q`` by whole words: exact (1.0), without
        the article (0.98), prefix (≤ 0.95), whole words (≤ 0.9), word prefixes (≤ 0.85);
        0 when none applies (then only :meth:`_fuzzy_score` can match). Every such score is
        above :data:`MAX_FUZZY`, so a fuzzy hit never outranks one."""
        t = self._folded[k]
        t_no_year, t_bare = self._forms[k]
        q_no_year, q_bare = q_forms
        if q == t or (q_no_year and q_no_year == t_no_year and q == q_no_year):
            return 1.0
        if q_bare and q_bare == t_bare and q == q_no_year:
            return 0.98  # "godfather" for "Godfather, The (1972)"
        for form in (t, t_bare):
            if form.startswith(q_bare) and (len(form) == len(q_bare)
                                           or not form[len(q_bare)].isalnum()):
                return 0.95 - 0.001 * min(len(form) - len(q_bare), 40)
        words = t.split()
        if q_bare and f" {q_bare} " in f" {t} ":
            return 0.9 - 0.001 * min(len(t) - len(q_bare), 40)
        q_words = q_bare.split()
        if q_words and all(any(w.startswith(x) for w in words) for x in q_words):
            return 0.85 - 0.001 * min(len(t), 40)
        return 0.0

    def _fuzzy_score(self, k: int, q_forms: tuple[str, str], floor: float) -> float:
        """``MAX_FUZZY`` × difflib's ratio of title ``k`` and the query (without the year,
        and without the year and the article), computed only where difflib's cheap upper
        bounds (as in ``get_close_matches``) could still reach ``floor``: the full ratio on
        all 10k titles of a later release took about 0.1 s per query. Under ``floor`` it may
        come back as 0 (the caller drops it either way)."""
        t_no_year, t_bare = self._forms[k]
        q_no_year, q_bare = q_forms
        cutoff = floor / MAX_FUZZY
        ratio = 0.0
        for a, b in ((q_bare, t_bare), (q_no_year, t_no_year)):
            matcher = difflib.SequenceMatcher(None, a, b)
            if (matcher.real_quick_ratio() >= cutoff and matcher.quick_ratio() >= cutoff
                    and (r := matcher.ratio()) > ratio):
                ratio = r
        return MAX_FUZZY * ratio

    def _ranked(self, query: str, n: int, min_score: float, fuzzy_below: float = 2.0
                ) -> list[tuple[float, int]]:
        """``[(score, row)]``, best first, at most ``n``. The fuzzy pass (the slow one) runs
        only when it can change the answer: fewer than ``n`` word hits, and the best word
        hit under ``fuzzy_below``."""
        q = _fold(query)
        if not q:
            raise ValueError(f"query must contain letters or digits, got {query!r}")
        if n < 1:
            raise ValueError(f"n must be at least 1, got n={n}")
        q_forms = _forms(q)
        # every word match has the query's longest word inside the title: one substring test
        # rejects most titles before the cascade
        probe = max(q_forms[1].split(), key=len, default="")
        words = [self._word_score(k, q, q_forms) if probe in t else 0.0
                 for k, t in enumerate(self._folded)]
        scored = [(s, k) for k, s in enumerate(words) if s >= min_score]
        best = max((s for s, _ in scored), default=0.0)
        if len(scored) < n and best < fuzzy_below:
            scored += [(s, k) for k, w in enumerate(words) if w == 0.0
                       and (s := self._fuzzy_score(k, q_forms, min_score)) >= min_score]
        scored.sort(key=lambda x: (-x[0], x[1]))
        return scored[:n]

    def search(self, query: str, n: int = 5, min_score: float = MIN_SCORE
               ) -> list[tuple[MovieInfo, float]]:
        """Titles matching ``query`` with a 0..1 score, best first: exact (1.0), without the
        article (0.98), prefix (0.95), whole words (0.9), word prefixes (0.85), then fuzzy.
        Case, accents, punctuation and articles ("The Godfather" = "Godfather, The") are
        ignored. Hits below ``min_score`` are left out, so no hit means no match."""
        return [(self.get(int(self.movies.ids[k])), round(s, 4))
                for s, k in self._ranked(query, n, min_score)]

    def find(self, query: str) -> MovieInfo:
        """The one movie a title means.

        Raises:
            NoMatchError: nothing scores at least :data:`MIN_SCORE`.
            AmbiguousTitleError: several titles match about equally (e.g. "star"); the
                message lists them with their ids (``id:N`` picks one).
        """
        # a fuzzy hit (≤ MAX_FUZZY) can only matter when the best word hit is within
        # AMBIGUOUS_GAP of it
        hits = [(self.get(int(self.movies.ids[k])), round(s, 4)) for s, k in
                self._ranked(query, _FIND_LIMIT, MIN_SCORE,
                             fuzzy_below=MAX_FUZZY + AMBIGUOUS_GAP)]
        where = f" in {self.dataset}" if self.dataset else ""
        if not hits:
            raise NoMatchError(f"no movie matches {query!r}{where}; try fewer words, or the "
                               "title as MovieLens writes it, e.g. \"Godfather, The (1972)\"")
        best = hits[0][1]
        close = [h for h, s in hits if s >= best - AMBIGUOUS_GAP]
        if best >= 1.0 and sum(1 for _, s in hits if s >= 1.0) == 1:
            return hits[0][0]
        if len(close) == 1:
            return close[0]
        shown = close[:_AMBIGUOUS_SHOWN]
        names = "; ".join(f"{h.title} (id:{h.movie_id})" for h in shown)
        # the ranking stops at _FIND_LIMIT hits, so a full list may hide more
        count = f"{len(close)} or more" if len(close) == _FIND_LIMIT else str(len(close))
        more = f" and {len(close) - len(shown)} more" if len(close) > len(shown) else ""
        raise AmbiguousTitleError(f"{query!r} matches {count} movies{where}: {names}{more}; "
                                  "give the full title or id:N", close)


def _is_number(text: str) -> bool:
    """Whether ``text`` reads as a float (``"5"``, ``" 4.5 "``)."""
    try:
        float(text)
    except ValueError:
        return False
    return True


#: how many hits :meth:`MovieCatalog.find` ranks, and how many an ambiguity error names
_FIND_LIMIT = 8
_AMBIGUOUS_SHOWN = 6


class RecommenderLike(Protocol):
    """What the studio uses of a recommender (:class:`MovieRecommender` implements it)."""

    model: Recommender
    catalog: MovieCatalog
    dataset: str | None
    scale: RatingScale

    def recommend(self, user_id: object, n: int = 10) -> list[ScoredMovie]: ...

    def recommend_for_ratings(self, ratings: Mapping[int, float], n: int = 10,
                              exclude_seen: bool = True) -> list[ScoredMovie]: ...

    def similar_items(self, movie_id: int, n: int = 10) -> list[ScoredMovie]: ...

    def check_ratings(self, ratings: Mapping[Any, object]) -> dict[int, float]: ...

    def parse_ratings(self, pairs: Iterable[str]) -> dict[int, float]: ...


class MovieRecommender:
    """A fitted model plus the catalogue of its release: every result carries titles and
    honest explanations, and ratings are checked against the release's scale."""

    def __init__(self, model: Recommender, catalog: MovieCatalog,
                 scale: RatingScale | None = None) -> None:
        self.model = model
        self.catalog = catalog
        self.dataset = catalog.dataset
        if scale is None:
            prov = getattr(model, "provenance_", None)
            if prov is not None and prov.scale is not None:
                scale = RatingScale(*prov.scale)
            elif catalog.dataset is not None:
                entry = release(catalog.dataset)
                assert entry.ratings is not None
                scale = entry.ratings.scale
            else:
                lo, hi = model.rating_range_
                scale = RatingScale(lo, hi, 0.5)
        self.scale = scale

    # --- ratings in -----------------------------------------------------------------------
    def check_ratings(self, ratings: Mapping[Any, object]) -> dict[int, float]:
        """``{movie id: rating}`` validated: every id in the catalogue, every rating on the
        release's scale (``ValueError``/``KeyError`` in one line naming the movie)."""
        fast = self._check_plain(ratings)
        if fast is not None:
            return fast
        out: dict[int, float] = {}
        for movie_id, value in ratings.items():
            info = self.catalog.get(movie_id)
            out[info.movie_id] = self.scale.check(value, f"the rating of {info.title}")
        return out

    def _check_plain(self, ratings: Mapping[Any, object]) -> dict[int, float] | None:
        """:meth:`check_ratings` for the request's usual case (int ids of the catalogue, int
        or float ratings, all on the scale) with one vectorised scale test; None for anything
        else, which the one-movie-at-a-time loop then reports (the same errors, the same
        order)."""
        known = self.catalog._by_id
        out: dict[int, float] = {}
        for movie_id, value in ratings.items():
            if type(movie_id) is not int or movie_id not in known or (
                    type(value) is not float and type(value) is not int):
                return None
            out[movie_id] = float(value)
        if out and self.scale.off_scale(np.fromiter(out.values(), np.float64, len(out))).any():
            return None
        return out

    def parse_ratings(self, pairs: Iterable[str]) -> dict[int, float]:
        """Parse ``"TITLE=RATING"`` / ``"id:ID=RATING"`` pairs into ``{movie id: rating}``.

        A bare number before ``=`` is refused (``"50=5"`` would silently mean a title with 50
        in it): write ``id:50=5``. A movie named twice is refused by name.

        Raises:
            ValueError: a malformed pair, a rating off the scale, a duplicated movie.
            KeyError: no or several matching titles (:class:`NoMatchError`,
                :class:`AmbiguousTitleError`), an unknown id.
        """
        out: dict[int, float] = {}
        given: dict[int, str] = {}
        for pair in pairs:
            if "=" not in pair:
                raise ValueError(f"each rating must be TITLE=RATING or id:ID=RATING, got "
                                 f"{pair!r}")
            query, _, text = pair.rpartition("=")
            query = query.strip()
            if "=" in query and (query.endswith("=") or _is_number(query.rpartition("=")[2])):
                # "star wars==5", "star wars=5=4": a typo, not a title with "=" in it
                raise ValueError(f"{pair!r} has more than one rating; write TITLE=RATING once, "
                                 f"e.g. \"star wars=5\"")
            try:
                value: object = float(text)
            except ValueError:
                raise ValueError(f"the rating in {pair!r} must be a number "
                                 f"({self.scale.describe()}), got {text.strip()!r}") from None
            if query.lower().startswith("id:"):
                raw_id = query[3:].strip()
                if not raw_id.isdigit():
                    raise ValueError(f"{pair!r}: id: must be followed by a movie id, e.g. "
                                     "id:50=5")
                info = self.catalog.get(int(raw_id))
            elif query.isdigit():
                raise ValueError(f"{pair!r}: a bare number is not a title; write "
                                 f"id:{query}={text.strip()} for movie id {query}, or the title")
            else:
                info = self.catalog.find(query)
            if info.movie_id in out:
                raise ValueError(f"{info.title} (id:{info.movie_id}) is rated twice "
                                 f"({given[info.movie_id]!r} and {pair!r}); rate each movie once")
            out[info.movie_id] = self.scale.check(value, f"the rating of {info.title}")
            given[info.movie_id] = pair
        return out

    # --- results out ----------------------------------------------------------------------
    def _explain(self, because: tuple[Any, ...], rated: Mapping[Any, float],
                 mean: float | None = None) -> str:
        """Why a movie is shown; ``mean`` is the user's mean rating (computed when None)."""
        if not because or not rated:
            return "popular with users like you"
        if mean is None:
            mean = float(np.mean(list(rated.values())))
        liked = [b for b in because if rated.get(b, -np.inf) > mean
                 or (len(rated) == 1 and rated.get(b, -np.inf) > self._midpoint())]
        if not liked:
            return "liked by users who rated movies as you did"
        names = " and ".join(f"“{self.catalog.title(b)}”" for b in liked)
        return f"because you rated {names} highly"

    def _midpoint(self) -> float:
        return (self.scale.low + self.scale.high) / 2

    def _scored(self, rec: Recommendation, rated: Mapping[Any, float],
                mean: float | None = None) -> ScoredMovie:
        # the predicted rating when the model has one (a hybrid ranks by a score but shows
        # its rating model's prediction); a ranking score is never called a rating
        if rec.rating is not None:
            value = float(min(max(float(rec.rating), self.scale.low), self.scale.high))
            rates = True
        else:
            value, rates = float(rec.score), False
        return ScoredMovie(int(rec.item_id), self.catalog.title(rec.item_id), value,
                           self._explain(rec.because, rated, mean), rates)

    def _user_profile(self, user_id: object) -> dict[Any, float]:
        u = self.model.user_index(user_id)
        if u < 0:
            return {}
        lo, hi = self.model.seen_indptr_[u], self.model.seen_indptr_[u + 1]
        items = self.model.item_ids_[self.model.seen_items_[lo:hi]].tolist()
        return dict(zip(items, self.model.seen_ratings_[lo:hi].tolist(), strict=True))

    def recommend(self, user_id: object, n: int = 10) -> list[ScoredMovie]:
        """Top-``n`` for a known user, seen movies excluded."""
        recs = self.model.recommend(user_id, n)
        profile = self._user_profile(user_id)
        return [self._scored(r, profile) for r in recs]

    def fold_in(self, ratings: Mapping[int, float]) -> NDArray[np.float64]:
        """A user vector for ``{original movie id: rating}`` (ratings checked on the scale)."""
        return self.model.fold_in(self.check_ratings(ratings))

    def recommend_for_ratings(self, ratings: Mapping[int, float], n: int = 10,
                              exclude_seen: bool = True) -> list[ScoredMovie]:
        """Recommendations for a brand-new user from a handful of ratings (no retraining);
        the ratings are checked against the release's scale first."""
        checked = self.check_ratings(ratings)
        vec = self.model.fold_in(checked)
        exclude = list(checked) if exclude_seen else []
        recs = self.model.recommend_vector(vec, n, exclude=exclude, rated=checked)
        # once per call; ratings on the scale's steps sum exactly, so this is np.mean's value
        mean = sum(checked.values()) / len(checked) if checked else None
        return [self._scored(r, checked, mean) for r in recs]

    def similar_items(self, movie_id: int, n: int = 10) -> list[ScoredMovie]:
        """Movies closest to ``movie_id`` by cosine on the model's item vectors."""
        title = self.catalog.title(movie_id)
        return [ScoredMovie(int(i), self.catalog.title(i), s, f"similar to “{title}”")
                for i, s in self.model.similar_items(movie_id, n)]


#: bump when the cached catalogue's layout changes (the search keys' code is hashed anyway)
_CATALOGUE_CACHE_VERSION = 1


def _keys_code() -> str | None:
    """A digest of this module's source: the search keys (``_fold``, ``_forms``) live here,
    so a cached catalogue made by other code is never used. None when unreadable."""
    import hashlib

    try:
        return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]
    except OSError:
        return None


def release_catalog(name: str, settings: Settings, download: bool = True
                    ) -> tuple[MovieCatalog, Path]:
    """The catalogue of a release and the folder it came from, from a compact cache when the
    movies file is the one the cache was made from (its path, size and modification time):
    ids, titles, years, genres and the folded search keys, as JSON in
    ``settings.cache_dir/catalogues/``. Otherwise the movies file is parsed and the cache
    (re)written; a cache that cannot be written is skipped. Parsing and folding are most of a
    fresh process's catalogue time (ML-100K's 1,682 titles; ml-latest has 86k)."""
    import hashlib
    import json
    import os
    import tempfile

    from convrec.data.movielens import locate_release, read_movies

    entry = release(name)
    assert entry.ratings is not None
    folder = locate_release(name, settings, download=download)
    path = (folder / entry.ratings.movies_file).resolve()
    stat = path.stat()
    code = _keys_code()
    key = [_CATALOGUE_CACHE_VERSION, code, str(path), stat.st_size, stat.st_mtime_ns]
    where = hashlib.sha256(str(path).encode()).hexdigest()[:12]
    cache = settings.cache_dir / "catalogues" / f"{name}-{where}.json"
    if code is not None:
        try:
            data = json.loads(cache.read_text(encoding="utf-8"))
            if data["key"] == key:
                movies = Movies(ids=np.asarray(data["ids"], dtype=np.int64),
                                titles=tuple(data["titles"]),
                                years=np.asarray(data["years"], dtype=np.int64),
                                genres=tuple(tuple(g) for g in data["genres"]))
                keys = data["folded"], [(a, b) for a, b in data["forms"]]
                return MovieCatalog(movies, name, keys), folder
        except (OSError, ValueError, KeyError, TypeError):
            pass  # absent, torn or another layout: parse the movies file
    catalog = MovieCatalog(read_movies(path), name)
    if code is not None:
        m = catalog.movies
        blob = json.dumps({"key": key, "ids": m.ids.tolist(), "titles": list(m.titles),
                           "years": m.years.tolist(), "genres": [list(g) for g in m.genres],
                           "folded": catalog._folded, "forms": catalog._forms},
                          ensure_ascii=False)
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=cache.name + ".", suffix=".tmp", dir=cache.parent)
        except OSError:
            return catalog, folder  # a read-only cache: parse again next time
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(blob)
            os.replace(tmp, cache)  # atomic: a reader sees the old file or the new one
        except OSError:
            Path(tmp).unlink(missing_ok=True)
    return catalog, folder


def default_model_path(settings: Settings, dataset: str = DEFAULT_DATASET,
                       model_type: str = DEFAULT_MODEL_TYPE) -> Path:
    """Where ``convrec movies train --dataset D --model-type M`` writes without ``--out``
    (and where the default recommender of a release is looked for)."""
    return settings.cache_dir / "models" / f"{dataset}-{model_type}.npz"


def provenance_for(dataset: str | None, movies: Movies | None,
                   scale: RatingScale | None, ratings_file: Path | None = None,
                   movies_file: Path | None = None) -> Provenance:
    """The provenance a model trained on ``dataset`` stores; for one trained on a ratings
    file, that file and the movies file beside it (so that it is shown with that file's
    titles or ids, never another release's)."""
    return Provenance(dataset, movies.fingerprint() if movies is not None else None,
                      (scale.low, scale.high, scale.step) if scale is not None else None,
                      str(ratings_file.resolve()) if ratings_file is not None else None,
                      str(movies_file.resolve()) if movies_file is not None else None)


def _catalog_for(model: Recommender, path: Path, dataset: str | None,
                 settings: Settings) -> MovieCatalog:
    """The catalogue of the release ``model`` was trained on, checked against its file."""
    prov: Provenance = getattr(model, "provenance_", None) or Provenance()
    trained_on = prov.dataset
    if dataset is not None and trained_on is not None and dataset != trained_on:
        raise ModelFileError(
            f"{path} was trained on {trained_on}, not --dataset {dataset}; use --dataset "
            f"{trained_on}, or train one for {dataset}: `convrec movies train --dataset "
            f"{dataset}`")
    if trained_on is None and dataset is None and prov.ratings_file is not None:
        return _file_catalog(model, path, prov)
    name = trained_on or dataset or DEFAULT_DATASET
    catalog, folder = release_catalog(name, settings)
    if prov.catalogue is not None and prov.catalogue != catalog.fingerprint():
        raise ModelFileError(
            f"{path} was trained on a {name} whose movies differ from the {name} in "
            f"{folder} (catalogue {prov.catalogue} against {catalog.fingerprint()}); "
            f"retrain it on this copy: `{rebuild_command(path, None, name)}`")
    if prov.catalogue is None:  # an older or hand-made file: at least every id must exist
        missing = [i for i in model.item_ids_.tolist() if i not in catalog]
        if missing:
            raise ModelFileError(
                f"{path} knows movie ids that {name} does not have (e.g. {missing[0]}): it was "
                f"trained on another release; pass its --dataset or retrain: "
                f"`{rebuild_command(path, None, name)}`")
    return catalog


def _file_catalog(model: Recommender, path: Path, prov: Provenance) -> MovieCatalog:
    """The catalogue of a model trained on a ratings file (``train --ratings``): the movies
    file that lay beside it, else the model's own ids as titles ("movie 42")."""
    from convrec.data.movielens import read_movies

    fix = rebuild_command(path, None, None, prov.ratings_file)
    if prov.movies_file is not None:
        movies_path = Path(prov.movies_file)
        if not movies_path.is_file():
            raise ModelFileError(
                f"{path} takes its titles from {movies_path}, which is not there any more; "
                f"put it back, or train again without it: `{fix}`")
        movies = read_movies(movies_path)
        if prov.catalogue is not None and prov.catalogue != movies.fingerprint():
            raise ModelFileError(
                f"{path} was trained with the titles in {movies_path}, which have changed "
                f"since (catalogue {prov.catalogue} against {movies.fingerprint()}); train it "
                f"again: `{fix}`")
        return MovieCatalog(movies, None, source=Path(prov.ratings_file or movies_path).name)
    raw = np.asarray(model.item_ids_)
    try:
        ids = raw.astype(np.int64)
    except ValueError:
        raise ModelFileError(
            f"{path} was trained on {prov.ratings_file}, whose item ids are not numbers (e.g. "
            f"{str(raw[0])!r}), and the movies commands take numeric movie ids; use the Python "
            f"API (convrec.recsys: load_model({str(path)!r}).recommend(...) takes any ids), or "
            f"number the items and train again: `{fix}`") from None
    n = len(ids)
    movies = Movies(ids=ids, titles=tuple(f"movie {i}" for i in ids.tolist()),
                    years=np.full(n, -1, dtype=np.int64), genres=((),) * n)
    return MovieCatalog(movies, None, source=Path(prov.ratings_file or path).name)


def load_recommender(model_path: Path | str | None = None, dataset: str | None = None,
                     data_dir: Path | str | None = None, settings: Settings | None = None,
                     progress: bool = True) -> MovieRecommender:
    """The recommender the CLI and the studio serve.

    With ``model_path``: that model, with the titles of the release it was trained on (its
    file says which; ``dataset`` must agree). Without: the default model of ``dataset``
    (default ML-100K; the studio passes its ``--dataset``) from the cache, trained and saved
    on first use. ``data_dir`` is a notebook's ``--data-dir``, folded into ``settings`` here.

    Raises:
        ModelFileError: a torn or foreign file, or a model of another release (one line with
            the command that fixes it).
        DatasetNotFoundError: the release is not available.
    """
    settings = resolve_settings(settings, data_dir)
    if model_path is not None:
        path = Path(model_path)
        model = load_model(path)
        catalog = _catalog_for(model, path, dataset, settings)
        return MovieRecommender(model, catalog)
    return get_default_recommender(settings, progress=progress, dataset=dataset)


def get_default_recommender(settings: Settings | None = None,
                            data_dir: Path | str | None = None,
                            progress: bool = True,
                            dataset: str | None = None) -> MovieRecommender:
    """The default recommender of a release (``dataset``, default ML-100K): loads
    ``settings.cache_dir / "models" / <dataset>-<DEFAULT_MODEL_TYPE>.npz`` when present, else
    trains :data:`DEFAULT_MODEL_TYPE` on all of the release and saves it there atomically. A
    torn or foreign file there is reported (:class:`ModelFileError`, with the command that
    rebuilds it), never silently replaced. ``data_dir`` is a notebook's ``--data-dir``, folded
    into ``settings`` here."""
    from convrec.recsys.registry import model_spec

    settings = resolve_settings(settings, data_dir)
    dataset = dataset or DEFAULT_DATASET
    path = default_model_path(settings, dataset)
    if path.is_file():
        try:
            model = load_model(path)
        except ModelFileError as exc:  # the fix that rewrites exactly this default file
            reason = str(exc).split("; rebuild it with", 1)[0]
            raise ModelFileError(f"the default {dataset} model: {reason}; rebuild it with "
                                 f"`convrec movies train --dataset {dataset}`") from None
        return MovieRecommender(model, _catalog_for(model, path, dataset, settings))
    data = load_movielens(dataset, settings=settings)
    entry = release(dataset)
    assert entry.ratings is not None
    ratings = Ratings.from_raw(data.ratings, None, data.movies.ids)
    model = model_spec(DEFAULT_MODEL_TYPE).create(progress=progress).fit(ratings)
    model.save(path, provenance_for(dataset, data.movies, entry.ratings.scale))
    return MovieRecommender(model, MovieCatalog(data.movies, dataset))
