"""Movie metadata lookup, the default trained recommender, and recommendations with titles.

This is the surface the CLI and the studio use; it never asks which model is inside.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from convrec.data.movielens import Movies, load_movielens
from convrec.recsys.base import Recommender, load_model
from convrec.recsys.ratings import Ratings
from convrec.settings import Settings, get_settings

__all__ = [
    "DEFAULT_MODEL_FILE",
    "MovieCatalog",
    "MovieInfo",
    "MovieRecommender",
    "ScoredMovie",
    "get_default_recommender",
]

DEFAULT_MODEL_FILE = "ml-100k-bayesian-mf.npz"


@dataclass(frozen=True)
class MovieInfo:
    """One movie: original id, title, year (-1 unknown), genres."""

    movie_id: int
    title: str
    year: int
    genres: tuple[str, ...]


@dataclass(frozen=True)
class ScoredMovie:
    """A recommended or similar movie with its score and an explanation string."""

    movie_id: int
    title: str
    score: float
    explanation: str


_ARTICLE = re.compile(r"^(.*), (The|A|An|Les|La|Le|L'|Il|Das|Der|Die|El)( \(.*\))?$")


def _fold(text: str) -> str:
    """Lower-case ASCII words; "Misérables, Les (1995)" reads "les miserables (1995)"."""
    m = _ARTICLE.match(text.strip())
    if m:
        text = f"{m.group(2)} {m.group(1)}{m.group(3) or ''}"
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return " ".join(text.lower().replace(",", " ").split())


class MovieCatalog:
    """Id → :class:`MovieInfo`, and fuzzy title search."""

    def __init__(self, movies: Movies) -> None:
        self.movies = movies
        self._by_id = {int(m): k for k, m in enumerate(movies.ids.tolist())}
        self._folded = [_fold(t) for t in movies.titles]

    def __len__(self) -> int:
        return len(self.movies)

    def __contains__(self, movie_id: object) -> bool:
        try:
            return int(movie_id) in self._by_id  # type: ignore[call-overload]
        except (TypeError, ValueError):
            return False

    def get(self, movie_id: object) -> MovieInfo:
        """Metadata of a movie id (raises ``KeyError`` naming the id)."""
        try:
            k = self._by_id[int(movie_id)]  # type: ignore[call-overload]
        except (KeyError, TypeError, ValueError):
            raise KeyError(f"unknown movie id {movie_id!r}") from None
        m = self.movies
        return MovieInfo(int(m.ids[k]), m.titles[k], int(m.years[k]), m.genres[k])

    def title(self, movie_id: object) -> str:
        """The title, or ``"movie <id>"`` when the id is not in the catalogue."""
        try:
            return self.get(movie_id).title
        except KeyError:
            return f"movie {movie_id}"

    def search(self, query: str, n: int = 5) -> list[tuple[MovieInfo, float]]:
        """Best title matches for ``query`` with a 0..1 score (exact > prefix > substring >
        fuzzy; case, accents and punctuation ignored)."""
        q = _fold(query)
        if not q:
            raise ValueError("query must contain letters or digits, got an empty title")
        scored: list[tuple[float, int]] = []
        for k, t in enumerate(self._folded):
            if t == q:
                s = 1.0
            elif t.startswith(q):
                s = 0.95
            elif q in t:
                s = 0.9
            else:
                s = difflib.SequenceMatcher(None, q, t).ratio() * 0.85
            scored.append((s, k))
        scored.sort(key=lambda x: (-x[0], x[1]))
        return [(self.get(int(self.movies.ids[k])), s) for s, k in scored[:n]]

    def find(self, query: str, min_score: float = 0.5) -> MovieInfo:
        """The single best match for a title (raises ``KeyError`` with suggestions)."""
        hits = self.search(query, n=3)
        if not hits or hits[0][1] < min_score:
            tips = "; ".join(h.title for h, _ in hits)
            raise KeyError(f"no movie matches {query!r}; closest: {tips}")
        return hits[0][0]


class MovieRecommender:
    """A fitted model plus the catalogue: every result carries titles and explanations."""

    def __init__(self, model: Recommender, catalog: MovieCatalog) -> None:
        self.model = model
        self.catalog = catalog

    def _explain(self, because: tuple[Any, ...]) -> str:
        if not because:
            return "popular with users like you"
        names = " and ".join(f"“{self.catalog.title(b)}”" for b in because)
        return f"because you rated {names} highly"

    def recommend(self, user_id: object, n: int = 10) -> list[ScoredMovie]:
        """Top-``n`` for a known user, seen movies excluded."""
        recs = self.model.recommend(user_id, n)
        return [ScoredMovie(int(r.item_id), self.catalog.title(r.item_id), r.score,
                            self._explain(r.because)) for r in recs]

    def fold_in(self, ratings: Mapping[int, float]) -> np.ndarray:
        """A user vector for ``{original movie id: rating}`` (see ``Recommender.fold_in``)."""
        return self.model.fold_in(ratings)

    def recommend_for_ratings(self, ratings: Mapping[int, float], n: int = 10,
                              exclude_seen: bool = True) -> list[ScoredMovie]:
        """Recommendations for a brand-new user from a handful of ratings (no retraining)."""
        vec = self.model.fold_in(ratings)
        exclude = list(ratings) if exclude_seen else []
        recs = self.model.recommend_vector(vec, n, exclude=exclude, rated=ratings)
        return [ScoredMovie(int(r.item_id), self.catalog.title(r.item_id), r.score,
                            self._explain(r.because)) for r in recs]

    def similar_items(self, movie_id: int, n: int = 10) -> list[ScoredMovie]:
        """Movies closest to ``movie_id`` by cosine on the model's item vectors."""
        title = self.catalog.title(movie_id)
        return [ScoredMovie(int(i), self.catalog.title(i), s, f"similar to “{title}”")
                for i, s in self.model.similar_items(movie_id, n)]


def get_default_recommender(settings: Settings | None = None,
                            data_dir: Path | str | None = None,
                            progress: bool = True) -> MovieRecommender:
    """The default movie recommender: loads ``settings.cache_dir / "models" /
    ml-100k-bayesian-mf.npz`` when present, else trains :class:`BayesianMF` on all of
    ML-100K (a few seconds) and saves it there atomically."""
    from convrec.recsys.models.bayes import BayesianMF

    settings = settings or get_settings()
    data = load_movielens("ml-100k", data_dir=data_dir, settings=settings)
    catalog = MovieCatalog(data.movies)
    path = settings.cache_dir / "models" / DEFAULT_MODEL_FILE
    if path.is_file():
        try:
            return MovieRecommender(load_model(path), catalog)
        except ValueError:
            path.unlink()  # unreadable (old format or torn): retrain below
    ratings = Ratings.from_raw(data.ratings, None, data.movies.ids)
    model = BayesianMF(progress=progress).fit(ratings)
    model.save(path)
    return MovieRecommender(model, catalog)
