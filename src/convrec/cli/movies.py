"""``convrec movies ...``: download MovieLens, train, evaluate, recommend, find similar movies,
rate a few movies as a new user."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.text import Text

from convrec.cli.common import (
    UserError,
    check_png_path,
    check_release,
    console,
    input_file,
    output_file,
    release_names,
    unnamed_output,
)
from convrec.data.movielens import DEFAULT_RELEASE
from convrec.recsys.registry import DEFAULT_MODEL, ENGINES, MODELS, model_spec, models_on

if TYPE_CHECKING:
    from convrec.recsys.catalog import MovieRecommender, ScoredMovie
    from convrec.settings import Settings

app = typer.Typer(
    help="The movie recommender on MovieLens: download, train, evaluate, recommend.",
    no_args_is_help=True,
)

_RELEASES = release_names()
MAX_QUERY_CHARS = 200  # fuzzy matching a 5,000-character query takes seconds; titles are short

DatasetOption = Annotated[
    str | None,
    typer.Option("--dataset", help=f"A MovieLens release: {_RELEASES}. Default: the release "
                 f"the model was trained on, else {DEFAULT_RELEASE}."),
]
MovieDataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="A folder holding the release in its original layout (ml-100k/, ml-25m/...), "
        "the release's own folder, or its zip as published. Default: $CONVREC_DATA, then the "
        "cache, then a verified download.",
        exists=True, file_okay=True, dir_okay=True,
    ),
]
ModelOption = Annotated[
    Path | None,
    typer.Option("--model", help="A saved model (.npz); its titles come from the release it "
                 "was trained on. Default: the release's default model in the cache, trained "
                 "on first use.", parser=input_file("model file", "model.npz", "--model",
                                                    ("*.npz",))),
]


def _release_name(dataset: str | None) -> str | None:
    return check_release(dataset, f"--dataset {dataset}")


def _recommender(dataset: str | None, data_dir: Path | None, model: Path | None = None
                 ) -> MovieRecommender:
    from convrec.recsys.catalog import load_recommender
    from convrec.settings import get_settings

    name = _release_name(dataset)
    settings = get_settings(data_dir=data_dir)  # the flag overrides CONVREC_DATA here, once
    return load_recommender(model, name, settings=settings, progress=True)


def _print_movies(title: str, rows: list[ScoredMovie], score_name: str | None = None) -> None:
    table = Table(title=title)
    table.add_column("#", justify="right")
    table.add_column("movie")
    # a predicted rating only when the model predicts ratings; otherwise a ranking score
    name = score_name or ("predicted" if rows and rows[0].is_rating else "score")
    table.add_column(name, justify="right")
    table.add_column("why")
    for k, r in enumerate(rows, start=1):
        table.add_row(str(k), Text(f"{r.title} ") + Text(f"(id {r.movie_id})", style="dim"),
                      f"{r.score:.3f}", r.explanation)
    console.print(table)


@app.command("download")
def download(
    release: Annotated[str, typer.Argument(help=f"A MovieLens release: {_RELEASES}.")]
    = DEFAULT_RELEASE,
) -> None:
    """Download a MovieLens release from GroupLens into the cache (checksums verified).

    Example: [bold]convrec movies download ml-latest-small[/]
    """
    from convrec.data.movielens import download_release, release as entry_of

    check_release(release, repr(release), example="convrec movies download")
    entry = entry_of(release)
    console.print(Text(entry.licence, style="dim"))  # the terms, before anything is fetched
    data = download_release(release)
    console.print(f"{release}: {len(data.ratings):,} ratings, {len(data.movies):,} movies in "
                  f"{data.folder}")
    console.print(Text(f"checksum: {entry.checksum_source}", style="dim"))


def _default_out(settings: Settings, dataset: str | None, ratings_file: Path | None,
                 model_type: str) -> Path:
    """A name that says what was trained on what, so two releases never overwrite each other."""
    import hashlib

    from convrec.recsys.catalog import default_model_path

    if ratings_file is None:
        return default_model_path(settings, dataset or DEFAULT_RELEASE, model_type)
    where = hashlib.sha256(str(ratings_file.resolve()).encode()).hexdigest()[:8]
    stem = f"{ratings_file.resolve().parent.name}-{ratings_file.stem}-{where}"
    return settings.cache_dir / "models" / f"{stem}-{model_type}.npz"


def _movies_beside(ratings_file: Path) -> Path | None:
    for name in ("movies.csv", "movies.dat", "u.item"):
        if (ratings_file.parent / name).is_file():
            return ratings_file.parent / name
    return None


@app.command("train")
def train(
    dataset: DatasetOption = None,
    data_dir: MovieDataDirOption = None,
    out: Annotated[Path | None, typer.Option("--out", help="Where to save the model (.npz). "
                                             "Default: <release>-<model type>.npz in the "
                                             f"cache (the release's default model for "
                                             f"{DEFAULT_MODEL}).")] = None,
    model: Annotated[str, typer.Option("--model-type", help=f"One of {', '.join(MODELS)}. "
                                       f"The default, {DEFAULT_MODEL}, is what recommend, the "
                                       f"studio and the API serve: "
                                       f"{MODELS[DEFAULT_MODEL].label}.")]
    = DEFAULT_MODEL,
    engine: Annotated[str, typer.Option("--engine", help=f"{' or '.join(ENGINES)} (Spark "
                                        f"MLlib; for --model-type "
                                        f"{' or '.join(models_on('spark'))})")] = "local",
    master: Annotated[str | None, typer.Option("--master", help="Spark master URL, e.g. "
                                               "local[*] (default) or spark://host:7077")]
    = None,
    ratings_file: Annotated[Path | None, typer.Option(
        "--ratings", help="Train on this ratings file (CSV/TSV/:: text with columns user, item, "
        "rating, or Parquet; MovieLens names userId, movieId accepted) instead of a release; "
        "a movies.csv beside it gives the titles.",
        parser=input_file("ratings file", "ratings.csv", "--ratings",
                          ("ratings.csv", "ratings.dat", "u.data", "*.csv", "*.parquet")))] = None,
) -> None:
    """Train a model on a whole MovieLens release (or --ratings) and save it.

    Example: [bold]convrec movies train --dataset ml-latest-small --model-type ease[/];
    on Spark: [bold]convrec movies train --model-type explicit-als --engine spark[/]
    """
    spec = model_spec(model)  # a typo fails here, before any data is read
    if engine not in ENGINES:
        raise UserError(f"--engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if master is not None and engine != "spark":
        raise UserError(f"--master {master!r} names a Spark cluster: add --engine spark")
    if (engine != "local" or master is not None) and engine not in spec.engines:
        raise UserError(f"--engine spark and --master train "
                        f"{', '.join(models_on('spark'))}, "
                        f"not --model-type {model!r}")
    name = _release_name(dataset)
    if ratings_file is not None and name is not None:
        raise UserError("give --dataset or --ratings, not both")
    from convrec.data.movielens import load_movielens, read_movies, release as entry_of
    from convrec.recsys import Ratings
    from convrec.recsys.catalog import provenance_for
    from convrec.settings import get_settings

    settings = get_settings(data_dir=data_dir)
    ratings: Ratings
    if ratings_file is not None:
        from convrec.data.registry import RatingScale
        from convrec.recsys.scale import load_ratings

        ratings = load_ratings(ratings_file, cache_dir=settings.cache_dir / "ratings")
        movies_path = _movies_beside(ratings_file)
        movies = read_movies(movies_path) if movies_path is not None else None
        provenance = provenance_for(None, movies, RatingScale.of(ratings.ratings),
                                    ratings_file, movies_path)
    else:
        name = name or DEFAULT_RELEASE
        data = load_movielens(name, settings=settings)
        ratings = Ratings.from_raw(data.ratings, None, data.movies.ids)
        layout = entry_of(name).ratings
        provenance = provenance_for(name, data.movies, layout.scale if layout else None)
    params = {"engine": engine, "master": master} if "spark" in spec.engines else {}
    chosen = spec.create(progress=True, **params)
    chosen.fit(ratings)
    path = out or _default_out(settings, name, ratings_file, model)
    chosen.save(path, provenance)
    console.print(f"trained {chosen!r} on {len(ratings):,} ratings"
                  f"{f' of {name}' if name else ''} in {chosen.fit_seconds_:.2f} s → {path}")


@app.command("evaluate")
def evaluate(
    protocol: Annotated[str, typer.Option("--protocol", help="u1, folds (u1..u5 mean; both "
                                          "ML-100K's official splits) or leave-last-out (any "
                                          "release)")] = "u1",
    dataset: DatasetOption = None,
    data_dir: MovieDataDirOption = None,
    csv: Annotated[Path | None, typer.Option("--csv", help="Also write the table as CSV.")] = None,
    torch: Annotated[bool, typer.Option("--torch", help="Include fastai's EmbeddingDotBias "
                                        "(about 20 s per fold).")] = False,
) -> None:
    """Compare all models under one protocol: a markdown table with fit and predict times.

    Example: [bold]convrec movies evaluate --protocol u1[/]
    """
    from convrec.recsys.evaluate import evaluate_protocol, to_csv, to_markdown
    from convrec.settings import get_settings

    if csv is not None and (csv.is_dir() or not csv.parent.is_dir()):  # before minutes of work
        raise UserError(f"--csv {csv}: name a file in an existing folder, e.g. --csv "
                        "results.csv")
    name = _release_name(dataset) or DEFAULT_RELEASE
    settings = get_settings(data_dir=data_dir)
    with console.status("evaluating...") as status:
        rows = evaluate_protocol(protocol, settings=settings, torch=torch, dataset=name,
                                 on_progress=lambda m: status.update(f"evaluating {m}..."))
    console.print(to_markdown(rows), markup=False, highlight=False)
    if csv is not None:
        csv.write_text(to_csv(rows))
        console.print(f"CSV written to {csv}")


@app.command("recommend")
def recommend(
    user: Annotated[str, typer.Option("--user", help="A user id of the release, e.g. 42.")],
    n: Annotated[int, typer.Option("-n", help="How many movies.", min=1, max=1000)] = 10,
    dataset: DatasetOption = None,
    data_dir: MovieDataDirOption = None,
    model: ModelOption = None,
) -> None:
    """Top-N movies for a known user, with the movies that explain each pick.

    Example: [bold]convrec movies recommend --user 42[/]
    """
    rec = _recommender(dataset, data_dir, model)
    _print_movies(f"top {n} for user {user} ({rec.catalog.source})", rec.recommend(user, n))


@app.command("similar")
def similar(
    title: Annotated[str, typer.Argument(help='A title ("toy story", "The Godfather") or '
                                         "id:ID.")],
    n: Annotated[int, typer.Option("-n", help="How many movies.", min=1, max=1000)] = 10,
    dataset: DatasetOption = None,
    data_dir: MovieDataDirOption = None,
    model: ModelOption = None,
) -> None:
    """Movies most similar to a title (cosine on the model's item factors).

    Example: [bold]convrec movies similar "Toy Story (1995)"[/]
    """
    rec = _recommender(dataset, data_dir, model)
    text = title.strip()
    if text.lower().startswith("id:") and text[3:].strip().isdigit():
        movie = rec.catalog.get(int(text[3:].strip()))
    else:
        movie = rec.catalog.find(text)
    _print_movies(f"similar to {movie.title} ({rec.catalog.source})",
                  rec.similar_items(movie.movie_id, n), "cosine")


@app.command("search")
def search(
    query: Annotated[str, typer.Argument(help='Words of a title: "godfather", "amelie".')],
    n: Annotated[int, typer.Option("-n", help="How many matches at most.", min=1, max=100)]
    = 10,
    dataset: DatasetOption = None,
    data_dir: MovieDataDirOption = None,
) -> None:
    """Titles matching some words (accents, case and articles ignored), with their ids.

    Example: [bold]convrec movies search "the godfather"[/]
    """
    from convrec.recsys.catalog import release_catalog
    from convrec.settings import get_settings

    if len(query) > MAX_QUERY_CHARS:
        raise UserError(f"the query is {len(query):,} characters long; a title has at most "
                        f"{MAX_QUERY_CHARS}")
    name = _release_name(dataset) or DEFAULT_RELEASE
    settings = get_settings(data_dir=data_dir)
    catalog, _ = release_catalog(name, settings)  # the movies file alone, no ratings read
    hits = catalog.search(query, n=n)
    if not hits:
        raise UserError(f"no movie matches {query!r} in {name}")
    table = Table(title=f"{len(hits)} matches for {query!r} in {name}")
    table.add_column("id", justify="right")
    table.add_column("title")
    table.add_column("match", justify="right")
    for info, score in hits:
        table.add_row(f"id:{info.movie_id}", info.title, f"{score:.2f}")
    console.print(table)


@app.command("rate")
def rate(
    ratings: Annotated[list[str] | None, typer.Argument(
        help='"TITLE=RATING" or "id:ID=RATING" pairs, e.g. "star wars=5" "id:1=4". '
             "Without any, asks interactively.")] = None,
    n: Annotated[int, typer.Option("-n", help="How many movies.", min=1, max=1000)] = 10,
    dataset: DatasetOption = None,
    data_dir: MovieDataDirOption = None,
    model: ModelOption = None,
) -> None:
    """Rate a few movies as a new user and get recommendations at once (fold-in, no retraining).

    Example: [bold]convrec movies rate "star wars=5" "toy story=4" "titanic=1"[/]
    """
    import time

    for pair in ratings or []:  # the form is checked before a model loads (or trains)
        if "=" not in pair:
            raise UserError(f"{pair!r}: give TITLE=RATING or id:ID=RATING, e.g. "
                            '"star wars=5" or "id:50=5"')
    rec = _recommender(dataset, data_dir, model)
    pairs = list(ratings or [])
    if not pairs:
        console.print(f"Rate a few movies ({rec.scale.describe()}); an empty title ends.")
        while True:
            title = typer.prompt("title", default="", show_default=False)
            if not title.strip():
                break
            movie = rec.catalog.find(title)
            value = typer.prompt(f"rating for {movie.title}", type=float)
            pairs.append(f"id:{movie.movie_id}={value}")
    if not pairs:
        raise UserError("rate at least one movie")
    profile = rec.parse_ratings(pairs)
    for movie_id, stars in profile.items():
        console.print(f"  {rec.catalog.title(movie_id)}: {stars:g}")
    start = time.perf_counter()
    recs = rec.recommend_for_ratings(profile, n)
    ms = (time.perf_counter() - start) * 1000
    _print_movies(f"top {n} for you ({rec.catalog.source}; fold-in took {ms:.1f} ms)", recs)


@app.command("biases")
def biases(
    n: Annotated[int, typer.Option("-n", help="How many movies each way.", min=1, max=1000)]
    = 5,
    dataset: DatasetOption = None,
    data_dir: MovieDataDirOption = None,
    model: ModelOption = None,
) -> None:
    """Movies with the lowest and the highest learned bias (as in fastai's book).

    Example: [bold]convrec movies biases[/]
    """
    from convrec.recsys.interpret import bias_extremes

    rec = _recommender(dataset, data_dir, model)
    low, high = bias_extremes(rec.model, rec.catalog, n)
    for label, rows in (("lowest", low), ("highest", high)):
        table = Table(title=f"{label} movie biases ({rec.catalog.source})")
        table.add_column("movie")
        table.add_column("bias", justify="right")
        for title, b in rows:
            table.add_row(title, f"{b:+.3f}")
        console.print(table)


@app.command("map")
def movie_map(
    out: Annotated[Path | None, typer.Option(
        "--out", help="PNG file to write (default: movie-map.png; an existing file is replaced "
        "only when named).", parser=output_file("figure", "movie-map.png", "--out"))] = None,
    n: Annotated[int, typer.Option("-n", help="The n most-rated movies.", min=2, max=2000)] = 50,
    dataset: DatasetOption = None,
    data_dir: MovieDataDirOption = None,
    model: ModelOption = None,
) -> None:
    """A 2-D PCA map of movie factors (PNG), as in fastai's book.

    Example: [bold]convrec movies map --out movie-map.png[/]
    """
    from convrec.recsys.interpret import plot_pca_map

    out = unnamed_output("--out", out, Path("movie-map.png"))
    check_png_path("--out", out)  # before the model loads (or trains)
    rec = _recommender(dataset, data_dir, model)
    console.print(f"wrote {plot_pca_map(rec.model, rec.catalog, out, n)}")
