"""CNNs for MNIST: fastai chapter 13's ``simple_cnn`` (with and without BatchNorm) and ours.

Every model is an ``nn.Sequential`` of standard layers, so :func:`convrec.shapes.trace` can
explain every shape without running it, and a checkpoint is a plain state dict.

=============  ==========================================================  ===========
name           layers                                                      params
=============  ==========================================================  ===========
``simple``     fastai's first simple_cnn: stride-2 convs 1→8 (k5)→16→32→64 ~30k
               →10, ReLU, flatten
``simple_bn``  the same with BatchNorm after each ReLU (the book's final)  ~30k
``fast``       ours (the default model before issue 17; the live training  ~22k
               page's): conv 1→32 k5 s2 → BN → ReLU → maxpool 2 →
               conv 32→64 k3 → BN → ReLU → maxpool 2 → linear 256→10
``lean``       ours, the ``fast`` preset's: conv 1→32 k5 s2 → maxpool 2 →  ~54k
               BN → ReLU → conv 32→64 k3 → maxpool 2 → BN → ReLU → linear
               256→128 → BN → ReLU → linear 128→10
``accurate``   ours, for ≥ 99.5%: conv 1→32 k5 → pool → conv 32→64 k3 →    ~105k
               pool → conv 64→128 k3 → linear 1152→10 (BN + ReLU after each
               conv); trained with random affine augmentation
=============  ==========================================================  ===========

Why ``fast`` is fast: the work of a conv layer is ``C_out × C_in × k² × H_out × W_out``
multiply-adds per image, so it downsamples at once (stride 2 then max-pool: 28 → 12 → 6) and
spends its channels where the maps are small; 410k multiply-adds per digit against the
book's 250k, but it learns about three times faster per epoch (BatchNorm before ReLU, max
pooling, a linear head instead of a 10-channel conv).

Why ``lean`` is faster still (issue 17, benchmarks/RESULTS.md): it max-pools straight after
each conv and applies BatchNorm and ReLU to the pooled maps, a quarter of the values, so
those layers' forward and backward passes shrink fourfold: 12.1 against 14.3 ms a training
step of 256 digits (medians, 2 threads, channels-last, fused AdamW; benchmarks/RESULTS.md,
2026-12-02 fourth session, the accurate preset). Its hidden layer of 128 makes it learn
faster per epoch: with label smoothing and weight averaging it passes 99.0% after 0.75-1
epoch, where ``fast`` needs 1.5-1.7.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

__all__ = [
    "MODELS",
    "accurate_cnn",
    "build_model",
    "fast_cnn",
    "first_conv",
    "lean_cnn",
    "model_names",
    "shape_trace",
    "simple_cnn",
]


def _book_conv(ni: int, nf: int, ks: int = 3, act: bool = True, bn: bool = False) -> nn.Sequential:
    """fastai book's ``conv``: stride 2, padding ks//2, then ReLU, then BatchNorm (if any)."""
    layers: list[nn.Module] = [nn.Conv2d(ni, nf, kernel_size=ks, stride=2, padding=ks // 2)]
    if act:
        layers.append(nn.ReLU())
    if bn:
        layers.append(nn.BatchNorm2d(nf))
    return nn.Sequential(*layers)


def simple_cnn(batchnorm: bool = False) -> nn.Sequential:
    """fastai book chapter 13's ``simple_cnn`` for the ten digits.

    Shape:
        ``(N, 1, 28, 28)`` → 14 → 7 → 4 → 2 → 1 (each ``(n + 2p - k)//2 + 1``) → ``(N, 10)``.
    """
    return nn.Sequential(
        _book_conv(1, 8, ks=5, bn=batchnorm),  # (N, 8, 14, 14)
        _book_conv(8, 16, bn=batchnorm),  # (N, 16, 7, 7)
        _book_conv(16, 32, bn=batchnorm),  # (N, 32, 4, 4)
        _book_conv(32, 64, bn=batchnorm),  # (N, 64, 2, 2)
        _book_conv(64, 10, act=False, bn=batchnorm),  # (N, 10, 1, 1)
        nn.Flatten(),  # (N, 10)
    )


def _cbr(ni: int, nf: int, ks: int, stride: int = 1) -> list[nn.Module]:
    """Conv (no bias: BatchNorm has one) → BatchNorm → ReLU."""
    return [nn.Conv2d(ni, nf, ks, stride=stride, bias=False), nn.BatchNorm2d(nf), nn.ReLU()]


def fast_cnn(width: int = 32) -> nn.Sequential:
    """Small, downsampled early; 99.0% after about 1.5 epochs with weight averaging (the
    ``fast`` preset's model until :func:`lean_cnn` replaced it; old checkpoints name it).

    Shape:
        ``(N, 1, 28, 28)`` → conv k5 s2 ``(28 - 5)//2 + 1 = 12`` → pool ``6`` → conv k3 ``4``
        → pool ``2`` → flatten ``(N, 2*width*4)`` → ``(N, 10)``.
    """
    return nn.Sequential(
        *_cbr(1, width, 5, stride=2),  # (N, w, 12, 12)
        nn.MaxPool2d(2),  # (N, w, 6, 6)
        *_cbr(width, 2 * width, 3),  # (N, 2w, 4, 4)
        nn.MaxPool2d(2),  # (N, 2w, 2, 2)
        nn.Flatten(),  # (N, 8w)
        nn.Linear(2 * width * 4, 10),  # (N, 10)
    )


def lean_cnn(width: int = 32, hidden: int = 128) -> nn.Sequential:
    """The ``fast`` preset's model: ``fast_cnn``'s convolutions, each max-pooled *before* its
    BatchNorm and ReLU, then a hidden layer.

    Max-pooling first is not the same function as pooling after (BatchNorm can flip a
    channel's sign), but it trains as well and does the elementwise layers on a quarter of
    the values.

    Shape:
        ``(N, 1, 28, 28)`` → conv k5 s2 ``(28 - 5)//2 + 1 = 12`` → pool ``6`` → conv k3 ``4``
        → pool ``2`` → flatten ``(N, 2*width*4)`` → ``(N, hidden)`` → ``(N, 10)``.
    """
    return nn.Sequential(
        nn.Conv2d(1, width, 5, stride=2, bias=False),  # (N, w, 12, 12)
        nn.MaxPool2d(2),  # (N, w, 6, 6)
        nn.BatchNorm2d(width),
        nn.ReLU(),
        nn.Conv2d(width, 2 * width, 3, bias=False),  # (N, 2w, 4, 4)
        nn.MaxPool2d(2),  # (N, 2w, 2, 2)
        nn.BatchNorm2d(2 * width),
        nn.ReLU(),
        nn.Flatten(),  # (N, 8w)
        nn.Linear(2 * width * 4, hidden, bias=False),  # (N, hidden)
        nn.BatchNorm1d(hidden),
        nn.ReLU(),
        nn.Linear(hidden, 10),  # (N, 10)
    )


def accurate_cnn(width: int = 32) -> nn.Sequential:
    """Our model for ≥ 99.5%: full-resolution first layer, three conv blocks.

    Shape:
        ``(N, 1, 28, 28)`` → conv k5 ``24`` → pool ``12`` → conv k3 ``10`` → pool ``5`` →
        conv k3 ``3`` → flatten ``(N, 4*width*9)`` → ``(N, 10)``.
    """
    return nn.Sequential(
        *_cbr(1, width, 5),  # (N, w, 24, 24)
        nn.MaxPool2d(2),  # (N, w, 12, 12)
        *_cbr(width, 2 * width, 3),  # (N, 2w, 10, 10)
        nn.MaxPool2d(2),  # (N, 2w, 5, 5)
        *_cbr(2 * width, 4 * width, 3),  # (N, 4w, 3, 3)
        nn.Flatten(),  # (N, 36w)
        nn.Linear(4 * width * 9, 10),  # (N, 10)
    )


MODELS: dict[str, Callable[[], nn.Sequential]] = {
    "simple": lambda: simple_cnn(batchnorm=False),
    "simple_bn": lambda: simple_cnn(batchnorm=True),
    "fast": fast_cnn,
    "lean": lean_cnn,
    "accurate": accurate_cnn,
}


def model_names() -> list[str]:
    return list(MODELS)


def build_model(name: str) -> nn.Sequential:
    """A fresh model by name (see the table in this module's docstring)."""
    if name not in MODELS:
        raise ValueError(f"model must be one of {', '.join(MODELS)}; got model={name!r}")
    return MODELS[name]()


def first_conv(model: nn.Module) -> nn.Conv2d:
    """The model's first ``nn.Conv2d`` (its learned kernels are ``weight``: ``(C, 1, k, k)``)."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            return module
    raise ValueError(f"{type(model).__name__} has no Conv2d layer")


def shape_trace(model: nn.Module, input_shape: tuple[int, ...] = (64, 1, 28, 28)) -> Any:
    """Per-layer table of ``model``: input and output shapes, the worked formula, parameters.

    Returns a :class:`convrec.shapes.Trace` (render it with
    :func:`convrec.shapes.render_rich` or ``str()`` for markdown).
    """
    from convrec.shapes import trace

    with torch.no_grad():
        return trace(model, input_shape)
