"""Training you can watch (fastai chapter 13, "Improving training stability").

- :class:`ActivationStats`: a :class:`~convrec.vision.train.Watcher` that records, for every
  hooked layer and every training step, the mean and std of its activations, the share near
  zero (``|x| <= 0.05``), and a 40-bin histogram of the values in [0, 10] (fastai's
  ``ActivationStats(with_hist=True)``). ReLU outputs are hooked by default, so the statistics
  are of what the next layer receives, not of the pre-activation (fastai PR #3504).
- :func:`color_dim`: the "colorful dimension" image of one layer, ``log1p`` of the histograms,
  bins up, steps to the right (fastai's ``color_dim``).
- :func:`stats_figure` (fastai's ``plot_layer_stats`` for every layer, plus ``color_dim``),
  :func:`schedule_figure` (``plot_sched``: learning rate, momentum, loss per step).
- :func:`lr_find`: the learning-rate range test (Smith 2015; fastai's ``lr_find``): the rate
  grows exponentially from ``start_lr`` to ``end_lr`` over ``steps`` mini-batches; the
  suggestion is a tenth of the rate at the lowest smoothed loss, and the steepest descent is
  reported beside it. The model's weights are not kept.
- :func:`chapter13_progression`: the chapter's experiments in order, with their numbers:
  simple baseline → bigger batch → 1cycle → batchnorm (→ batchnorm, 5 epochs, lr 0.1).

Figures use matplotlib's object API (``Figure`` + ``FigureCanvasAgg``): no global backend
switch, safe in threads (the studio).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from torch import nn

    from convrec.vision.mnist import MnistData
    from convrec.vision.train import EvalPoint, TrainConfig, TrainResult

__all__ = [
    "HIST_BINS",
    "HIST_RANGE",
    "NEAR_ZERO",
    "PROGRESSION",
    "ActivationStats",
    "LrFind",
    "ProgressionRun",
    "chapter13_progression",
    "color_dim",
    "draw_lr_find",
    "draw_schedule",
    "draw_stats",
    "lr_find",
    "lr_find_figure",
    "schedule_figure",
    "stats_figure",
]

NEAR_ZERO = 0.05  # fastai's threshold for "near zero"
HIST_BINS = 40
HIST_RANGE = (0.0, 10.0)


def _new_figure(width: float, height: float) -> Figure:
    from convrec.vision.figures import new_figure

    fig: Figure = new_figure(width, height)
    return fig


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    fig.savefig(path)
    return path


def watched_layers(model: nn.Module, which: str = "relu") -> list[tuple[str, nn.Module]]:
    """The layers :class:`ActivationStats` hooks, as ``(name, module)`` in forward order.

    ``which="relu"``: every ReLU plus the model's last layer with weights (the logits);
    ``"all"``: every leaf layer (convolutions, BatchNorm, ReLU, pooling, linear).
    """
    from torch import nn

    leaves = [(n, m) for n, m in model.named_modules() if n and not list(m.children())]
    if which == "all":
        return leaves
    if which != "relu":
        raise ValueError(f"which must be 'relu' or 'all', got which={which!r}")
    chosen: list[tuple[str, nn.Module]] = [(n, m) for n, m in leaves if isinstance(m, nn.ReLU)]
    weighted = [(n, m) for n, m in leaves if any(True for _ in m.parameters(recurse=False))]
    if weighted and all(weighted[-1][0] != n for n, _ in chosen):
        chosen.append(weighted[-1])
    return chosen


def _layer_summary(x: Any) -> tuple[float, float, float, NDArray[np.float32]]:
    """Mean, std, share near zero and histogram of one activation tensor.

    On the CPU one numba pass over the values (:mod:`convrec.vision._activation_kernel`; torch's
    five passes cost five times the forward); elsewhere torch's operations on the device, read
    back in one transfer.
    """
    import torch

    if x.device.type == "cpu":
        from convrec.vision._activation_kernel import summarise

        if x.dtype not in (torch.float32, torch.float64):
            x = x.float()
        if x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(
                memory_format=torch.channels_last):
            x = x.permute(0, 2, 3, 1)  # the same values in memory order: no copy
        return summarise(x.contiguous().numpy(), NEAR_ZERO, *HIST_RANGE, HIST_BINS)
    x = x.float()
    mean, std = x.mean(), x.std()
    zero = (x.abs() <= NEAR_ZERO).float().mean()
    row = torch.cat([torch.stack([mean, std, zero]),
                     torch.histc(x, HIST_BINS, *HIST_RANGE)]).cpu().numpy()
    return float(row[0]), float(row[1]), float(row[2]), row[3:].astype(np.float32)


class ActivationStats:
    """Per-layer activation statistics recorded at every training step (a ``Watcher``).

    Use: ``stats = ActivationStats(); train(data, config, watchers=[stats])``.

    Attributes:
        layers: hooked layer names, e.g. ``["1 ReLU", ..., "5 Linear"]``.
        means, stds, near_zero: float ``(steps, layers)`` arrays after training (properties).
        hists: float32 ``(steps, layers, 40)``: counts of values in 40 bins over [0, 10].
        every: record one step in ``every`` (1: all), to bound the cost on long runs.
    """

    def __init__(self, which: str = "relu", every: int = 1, max_steps: int = 20_000) -> None:
        if every < 1:
            raise ValueError(f"every must be >= 1, got every={every}")
        self.which = which
        self.every = every
        self.max_steps = max_steps
        self.layers: list[str] = []
        self.steps: list[int] = []
        self._rows: list[list[tuple[float, float, float]]] = []
        self._hist_rows: list[list[NDArray[np.float32]]] = []
        self._current: dict[int, tuple[float, float, float, NDArray[np.float32]]] = {}
        self._handles: list[Any] = []
        self._step = 0

    # --- Watcher protocol -------------------------------------------------------------
    def before_fit(self, model: nn.Module, total_steps: int) -> None:
        self.detach()
        self._step = 0
        layers = watched_layers(model, self.which)
        self.layers = [f"{name} {type(module).__name__}" for name, module in layers]
        for index, (_, module) in enumerate(layers):
            self._handles.append(module.register_forward_hook(self._hook(index)))

    def after_batch(self, step: int, loss: float, lr: float, result: TrainResult) -> None:
        if self._current and len(self.steps) < self.max_steps:
            row = [self._current.get(i, (math.nan, math.nan, math.nan,
                                         np.zeros(HIST_BINS, np.float32)))
                   for i in range(len(self.layers))]
            self._rows.append([(m, s, z) for m, s, z, _ in row])
            self._hist_rows.append([h for *_, h in row])
            self.steps.append(step)
        self._current = {}
        self._step = step

    def after_eval(self, point: EvalPoint) -> None:
        pass

    def after_fit(self, result: TrainResult) -> None:
        self.detach()

    # --- recording ----------------------------------------------------------------------
    def _hook(self, index: int) -> Callable[[Any, Any, Any], None]:
        import torch

        def record(module: Any, _inputs: Any, output: Any) -> None:
            # only training steps (the model is in train mode), one in `every`
            if not module.training or (self._step + 1) % self.every:
                return
            with torch.no_grad():
                self._current[index] = _layer_summary(output.detach())

        return record

    def detach(self) -> None:
        """Remove the hooks (training calls this at the end)."""
        for handle in self._handles:
            handle.remove()
        self._handles = []

    # --- results --------------------------------------------------------------------------
    def _column(self, k: int) -> NDArray[np.float64]:
        if not self._rows:
            return np.zeros((0, len(self.layers)))
        return np.asarray([[cell[k] for cell in row] for row in self._rows], dtype=np.float64)

    @property
    def means(self) -> NDArray[np.float64]:
        """``(steps, layers)`` mean activation."""
        return self._column(0)

    @property
    def stds(self) -> NDArray[np.float64]:
        """``(steps, layers)`` standard deviation of the activations."""
        return self._column(1)

    @property
    def near_zero(self) -> NDArray[np.float64]:
        """``(steps, layers)`` share of activations with ``|x| <= 0.05``."""
        return self._column(2)

    @property
    def hists(self) -> NDArray[np.float32]:
        """``(steps, layers, 40)`` histogram counts over [0, 10]."""
        if not self._hist_rows:
            return np.zeros((0, len(self.layers), HIST_BINS), np.float32)
        return np.asarray(self._hist_rows, dtype=np.float32)

    def last_hists(self) -> list[NDArray[np.float32]]:
        """The latest recorded histogram of every layer, ``(40,)`` each (the colorful
        dimension's newest column); empty before the first step."""
        return list(self._hist_rows[-1]) if self._hist_rows else []

    def last_near_zero(self) -> list[float]:
        """The latest share of activations near zero, per layer."""
        return [z for _, _, z in self._rows[-1]] if self._rows else []

    def layer_index(self, layer: int | str) -> int:
        """A layer by position (negative counts from the end) or by name."""
        if isinstance(layer, str):
            for i, name in enumerate(self.layers):
                if name == layer or name.split(" ")[0] == layer:
                    return i
            raise ValueError(f"layer must be one of {', '.join(self.layers)}; got {layer!r}")
        n = len(self.layers)
        if not -n <= layer < n:
            raise ValueError(f"layer must be between {-n} and {n - 1}, got layer={layer}")
        return layer % n

    def last(self, layer: int | str = -1) -> dict[str, float]:
        """The last recorded step of one layer: ``mean``, ``std``, ``near_zero``."""
        i = self.layer_index(layer)
        if not self._rows:
            return {"mean": math.nan, "std": math.nan, "near_zero": math.nan}
        mean, std, zero = self._rows[-1][i]
        return {"mean": mean, "std": std, "near_zero": zero}

    def summary_lines(self) -> list[str]:
        """One line per layer: its statistics at the first and the last recorded step."""
        if not self._rows:
            return ["no activation statistics recorded"]
        lines = []
        for i, name in enumerate(self.layers):
            (m0, s0, z0), (m1, s1, z1) = self._rows[0][i], self._rows[-1][i]
            lines.append(f"{name:16s} mean {m0:+.3f} → {m1:+.3f}   std {s0:.3f} → {s1:.3f}   "
                         f"near zero {z0:.0%} → {z1:.0%}")
        return lines


def color_dim(stats: ActivationStats, layer: int | str = -2) -> NDArray[np.float64]:
    """fastai's "colorful dimension" of one layer: ``log1p`` of its histograms.

    Shape:
        ``(40, steps)``: row 0 is the bin of values near 0 (drawn at the bottom), one column
        per recorded step. A healthy layer is a smooth band; a collapse shows as everything
        in the bottom row, then a rise, then a crash again.
    """
    i = stats.layer_index(layer)
    return np.log1p(stats.hists[:, i, :].astype(np.float64)).T  # (40, steps)


def draw_stats(stats: ActivationStats, layers: Sequence[int | str] | None = None,
               title: str | None = None) -> Figure:
    """fastai's ``plot_layer_stats`` for every hooked layer (mean, std, % near zero per step)
    with its colorful dimension in a fourth column, as a matplotlib ``Figure`` (a notebook
    shows it; :func:`stats_figure` saves it).

    Args:
        layers: the layers drawn, by position (negative from the end) or name (default all).
        title: the figure's title (default none).

    Shape:
        one row of 4 panels per drawn layer; x: the recorded steps.
    """
    if not stats.layers or not stats.steps:
        raise ValueError("no activation statistics recorded: train with watchers=[stats] first")
    rows = [stats.layer_index(layer) for layer in layers] if layers is not None else list(
        range(len(stats.layers)))
    fig = _new_figure(13, 1.9 * len(rows) + (0.9 if title else 0.6))
    axes = fig.subplots(len(rows), 4, squeeze=False)
    if title:
        fig.suptitle(title, fontsize=10)
    steps = np.asarray(stats.steps)
    series = (("mean", stats.means), ("std", stats.stds), ("% near zero", stats.near_zero * 100))
    for row, i in enumerate(rows):
        name = stats.layers[i]
        for j, (what, values) in enumerate(series):
            ax = axes[row, j]
            ax.plot(steps, values[:, i], lw=0.9, color=("#2f6fdd", "#dd7a2f", "#8a2fdd")[j])
            ax.set_title(f"{name}: {what}", fontsize=8)
            ax.tick_params(labelsize=7)
        ax = axes[row, 3]
        image = color_dim(stats, i)
        ax.imshow(image, origin="lower", aspect="auto", cmap="viridis",
                  extent=(float(steps[0]), float(steps[-1]), *HIST_RANGE))
        ax.set_title(f"{name}: colorful dimension (log histogram)", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes[-1]:
        ax.set_xlabel("training step", fontsize=8)
    return fig


def stats_figure(stats: ActivationStats, path: str | Path) -> Path:
    """Save :func:`draw_stats` as a PNG at ``path``."""
    return _save(draw_stats(stats), path)


def draw_schedule(
    lrs: Sequence[float], losses: Sequence[float], moms: Sequence[float] | None = None,
) -> Figure:
    """fastai's ``plot_sched`` (learning rate and momentum per step) with the loss, as a
    matplotlib ``Figure`` (:func:`schedule_figure` saves it).

    Shape:
        ``lrs``, ``losses`` and ``moms``: one value per training step, the same length.
    """
    if not lrs:
        raise ValueError("no steps to plot: train first (TrainResult.lrs is empty)")
    panels = 3 if moms else 2
    fig = _new_figure(4.2 * panels, 3.2)
    axes = fig.subplots(1, panels, squeeze=False)[0]
    steps = np.arange(1, len(lrs) + 1)
    axes[0].plot(steps, lrs, color="#2f6fdd")
    axes[0].set_title("learning rate", fontsize=9)
    if moms:
        axes[1].plot(steps, moms, color="#dd7a2f")
        axes[1].set_title("momentum (AdamW β1)", fontsize=9)
    axes[-1].plot(steps, losses, lw=0.6, color="#999999", label="per step")
    if len(losses) >= 10:
        smooth = np.convolve(losses, np.ones(10) / 10, mode="valid")
        axes[-1].plot(steps[9:], smooth, color="#222222", label="mean of 10")
        axes[-1].legend(fontsize=7)
    axes[-1].set_title("training loss", fontsize=9)
    for ax in axes:
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
    return fig


def schedule_figure(
    lrs: Sequence[float], losses: Sequence[float], path: str | Path,
    moms: Sequence[float] | None = None,
) -> Path:
    """Save :func:`draw_schedule` as a PNG at ``path``."""
    return _save(draw_schedule(lrs, losses, moms), path)


@dataclass(frozen=True)
class LrFind:
    """The learning-rate range test's curve and suggestions.

    Attributes:
        lrs: float ``(n,)`` rates tried, increasing.
        losses: float ``(n,)`` smoothed losses (exponential moving average, debiased).
        suggestion: a tenth of the rate at the lowest smoothed loss (fastai's ``lr_min``).
        steepest: the rate where the smoothed loss falls fastest (fastai's ``lr_steep``).
        stopped_early: the loss blew up (over 4× its minimum) before ``end_lr``.
    """

    lrs: NDArray[np.float64]
    losses: NDArray[np.float64]
    suggestion: float
    steepest: float
    stopped_early: bool

    def describe(self) -> str:
        return (f"lr_find: suggestion {self.suggestion:.2g} (a tenth of the rate at the lowest "
                f"loss, {self.suggestion * 10:.2g}); steepest descent at {self.steepest:.2g}")


def lr_find(
    data: MnistData, config: TrainConfig | None = None, start_lr: float = 1e-7,
    end_lr: float = 10.0, steps: int = 100, beta: float = 0.98, seed: int = 0,
) -> LrFind:
    """Run the learning-rate range test on a fresh ``config.model`` (its weights are dropped).

    Args:
        config: model, batch size, optimiser settings and normalisation (default: ``fast``).
        start_lr, end_lr: the range, tried exponentially over ``steps`` mini-batches.
        beta: smoothing of the loss (fastai: 0.98).
    """
    import torch
    import torch.nn.functional as F

    from convrec.vision.models import build_model
    from convrec.vision.train import TrainConfig, machine_threads

    config = (config or TrainConfig()).validate()
    if not 0 < start_lr < end_lr:
        raise ValueError(f"need 0 < start_lr < end_lr, got start_lr={start_lr}, end_lr={end_lr}")
    if steps < 5:
        raise ValueError(f"steps must be at least 5, got steps={steps}")
    old_threads = torch.get_num_threads()
    torch.set_num_threads(config.threads or machine_threads())
    try:
        torch.manual_seed(seed)
        model = build_model(config.model)
        norm = data.pixel_stats() if config.normalize else False
        batches = data.batches("train", config.batch_size, shuffle=True, normalize=norm,
                               seed=seed, drop_last=len(data.train_labels) >= 2 * config.batch_size)
        opt = torch.optim.AdamW(model.parameters(), lr=start_lr, betas=config.betas,
                                weight_decay=config.weight_decay)
        factor = (end_lr / start_lr) ** (1 / (steps - 1))
        lrs: list[float] = []
        losses: list[float] = []
        avg, best, stopped = 0.0, math.inf, False
        model.train()
        step = 0
        while step < steps and not stopped:
            for x, y in batches:  # (B, 1, 28, 28), (B,)
                lr = start_lr * factor**step
                for group in opt.param_groups:
                    group["lr"] = lr
                loss = F.cross_entropy(model(x), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                value = float(loss.detach())
                avg = beta * avg + (1 - beta) * (value if math.isfinite(value) else 1e9)
                smooth = avg / (1 - beta ** (step + 1))  # debiased
                lrs.append(lr)
                losses.append(smooth)
                best = min(best, smooth)
                step += 1
                if not math.isfinite(value) or smooth > 4 * best:
                    stopped = True
                if stopped or step >= steps:
                    break
    finally:
        torch.set_num_threads(old_threads)
    lr_arr, loss_arr = np.asarray(lrs), np.asarray(losses)
    keep = len(loss_arr) - 1 if stopped and len(loss_arr) > 5 else len(loss_arr)
    lo = int(np.argmin(loss_arr[:keep]))
    slopes = np.gradient(loss_arr[:keep], np.log(lr_arr[:keep]))
    steep = int(np.argmin(slopes[: max(1, lo + 1)]))  # fastest fall before the minimum
    return LrFind(lr_arr, loss_arr, float(lr_arr[lo] / 10), float(lr_arr[steep]), stopped)


def draw_lr_find(found: LrFind) -> Figure:
    """The loss against the learning rate (log scale) with the suggestion and the steepest
    fall marked, as a matplotlib ``Figure`` (:func:`lr_find_figure` saves it)."""
    fig = _new_figure(6, 4)
    ax = fig.subplots()
    ax.plot(found.lrs, found.losses, color="#2f6fdd")
    ax.set_xscale("log")
    ax.axvline(found.suggestion, color="#dd2f2f", ls="--",
               label=f"suggestion {found.suggestion:.2g}")
    ax.axvline(found.steepest, color="#2fa02f", ls=":", label=f"steepest {found.steepest:.2g}")
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel("smoothed training loss")
    ax.set_title("learning-rate finder")
    ax.legend(fontsize=8)
    return fig


def lr_find_figure(found: LrFind, path: str | Path) -> Path:
    """Save :func:`draw_lr_find` as a PNG at ``path``."""
    return _save(draw_lr_find(found), path)


@dataclass(frozen=True)
class ProgressionStep:
    """One experiment of the chapter: a name, what changes, the configuration."""

    name: str
    change: str
    config: TrainConfig


def _progression() -> tuple[ProgressionStep, ...]:
    from convrec.vision.train import TrainConfig

    base = TrainConfig(model="simple", epochs=1, batch_size=64, lr=0.06, channels_last=False,
                       schedule="constant", eval_every=0)
    return (
        ProgressionStep("baseline", "simple_cnn, batch 64, constant lr 0.06 (learn.fit)", base),
        ProgressionStep("bigger batch", "batch 512", base.with_changes(batch_size=512)),
        ProgressionStep("1cycle", "one-cycle schedule, peak 0.06 (fit_one_cycle)",
                        base.with_changes(batch_size=512, schedule="one_cycle")),
        ProgressionStep("batchnorm", "BatchNorm after each ReLU",
                        base.with_changes(model="simple_bn", batch_size=512,
                                          schedule="one_cycle")),
        ProgressionStep("batchnorm, 5 epochs, lr 0.1", "the book's final recipe",
                        base.with_changes(model="simple_bn", batch_size=512, schedule="one_cycle",
                                          epochs=5, lr=0.1)),
    )


#: The chapter's experiments in order (see :func:`chapter13_progression`).
PROGRESSION: tuple[str, ...] = ("baseline", "bigger batch", "1cycle", "batchnorm",
                                "batchnorm, 5 epochs, lr 0.1")


@dataclass
class ProgressionRun:
    """One experiment's outcome: accuracy, time, and its last ReLU's share near zero."""

    name: str
    change: str
    config: TrainConfig
    result: TrainResult
    stats: ActivationStats = field(repr=False)

    def line(self) -> str:
        last_relu = next((i for i in range(len(self.stats.layers) - 1, -1, -1)
                          if self.stats.layers[i].endswith("ReLU")), -1)
        zero = self.stats.last(last_relu)["near_zero"]
        return (f"{self.name:28s} {self.result.final_accuracy:7.2%}  "
                f"{self.result.train_seconds:6.1f} s  last ReLU near zero {zero:4.0%}  "
                f"({self.change})")


def chapter13_progression(
    data: MnistData, names: Sequence[str] | None = None, seed: int = 0,
    on_run: Callable[[ProgressionRun], None] | None = None, stats_every: int = 1,
) -> list[ProgressionRun]:
    """Reproduce the chapter's progression: baseline → bigger batch → 1cycle → batchnorm.

    Args:
        names: which experiments (default all of :data:`PROGRESSION`), in the chapter's order.
        on_run: called after each experiment (e.g. to print :meth:`ProgressionRun.line`).
        stats_every: record activation statistics one step in so many.

    Returns:
        One :class:`ProgressionRun` per experiment, each with its activation statistics.
    """
    from convrec.vision.train import train

    steps = _progression()
    known = [s.name for s in steps]
    wanted = list(names) if names is not None else known
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise ValueError(f"experiment must be one of {', '.join(known)}; got {unknown[0]!r}")
    runs: list[ProgressionRun] = []
    for step in steps:
        if step.name not in wanted:
            continue
        stats = ActivationStats(every=stats_every)
        config = step.config.with_changes(seed=seed)
        result = train(data, config, watchers=[stats])
        run = ProgressionRun(step.name, step.change, config, result, stats)
        runs.append(run)
        if on_run is not None:
            on_run(run)
    return runs

