"""``convrec mnist ...``: batches, edge features, CNN training, evaluation, predictions."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from convrec.cli.common import (
    DataDirOption,
    UserError,
    check_png_path as _check_png,
    console,
    err_console,
    input_file,
    output_file,
    unnamed_output,
)

if TYPE_CHECKING:
    from convrec.vision.mnist import MnistData
    from convrec.vision.predict import DigitClassifier

app = typer.Typer(
    help="MNIST end to end: edges you can see, CNNs trained fast, predictions on your images.",
    no_args_is_help=True,
)

SourceOption = Annotated[
    Path | None,
    typer.Option("--source", help="Digits from an IDX folder, an image-folder tree "
                 "(training/3/x.png) or a CSV (label + 784 pixels) instead of MNIST."),
]
ModelOption = Annotated[
    Path | None,
    typer.Option("--model", "-m", help="Checkpoint file (default: the cached default model, "
                 "trained on first use).",
                 parser=input_file("checkpoint file", "model.pt", "--model", ("*.pt",))),
]


def _data(data_dir: Path | None, source: Path | None = None) -> MnistData:
    from convrec.vision.mnist import load_mnist

    data = load_mnist(source=source, data_dir=data_dir)
    if data.notice:
        err_console.print(data.notice, highlight=False)
    console.print(data.describe(), highlight=False)
    return data


def _classifier(model: Path | None, data_dir: Path | None) -> DigitClassifier:
    from convrec.vision.predict import DigitClassifier, get_default_classifier

    if model is not None:
        return DigitClassifier.load(model)
    return get_default_classifier(data_dir=data_dir, progress=True)


@app.command("edges")
def edges(
    data_dir: DataDirOption = None,
    out: Annotated[Path | None, typer.Option(
        "-o", "--out", help="PNG figure (default: mnist-edges.png; an existing file is replaced "
        "only when named).", parser=output_file("figure", "edges.png", "-o"))] = None,
    rows: Annotated[int, typer.Option("--rows", help="Digits in the figure.")] = 8,
) -> None:
    """The seed's walk-through: the first valid batch and its four edge maps, as a figure.

    Example: [bold]convrec mnist edges --data-dir ../shared/data -o edges.png[/]
    """
    from convrec.vision.edges import edge_features, edge_figure

    if not 1 <= rows <= 64:
        raise UserError(f"--rows must be between 1 and 64, got {rows}")
    out = unnamed_output("-o", out, Path("mnist-edges.png"))
    _check_png("-o", out)
    x, y = _data(data_dir).first_batch("valid")
    console.print(f"first valid batch: x {tuple(x.shape)}, y {tuple(y.shape)}; "
                  f"labels {y[:10].tolist()}...")
    feats = edge_features(x)
    console.print(f"edge_features(x) → {tuple(feats.shape)}  ((28 - 3)//1 + 1 = 26 per side)")
    console.print(f"figure: {edge_figure(x, out, rows=rows)}")


@app.command("features")
def features(
    compare: Annotated[bool, typer.Option("--compare", help="Compare a linear classifier on "
                                          "raw pixels and on pooled edge features.")] = False,
    n_train: Annotated[int, typer.Option("--n-train", help="Train digits to fit on.")] = 10_000,
    data_dir: DataDirOption = None,
    source: SourceOption = None,
) -> None:
    """Edges as feature engineering for a linear model.

    Example: [bold]convrec mnist features --compare --n-train 10000[/]
    """
    from convrec.vision.edges import compare_features, pooled_edge_features

    if n_train < 1:
        raise UserError(f"--n-train must be at least 1, got {n_train}")
    data = _data(data_dir, source)
    if not compare:
        f = pooled_edge_features(data.valid_images[:1])
        console.print(f"pooled edge features per digit: {f.shape[1]} (8 signed maps × 13 × 13); "
                      "add --compare to fit and score the classifiers")
        return
    result = compare_features(data, n_train=min(n_train, len(data.train_labels)))
    for line in result.lines():
        console.print(line, highlight=False)


@app.command("summary")
def summary(
    model: Annotated[str, typer.Option("--model", help="simple, simple_bn, fast or accurate.")]
    = "fast",
) -> None:
    """The per-layer shape table of a model: shapes, formulas with numbers, parameters.

    Example: [bold]convrec mnist summary --model simple[/]
    """
    from convrec.shapes import render_rich
    from convrec.vision.models import build_model, shape_trace

    trace = shape_trace(build_model(model), (64, 1, 28, 28))
    console.print(render_rich(trace, compact=console.width < 140))


@app.command("train")
def train_cmd(
    preset: Annotated[str, typer.Option("--preset", help="fast (default), accurate, book, "
                                        "book_bn.")] = "fast",
    epochs: Annotated[float | None, typer.Option("--epochs")] = None,
    lr: Annotated[float | None, typer.Option("--lr", help="One-cycle peak learning rate.")]
    = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", "--bs")] = None,
    seed: Annotated[int | None, typer.Option("--seed")] = None,
    out: Annotated[Path | None, typer.Option("-o", "--out", help="Checkpoint path (default: "
                                             "<cache>/models/<dataset>-<preset>.pt; never the "
                                             "default model).")]
    = None,
    as_default: Annotated[bool, typer.Option("--as-default", help="Also make this model the "
                                             "default one (used by predict, evaluate, kernels "
                                             "and the studio).")] = False,
    augment: Annotated[str | None, typer.Option("--augment", help="auto (affine for MNIST, "
                                                "shifts for other data), none, shift or "
                                                "affine (default: the preset's).")] = None,
    threads: Annotated[int | None, typer.Option("--threads", help="Torch threads (default: "
                                                "the free CPUs; $CONVREC_THREADS).")] = None,
    stats_figure: Annotated[Path | None, typer.Option("--stats-figure", help="PNG: activation "
                                                      "statistics per layer (mean, std, % near "
                                                      "zero) and the colorful dimension.")]
    = None,
    sched_figure: Annotated[Path | None, typer.Option("--sched-figure", help="PNG: the "
                                                      "learning-rate schedule and the loss of "
                                                      "every step.")] = None,
    data_dir: DataDirOption = None,
    source: SourceOption = None,
    nproc: Annotated[int, typer.Option("--nproc", help="Data-parallel processes "
                                       "(DistributedDataParallel: gloo on CPU, NCCL on GPUs); "
                                       "the batch size is the global batch.")] = 1,
) -> None:
    """Train a CNN with one-cycle, print its shape table first, save a checkpoint.

    The checkpoint goes to -o, or to <cache>/models/<dataset>-<preset>.pt; the default model
    is replaced only with --as-default.

    Example: [bold]convrec mnist train --data-dir ../shared/data --stats-figure stats.png[/]
    (add [bold]--nproc 2[/] for 2 processes, or run it under torchrun)
    """
    import shutil

    from convrec.shapes import render_rich
    from convrec.vision.models import build_model, shape_trace
    from convrec.vision.predict import default_checkpoint_path, trained_checkpoint_path
    from convrec.vision.train import (
        AUGMENTATIONS,
        PRESETS,
        EvalPoint,
        max_threads,
        save_checkpoint,
        train,
    )

    if preset not in PRESETS:
        raise UserError(f"--preset must be one of {', '.join(PRESETS)}, got {preset!r}")
    if augment is not None and augment not in AUGMENTATIONS:
        raise UserError(f"--augment must be one of {', '.join(AUGMENTATIONS)}, got {augment!r}")
    if threads is not None and not 1 <= threads <= max_threads():
        raise UserError(f"--threads must be from 1 to {max_threads()} (4 per CPU), got {threads}")
    if not 1 <= nproc <= max_threads():
        raise UserError(f"--nproc must be from 1 to {max_threads()} (4 per CPU), got {nproc}")
    for flag, figure in (("--stats-figure", stats_figure), ("--sched-figure", sched_figure)):
        if figure is not None:
            _check_png(flag, figure)
    if out is not None and out.is_dir():
        raise UserError(f"-o {out} is a folder; name the checkpoint file, e.g. -o {out}/model.pt")
    if out is not None:  # a file in the way of the folder fails now, not after the training
        folder = next(p for p in (out.absolute(), *out.absolute().parents) if p.exists())
        if folder != out.absolute() and not folder.is_dir():
            raise UserError(f"-o {out}: {folder} is a file, so no folder can be made there")
    config = PRESETS[preset].with_changes(epochs=epochs, lr=lr, batch_size=batch_size, seed=seed,
                                          augment=augment, threads=threads)
    config.validate()
    data = _data(data_dir, source)
    trace = shape_trace(build_model(config.model), (config.batch_size, 1, 28, 28))
    console.print(render_rich(trace, compact=console.width < 140))

    def report(p: EvalPoint) -> None:
        console.print(f"epoch {p.epoch:5.2f}  train {p.train_seconds:6.1f} s  "
                      f"loss {p.train_loss:.4f}  valid accuracy {p.valid_accuracy:.2%}",
                      highlight=False)

    from convrec.vision.distributed import launched_by_torchrun, train_distributed

    if stats_figure is not None and (nproc > 1 or launched_by_torchrun()):
        raise UserError("--stats-figure records one process's activations: use it with "
                        "--nproc 1")
    stats = None
    if nproc == 1 and not launched_by_torchrun():
        from convrec.vision.watch import ActivationStats

        stats = ActivationStats() if stats_figure is not None else None
        result = train(data, config, progress=True, on_eval=report,
                       watchers=[stats] if stats is not None else [])
    else:
        try:
            maybe = train_distributed(data, config, nproc, progress=True)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        if maybe is None:  # a torchrun worker other than rank 0
            return
        result = maybe
        for point in result.history:
            report(point)
    t99 = result.time_to(0.99)
    console.print(f"[bold]valid accuracy {result.final_accuracy:.2%}[/] after "
                  f"{result.train_seconds:.1f} s of training"
                  + (f" (99.0% first reached at {t99:.1f} s)" if t99 is not None else ""))
    if stats is not None and stats_figure is not None:
        from convrec.vision.watch import stats_figure as draw_stats

        console.print(f"activation statistics: {draw_stats(stats, stats_figure)}")
        for line in stats.summary_lines():
            console.print(line, highlight=False)
    if sched_figure is not None:
        from convrec.vision.watch import schedule_figure

        console.print(f"schedule: {schedule_figure(result.lrs, result.losses, sched_figure)}")
    out = out if out is not None else trained_checkpoint_path(data.key, preset)
    try:
        save_checkpoint(out, result, extra={"source": data.describe(), "dataset": data.key,
                                            "preset": preset})
    except ValueError as exc:  # NaN weights: the training diverged
        console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=1) from None
    console.print(f"checkpoint: {out}")
    default = default_checkpoint_path()
    if as_default:
        default.parent.mkdir(parents=True, exist_ok=True)
        tmp = default.with_suffix(".pt.tmp")
        shutil.copyfile(out, tmp)
        tmp.replace(default)  # atomic: the studio never reads half a file
        console.print(f"default model: {default} (predict, evaluate, kernels and the studio "
                      "use it now)")
    else:
        console.print(f"the default model ({default}) is unchanged; add --as-default to make "
                      "this one the default", highlight=False)


@app.command("evaluate")
def evaluate_cmd(
    model: ModelOption = None,
    figure: Annotated[Path | None, typer.Option(
        "--figure", help="Confusion-matrix PNG (default: mnist-confusion.png; an existing file "
        "is replaced only when named).",
        parser=output_file("figure", "confusion.png", "--figure"))] = None,
    top: Annotated[int, typer.Option("--top", help="How many confused pairs to list.")] = 5,
    data_dir: DataDirOption = None,
    source: SourceOption = None,
) -> None:
    """Accuracy on the valid (test) split, the confusion matrix and the most confused pairs.

    Example: [bold]convrec mnist evaluate --figure confusion.png[/]
    """
    from convrec.vision.figures import confusion_figure
    from convrec.vision.train import evaluate, most_confused

    if top < 1:
        raise UserError(f"--top must be at least 1, got {top}")
    figure = unnamed_output("--figure", figure, Path("mnist-confusion.png"))
    _check_png("--figure", figure)
    data = _data(data_dir, source)
    clf = _classifier(model, data_dir)
    result = evaluate(clf.model, data.valid_images, data.valid_labels, clf.normalize)
    console.print(f"[bold]accuracy {result.accuracy:.2%}[/] on {len(data.valid_labels):,} digits "
                  f"({int((result.predictions != data.valid_labels).sum())} wrong)")
    console.print(f"confusion matrix: {confusion_figure(result.confusion, figure)}")
    table = Table(title="most confused (actual → predicted)")
    for col in ("actual", "predicted", "count"):
        table.add_column(col, justify="right")
    for actual, predicted, count in most_confused(result.confusion, top):
        table.add_row(str(actual), str(predicted), str(count))
    console.print(table)


@app.command("predict")
def predict_cmd(
    images: Annotated[list[Path], typer.Argument(
        help="Photos or drawings of single digits.",
        parser=input_file("image files", "digit.png", "", ("*.png", "*.jpg", "*.jpeg")))],
    model: ModelOption = None,
    top: Annotated[int, typer.Option("--top", help="Classes to show per image.")] = 3,
    figure: Annotated[Path | None, typer.Option("--figure", help="PNG file: each image above "
                                                "the 28×28 input the model saw, as a grid.")]
    = None,
    data_dir: DataDirOption = None,
) -> None:
    """Predict digits in your images (any size; light or dark background).

    Example: [bold]convrec mnist predict my_seven.png[/]
    """
    from convrec.data.images import read_grayscale
    from convrec.settings import get_settings
    from convrec.vision.figures import predictions_figure

    if not 1 <= top <= 10:
        raise UserError(f"--top must be between 1 and 10, got {top}")
    if figure is not None:
        _check_png("--figure", figure)
    limit = get_settings().limits.max_image_pixels
    pictures = [read_grayscale(p, max_pixels=limit) for p in images]  # fail before training
    clf = _classifier(model, data_dir)
    inputs, titles = [], []
    for path, picture in zip(images, pictures, strict=True):
        pred = clf.predict(picture)
        shown = "  ".join(f"{d}: {p:.1%}" for d, p in pred.top[:top])
        console.print(f"{path.name}: [bold]{pred.verdict()}[/]   ({shown})", highlight=False)
        inputs.append(pred.input28)
        titles.append(f"{path.name}: {pred.digit} ({pred.confidence:.0%})")
    if figure is not None:
        console.print(f"figure: {predictions_figure(pictures, inputs, titles, figure)}")


@app.command("kernels")
def kernels_cmd(
    model: ModelOption = None,
    out: Annotated[Path | None, typer.Option(
        "-o", "--out", help="PNG figure (default: mnist-kernels.png; an existing file is "
        "replaced only when named).", parser=output_file("figure", "kernels.png", "-o"))]
    = None,
    data_dir: DataDirOption = None,
) -> None:
    """The learned first-layer kernels next to fastai's four hand-made edge kernels.

    Example: [bold]convrec mnist kernels -o kernels.png[/]
    """
    from convrec.vision.figures import kernels_figure

    out = unnamed_output("-o", out, Path("mnist-kernels.png"))
    _check_png("-o", out)
    clf = _classifier(model, data_dir)
    console.print(f"figure: {kernels_figure(clf.model, out)}")


@app.command("lr-find")
def lr_find_cmd(
    preset: Annotated[str, typer.Option("--preset", help="Model and batch size of this preset "
                                        "(fast, accurate, book, book_bn).")] = "fast",
    steps: Annotated[int, typer.Option("--steps", help="Mini-batches to try.")] = 100,
    figure: Annotated[Path | None, typer.Option("--figure", help="PNG: loss against the "
                                                "learning rate.")] = None,
    data_dir: DataDirOption = None,
    source: SourceOption = None,
) -> None:
    """The learning-rate finder: the loss as the rate grows from 1e-7 to 10, and a suggestion.

    Example: [bold]convrec mnist lr-find --preset book_bn --figure lr.png[/]
    """
    from convrec.vision.train import PRESETS
    from convrec.vision.watch import lr_find, lr_find_figure

    if preset not in PRESETS:
        raise UserError(f"--preset must be one of {', '.join(PRESETS)}, got {preset!r}")
    if not 5 <= steps <= 2000:
        raise UserError(f"--steps must be between 5 and 2000, got {steps}")
    if figure is not None:
        _check_png("--figure", figure)
    found = lr_find(_data(data_dir, source), PRESETS[preset], steps=steps)
    console.print(found.describe(), highlight=False)
    if found.stopped_early:
        console.print(f"(stopped at {found.lrs[-1]:.2g}: the loss blew up)", highlight=False)
    if figure is not None:
        console.print(f"figure: {lr_find_figure(found, figure)}")


@app.command("progression")
def progression_cmd(
    only: Annotated[list[str] | None, typer.Option("--only", help="Run only these experiments "
                                                   "(repeat the flag).")] = None,
    data_dir: DataDirOption = None,
    source: SourceOption = None,
) -> None:
    """Chapter 13's progression: baseline → bigger batch → 1cycle → batchnorm, with numbers.

    Each line: valid accuracy, training time, and the share of the last ReLU's activations
    near zero (the chapter's sign that training collapsed).

    Example: [bold]convrec mnist progression --data-dir ../shared/data[/]
    """
    from convrec.vision.watch import PROGRESSION, ProgressionRun, chapter13_progression

    for name in only or []:
        if name not in PROGRESSION:
            raise UserError(f"--only must be one of {', '.join(PROGRESSION)}, got {name!r}")
    data = _data(data_dir, source)

    def report(run: ProgressionRun) -> None:
        console.print(run.line(), highlight=False)

    chapter13_progression(data, names=only or None, on_run=report)
