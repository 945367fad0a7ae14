"""Training MNIST CNNs: one-cycle AdamW, a progress bar, seeded, safe checkpoints.

The loop is plain PyTorch (fastai's recipe without fastai): AdamW with betas (0.9, 0.99) and
weight decay 0.01, ``OneCycleLR`` (warm-up for ``pct_start`` of the steps, cosine annealing),
batches cut from uint8 tensors held in memory. Evaluation on the valid split every
``eval_every`` epochs is timed apart from training, so ``train_seconds`` and
:meth:`TrainResult.time_to` are the training time only (what the benchmark compares).

Checkpoints are a ``torch.save`` of plain tensors and JSON-like metadata, written to a temporary
file then renamed (never half-written), and read back with ``weights_only=True`` (no pickle
code runs on load).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from torch import nn

from convrec.vision.mnist import MnistData, to_float_batch
from convrec.vision.models import build_model

__all__ = [
    "PRESETS",
    "CheckpointError",
    "EvalPoint",
    "EvalResult",
    "Shard",
    "TrainConfig",
    "TrainResult",
    "evaluate",
    "load_checkpoint",
    "most_confused",
    "predict_proba",
    "save_checkpoint",
    "train",
]


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of one training run (the defaults are the ``fast`` preset).

    Attributes:
        model: a name from :data:`convrec.vision.models.MODELS`.
        epochs: passes over the train split (fractions allowed: 1.5 = one and a half).
        batch_size: 256: big enough to keep 2 cores busy, small enough for ~350 updates/epoch.
        lr: the one-cycle peak learning rate.
        weight_decay, betas: AdamW's, as fastai's defaults (0.01; 0.9, 0.99).
        pct_start: share of the steps spent warming up (fastai: 0.25).
        seed: seeds the weights, the shuffles and the augmentation.
        normalize: inputs scaled to mean 0, std 1 (fastai's ``Normalize``).
        augment: random affine per digit (±10°, scale 0.9-1.1, shift ±2 px).
        channels_last: NHWC memory layout (faster for the max-pool models on CPU).
        eval_every: evaluate on the valid split every so many epochs (0: only at the end).
        threads: torch threads during training (``None``: leave as is).
        device: ``"auto"`` (a CUDA GPU when one is present, else the CPU), ``"cpu"`` or
            ``"cuda"``; the returned model is always on the CPU.
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
    augment: bool = False
    channels_last: bool = True
    eval_every: float = 0.5
    threads: int | None = 2
    device: str = "auto"

    def validate(self) -> TrainConfig:
        from convrec.vision.models import MODELS

        if self.model not in MODELS:
            raise ValueError(f"model must be one of {', '.join(MODELS)}; got model={self.model!r}")
        if not self.epochs > 0:
            raise ValueError(f"epochs must be > 0, got epochs={self.epochs}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got batch_size={self.batch_size}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got lr={self.lr}")
        if not 0 < self.pct_start < 1:
            raise ValueError(f"pct_start must be between 0 and 1, got pct_start={self.pct_start}")
        if self.eval_every < 0:
            raise ValueError(f"eval_every must be >= 0 epochs, got eval_every={self.eval_every}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device must be auto, cpu or cuda, got device={self.device!r}")
        return self

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
PRESETS: dict[str, TrainConfig] = {
    "fast": TrainConfig(),
    "accurate": TrainConfig(model="accurate", epochs=6, batch_size=128, lr=0.01, augment=True,
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
    """

    model: nn.Module
    config: TrainConfig
    history: list[EvalPoint] = field(default_factory=list)
    train_seconds: float = 0.0
    cpu_seconds: float = 0.0

    @property
    def final_accuracy(self) -> float:
        return self.history[-1].valid_accuracy if self.history else math.nan

    def time_to(self, accuracy: float) -> float | None:
        """Training seconds at the first evaluation reaching ``accuracy`` (0-1), else None."""
        for point in self.history:
            if point.valid_accuracy >= accuracy:
                return point.train_seconds
        return None


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


def predict_proba(
    model: nn.Module, images: NDArray[np.uint8] | torch.Tensor, normalize: bool = True,
    batch_size: int = 2000,
) -> torch.Tensor:
    """Class probabilities ``(N, 10)`` for uint8 digits ``(N, 28, 28)``."""
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
            out.append(F.softmax(model(x.to(device)), dim=1).cpu())  # (B, 10)
    return torch.cat(out) if out else torch.zeros(0, 10)


@dataclass(frozen=True)
class EvalResult:
    """Accuracy, predictions and the confusion matrix (rows: actual, columns: predicted)."""

    accuracy: float
    predictions: NDArray[np.int64]
    confusion: NDArray[np.int64]


def evaluate(
    model: nn.Module, images: NDArray[np.uint8], labels: NDArray[np.int64], normalize: bool = True
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
) -> TrainResult:
    """Train ``config.model`` on ``data``'s train split, evaluating on its valid split.

    Args:
        progress: show a rich progress bar with the running loss and accuracy.
        on_eval: called after each evaluation (e.g. to print a line).

    Returns:
        A :class:`TrainResult`; the model is left in eval mode.
    """
    config = (config or TrainConfig()).validate()
    old_threads = torch.get_num_threads()
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    try:
        return _train(data, config, progress, on_eval)
    finally:
        torch.set_num_threads(old_threads)


def _train(
    data: MnistData, config: TrainConfig, progress: bool,
    on_eval: Callable[[EvalPoint], None] | None, shard: Shard | None = None,
) -> TrainResult:
    torch.manual_seed(config.seed)
    device = shard.device if shard is not None and shard.device is not None else (
        config.torch_device())
    model = build_model(config.model).to(device)
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    net = model if shard is None else shard.wrap(model)
    lead = shard is None or shard.rank == 0  # evaluates and reports
    per = config.batch_size // (1 if shard is None else shard.world)
    drop_last = len(data.train_labels) >= 2 * config.batch_size  # equal-size steps
    batches = data.batches("train", config.batch_size, shuffle=True, normalize=config.normalize,
                           seed=config.seed, drop_last=drop_last,
                           channels_last=config.channels_last)
    steps_per_epoch = len(batches)
    total = max(1, round(config.epochs * steps_per_epoch))
    eval_steps = max(1, round(config.eval_every * steps_per_epoch)) if config.eval_every else total
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, betas=config.betas,
                            weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, total_steps=total,
                                                pct_start=config.pct_start)
    aug_gen = torch.Generator().manual_seed(config.seed + 1)
    result = TrainResult(model=model, config=config)
    bar = _Bar(total, config) if progress and lead else None
    step, loss_ema, acc_ema = 0, math.nan, math.nan
    model.train()
    try:
        while step < total:
            for x, y in batches:  # (B, 1, 28, 28) float, (B,) int64
                t0, c0 = time.perf_counter(), time.process_time()
                if config.augment:
                    x = _augment(x, aug_gen)
                if shard is not None:  # this process's slice of the global batch
                    x = x[shard.rank * per:(shard.rank + 1) * per]  # (B/world, 1, 28, 28)
                    y = y[shard.rank * per:(shard.rank + 1) * per]
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                logits = net(x)  # (B, 10)
                loss = F.cross_entropy(logits, y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                step += 1
                result.train_seconds += time.perf_counter() - t0
                result.cpu_seconds += time.process_time() - c0
                if bar is not None and (step % 10 == 0 or step == total):
                    acc = float((logits.argmax(1) == y).float().mean())
                    loss_v = float(loss.detach())
                    loss_ema = loss_v if math.isnan(loss_ema) else 0.9 * loss_ema + 0.1 * loss_v
                    acc_ema = acc if math.isnan(acc_ema) else 0.9 * acc_ema + 0.1 * acc
                    bar.update(step, loss_ema, acc_ema)
                if lead and (step % eval_steps == 0 or step == total):
                    acc_valid = evaluate(model, data.valid_images, data.valid_labels,
                                         config.normalize).accuracy
                    model.train()
                    point = EvalPoint(round(step / steps_per_epoch, 3), step,
                                      result.train_seconds, float(loss.detach()), acc_valid)
                    result.history.append(point)
                    if bar is not None:
                        bar.valid(acc_valid)
                    if on_eval is not None:
                        on_eval(point)
                if step >= total:
                    break
    finally:
        if bar is not None:
            bar.close()
    model.eval()
    result.model = model.cpu()
    return result


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
    """A checkpoint file that cannot be loaded; the message names the file and why."""


def save_checkpoint(path: str | Path, result: TrainResult, extra: dict[str, Any] | None = None
                    ) -> Path:
    """Save weights + config + metrics atomically (temporary file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cfg = asdict(result.config)
    cfg["betas"] = list(cfg["betas"])
    meta = {
        "format": "convrec-mnist-1",
        "config": cfg,
        "final_accuracy": result.final_accuracy,
        "train_seconds": result.train_seconds,
        "history": [asdict(p) for p in result.history],
        **(extra or {}),
    }
    state = {k: v.detach().contiguous() for k, v in result.model.state_dict().items()}
    payload = {"state_dict": state, "meta_json": json.dumps(meta)}
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def load_checkpoint(path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """Load a checkpoint saved by :func:`save_checkpoint` (``weights_only=True``).

    Returns:
        ``(model in eval mode, metadata dict with "config", "final_accuracy", ...)``.

    Raises:
        FileNotFoundError: no such file.
        CheckpointError: not a convrec MNIST checkpoint, or weights that do not fit the model.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any unpickling error means a bad file
        raise CheckpointError(f"{path}: not a loadable checkpoint ({type(exc).__name__})") from exc
    if not isinstance(payload, dict) or "state_dict" not in payload or "meta_json" not in payload:
        raise CheckpointError(f"{path}: not a convrec MNIST checkpoint (no state_dict/meta)")
    meta = json.loads(payload["meta_json"])
    cfg = meta.get("config", {})
    name = cfg.get("model")
    from convrec.vision.models import MODELS

    if name not in MODELS:
        raise CheckpointError(f"{path}: unknown model {name!r}; known: {', '.join(MODELS)}")
    model = build_model(name)
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: weights do not fit model {name!r} ({exc})") from exc
    model.eval()
    return model, meta
