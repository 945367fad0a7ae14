"""Models written for the shape-tracer tests (also loadable as ``models.py:NAME`` by the CLI)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def conv(ni: int, nf: int, ks: int = 3, act: bool = True) -> nn.Sequential:
    """The fastai book's chapter-13 ``conv``: a stride-2 ks×ks convolution (+ ReLU)."""
    layers: list[nn.Module] = [nn.Conv2d(ni, nf, stride=2, kernel_size=ks, padding=ks // 2)]
    if act:
        layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def simple_cnn() -> nn.Sequential:
    """Chapter 13's ``simple_cnn``: 28→14→7→4→2→1, then Flatten to (N, 10)."""
    return nn.Sequential(
        conv(1, 4),  # 14x14
        conv(4, 8),  # 7x7
        conv(8, 16),  # 4x4
        conv(16, 32),  # 2x2
        conv(32, 10, act=False),  # 1x1
        nn.Flatten(),
    )


class LeNet(nn.Module):
    """Functional calls inside forward: F.max_pool2d, x.view, F.relu."""

    def __init__(self, fc_in: int = 16 * 5 * 5) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(fc_in, 120)
        self.fc2 = nn.Linear(120, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)  # (N, 6, 14, 14) for 32x32
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)  # (N, 16, 5, 5)
        x = x.view(x.size(0), -1)  # (N, 400)
        return self.fc2(F.relu(self.fc1(x)))


class Residual(nn.Module):
    """A nested custom block with a skip connection and BatchNorm."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResNetish(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.block = Residual(8)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.block(self.stem(x)))
        return self.head(torch.flatten(x, 1))


def everything() -> nn.Sequential:
    """Every known layer type in one Sequential, for static-vs-run agreement."""
    return nn.Sequential(
        nn.ZeroPad2d((1, 2, 0, 1)),
        nn.Conv2d(1, 4, 3, stride=2, padding=1, dilation=2),
        nn.BatchNorm2d(4),
        nn.LeakyReLU(),
        nn.Conv2d(4, 4, 3, padding="same", groups=2),
        nn.ReflectionPad2d(1),
        nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True),
        nn.AvgPool2d(2),
        nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1),
        nn.Dropout2d(0.1),
        nn.AdaptiveMaxPool2d((3, 2)),
        nn.Flatten(),
        nn.Unflatten(1, (6, 6)),
        nn.LayerNorm(6),
        nn.Flatten(),
        nn.Linear(36, 7),
        nn.Softmax(dim=1),
    )


# ---------------------------------------------------------------- the classic shape errors
def linear_mismatch() -> nn.Sequential:
    """mat1 and mat2 shapes cannot be multiplied (64x576 and 1024x10)."""
    return nn.Sequential(
        nn.Conv2d(1, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 64, 3), nn.ReLU(),
        nn.Flatten(), nn.Linear(1024, 10),
    )


def rgb_model() -> nn.Sequential:
    """Built for RGB; fed grayscale: 'expected input[1, 1, 256, 256] to have 3 channels'."""
    return nn.Sequential(nn.Conv2d(3, 64, 3), nn.ReLU())


def too_deep() -> nn.Sequential:
    """Kernel size can't be greater than actual input size (deep in the stack)."""
    return nn.Sequential(nn.Conv2d(1, 8, 5), nn.Conv2d(8, 8, 5), nn.Conv2d(8, 8, 5))


def no_flatten() -> nn.Sequential:
    """Flatten forgotten before the Linear."""
    return nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.Linear(8 * 26 * 26, 10))


def mnist_conv() -> nn.Sequential:
    """A correct MNIST conv: fails when fed (28, 28) or (64, 28, 28)."""
    return nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU())


def too_much_pooling() -> nn.Sequential:
    """MaxPool output size too small."""
    return nn.Sequential(nn.Conv2d(1, 8, 3, stride=2, padding=1),
                         *[nn.MaxPool2d(2) for _ in range(5)])


def wrong_view() -> LeNet:
    """x.view with the wrong size inside forward."""

    class BadView(LeNet):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = F.max_pool2d(F.relu(self.conv1(x)), 2)
            x = F.max_pool2d(F.relu(self.conv2(x)), 2)
            x = x.view(-1, 16 * 7 * 7)
            return self.fc1(x)

    return BadView()


def chained_channels() -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.Conv2d(16, 8, 3))
MODELS_NOT_A_MODULE = 42
