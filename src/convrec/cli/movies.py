"""``convrec movies ...``: download MovieLens, train, evaluate, recommend, find similar movies,
rate a few movies as a new user."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from convrec.cli.common import DataDirOption, UserError, console

app = typer.Typer(
    help="The movie recommender on MovieLens: download, train, evaluate, recommend.",
    no_args_is_help=True,
)

ModelOption = Annotated[
    Path | None,
    typer.Option("--model", help="A saved model (.npz). Default: the cached default model, "
                 "trained on ML-100K on first use."),
]


def _recommender(data_dir: Path | None, model: Path | None = None):  # type: ignore[no-untyped-def]
    from convrec.recsys import MovieCatalog, MovieRecommender, get_default_recommender, load_model
    from convrec.settings import get_settings

    settings = get_settings(data_dir=data_dir)
    if model is not None:
        from convrec.data.movielens import load_movielens

        movies = load_movielens("ml-100k", data_dir=data_dir, settings=settings).movies
        return MovieRecommender(load_model(model), MovieCatalog(movies))
    return get_default_recommender(settings, data_dir=data_dir, progress=True)


def _print_movies(title: str, rows: list, score_name: str = "score") -> None:  # type: ignore[type-arg]
    table = Table(title=title)
    table.add_column("#", justify="right")
    table.add_column("movie")
    table.add_column(score_name, justify="right")
    table.add_column("why")
    for k, r in enumerate(rows, start=1):
        table.add_row(str(k), f"{r.title} [dim](id {r.movie_id})[/]", f"{r.score:.3f}",
                      r.explanation)
    console.print(table)


@app.command("download")
def download(
    release: Annotated[str, typer.Argument(help="ml-100k, ml-1m, ml-latest-small, ml-20m, "
                                           "ml-25m or ml-32m")] = "ml-100k",
) -> None:
    """Download a MovieLens release from GroupLens into the cache (checksums verified).

    Example: [bold]convrec movies download ml-100k[/]
    """
    from convrec.data.movielens import TERMS, check_counts, download_release, load_movielens

    folder = download_release(release)
    data = load_movielens(release, data_dir=folder.parent)
    check_counts(release, data.ratings)
    console.print(f"{release}: {len(data.ratings):,} ratings, {len(data.movies):,} movies in "
                  f"{folder}")
    console.print(f"[dim]{TERMS}[/]")


@app.command("train")
def train(
    data_dir: DataDirOption = None,
    out: Annotated[Path | None, typer.Option("--out", help="Where to save the model (.npz). "
                                             "Default: the cache's default model.")] = None,
    model: Annotated[str, typer.Option("--model-type", help="bayesian-mf, knn, biases, ease, "
                                       "als (implicit), explicit-als or embedding-dot-bias")]
    = "bayesian-mf",
    engine: Annotated[str, typer.Option("--engine", help="local or spark (Spark MLlib; for "
                                        "--model-type als or explicit-als)")] = "local",
    master: Annotated[str | None, typer.Option("--master", help="Spark master URL, e.g. "
                                               "local[*] (default) or spark://host:7077")]
    = None,
    ratings_file: Annotated[Path | None, typer.Option(
        "--ratings", help="Train on this ratings CSV or Parquet (columns user, item, rating; "
        "MovieLens names userId, movieId accepted) instead of ML-100K.")] = None,
) -> None:
    """Train a model on all of ML-100K (or --ratings) and save it (progress bar while training).

    Example: [bold]convrec movies train --model-type bayesian-mf[/];
    on Spark: [bold]convrec movies train --model-type explicit-als --engine spark[/]
    """
    from convrec.data.movielens import load_movielens
    from convrec.recsys import (
        EASE,
        BayesianMF,
        Biases,
        ImplicitALS,
        ItemKNNBaseline,
        Ratings,
        Recommender,
    )
    from convrec.recsys.catalog import DEFAULT_MODEL_FILE
    from convrec.recsys.models.als import ALS, ENGINES
    from convrec.settings import get_settings

    if engine not in ENGINES:
        raise UserError(f"--engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if (engine != "local" or master is not None) and model not in ("als", "explicit-als"):
        raise UserError(f"--engine spark and --master train als or explicit-als, not "
                        f"--model-type {model!r}")
    settings = get_settings(data_dir=data_dir)
    ratings: Ratings
    if ratings_file is not None:
        from convrec.recsys.scale import load_ratings

        ratings = load_ratings(ratings_file, cache_dir=settings.cache_dir / "ratings")
    else:
        data = load_movielens("ml-100k", data_dir=data_dir, settings=settings)
        ratings = Ratings.from_raw(data.ratings, None, data.movies.ids)
    chosen: Recommender
    if model == "bayesian-mf":
        chosen = BayesianMF(progress=True)
    elif model == "knn":
        chosen = ItemKNNBaseline()
    elif model == "biases":
        chosen = Biases()
    elif model == "ease":
        chosen = EASE(lam=300.0, recency_half_life=10.0)
    elif model == "als":
        chosen = ImplicitALS(engine=engine, master=master)
    elif model == "explicit-als":
        chosen = ALS(engine=engine, master=master)
    elif model == "embedding-dot-bias":
        from convrec.recsys.models.torch_mf import EmbeddingDotBias

        chosen = EmbeddingDotBias(progress=True)
    else:
        raise UserError(f"--model-type must be one of bayesian-mf, knn, biases, ease, als, "
                        f"explicit-als, embedding-dot-bias; got {model!r}")
    chosen.fit(ratings)
    path = out or settings.cache_dir / "models" / DEFAULT_MODEL_FILE
    if out is None and model != "bayesian-mf":
        path = settings.cache_dir / "models" / f"ml-100k-{model}.npz"
    if out is None and ratings_file is not None:
        path = settings.cache_dir / "models" / f"{ratings_file.stem}-{model}.npz"
    chosen.save(path)
    console.print(f"trained {chosen!r} on {len(ratings):,} ratings in {chosen.fit_seconds_:.2f} s"
                  f" → {path}")


@app.command("evaluate")
def evaluate(
    protocol: Annotated[str, typer.Option("--protocol", help="u1, folds (u1..u5 mean) or "
                                          "leave-last-out")] = "u1",
    data_dir: DataDirOption = None,
    csv: Annotated[Path | None, typer.Option("--csv", help="Also write the table as CSV.")] = None,
    torch: Annotated[bool, typer.Option("--torch", help="Include fastai's EmbeddingDotBias "
                                        "(about 20 s per fold).")] = False,
) -> None:
    """Compare all models under one protocol: a markdown table with fit and predict times.

    Example: [bold]convrec movies evaluate --protocol u1[/]
    """
    from convrec.recsys.evaluate import evaluate_protocol, to_csv, to_markdown

    with console.status("evaluating...") as status:
        rows = evaluate_protocol(protocol, data_dir=data_dir, torch=torch,
                                 on_progress=lambda m: status.update(f"evaluating {m}..."))
    console.print(to_markdown(rows), markup=False, highlight=False)
    if csv is not None:
        csv.write_text(to_csv(rows))
        console.print(f"CSV written to {csv}")


@app.command("recommend")
def recommend(
    user: Annotated[str, typer.Option("--user", help="A MovieLens user id, e.g. 42.")],
    n: Annotated[int, typer.Option("-n", help="How many movies.")] = 10,
    data_dir: DataDirOption = None,
    model: ModelOption = None,
) -> None:
    """Top-N movies for a known user, with the movies that explain each pick.

    Example: [bold]convrec movies recommend --user 42[/]
    """
    rec = _recommender(data_dir, model)
    _print_movies(f"top {n} for user {user}", rec.recommend(user, n), "predicted")


@app.command("similar")
def similar(
    title: Annotated[str, typer.Argument(help='A title, fuzzy: "toy story".')],
    n: Annotated[int, typer.Option("-n", help="How many movies.")] = 10,
    data_dir: DataDirOption = None,
    model: ModelOption = None,
) -> None:
    """Movies most similar to a title (cosine on the model's item factors).

    Example: [bold]convrec movies similar "Toy Story (1995)"[/]
    """
    rec = _recommender(data_dir, model)
    movie = rec.catalog.find(title)
    _print_movies(f"similar to {movie.title}", rec.similar_items(movie.movie_id, n), "cosine")


@app.command("rate")
def rate(
    ratings: Annotated[list[str] | None, typer.Argument(
        help='"TITLE=RATING" pairs, e.g. "star wars=5" "toy story=4". '
             "Without any, asks interactively.")] = None,
    n: Annotated[int, typer.Option("-n", help="How many movies.")] = 10,
    data_dir: DataDirOption = None,
    model: ModelOption = None,
) -> None:
    """Rate a few movies as a new user and get recommendations at once (fold-in, no retraining).

    Example: [bold]convrec movies rate "star wars=5" "toy story=4" "titanic=1"[/]
    """
    import time

    rec = _recommender(data_dir, model)
    pairs = list(ratings or [])
    if not pairs:
        console.print("Rate a few movies (1-5); an empty title ends.")
        while True:
            title = typer.prompt("title", default="", show_default=False)
            if not title.strip():
                break
            movie = rec.catalog.find(title)
            value = typer.prompt(f"rating for {movie.title}", type=float)
            pairs.append(f"{movie.title}={value}")
    profile: dict[int, float] = {}
    for pair in pairs:
        if "=" not in pair:
            raise UserError(f"each rating must be TITLE=RATING, got {pair!r}")
        title, _, value = pair.rpartition("=")
        try:
            stars = float(value)
        except ValueError:
            raise UserError(f"rating in {pair!r} must be a number, got {value!r}") from None
        if not 0.5 <= stars <= 5:
            raise UserError(f"rating in {pair!r} must be between 0.5 and 5, got {stars:g}")
        movie = rec.catalog.find(title)
        console.print(f"  {movie.title}: {stars:g}")
        profile[movie.movie_id] = stars
    if not profile:
        raise UserError("rate at least one movie")
    start = time.perf_counter()
    recs = rec.recommend_for_ratings(profile, n)
    ms = (time.perf_counter() - start) * 1000
    _print_movies(f"top {n} for you (fold-in took {ms:.1f} ms)", recs, "predicted")


@app.command("biases")
def biases(
    n: Annotated[int, typer.Option("-n", help="How many movies each way.")] = 5,
    data_dir: DataDirOption = None,
    model: ModelOption = None,
) -> None:
    """Movies with the lowest and the highest learned bias (as in fastai's book).

    Example: [bold]convrec movies biases[/]
    """
    from convrec.recsys.interpret import bias_extremes

    rec = _recommender(data_dir, model)
    low, high = bias_extremes(rec.model, rec.catalog, n)
    for label, rows in (("lowest", low), ("highest", high)):
        table = Table(title=f"{label} movie biases")
        table.add_column("movie")
        table.add_column("bias", justify="right")
        for title, b in rows:
            table.add_row(title, f"{b:+.3f}")
        console.print(table)


@app.command("map")
def movie_map(
    out: Annotated[Path, typer.Option("--out", help="PNG file to write.")] = Path("movie-map.png"),
    n: Annotated[int, typer.Option("-n", help="The n most-rated movies.")] = 50,
    data_dir: DataDirOption = None,
    model: ModelOption = None,
) -> None:
    """A 2-D PCA map of movie factors (PNG), as in fastai's book.

    Example: [bold]convrec movies map --out movie-map.png[/]
    """
    from convrec.recsys.interpret import plot_pca_map

    rec = _recommender(data_dir, model)
    console.print(f"wrote {plot_pca_map(rec.model, rec.catalog, out, n)}")
