"""Receptive fields measured by input gradients: the independent reference for the tracer.

The model is copied to float64 with every parameter positive (uniform in [0.1, 1]) and fed a
positive input, so that no contribution cancels (weights are divided by their fan-in so
that activations stay below ReLU6's cap, where the gradient would vanish); max pools become
average pools (a max pool's gradient reaches only the winning pixel). For each layer, the
centre output element (sample 0, every channel) is backpropagated to the input; the box of
input elements with a non-zero gradient is what that element sees.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn

Box = tuple[tuple[int, int], ...]


def _avg_pools(model: nn.Module) -> None:
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            for mx, av in ((nn.MaxPool1d, nn.AvgPool1d), (nn.MaxPool2d, nn.AvgPool2d)):
                if type(child) is mx:
                    setattr(parent, name, av(child.kernel_size, child.stride, child.padding,
                                             ceil_mode=child.ceil_mode))


def positive_copy(model: nn.Module) -> nn.Module:
    """The float64, all-positive, average-pooling copy that gradients are measured on."""
    m = copy.deepcopy(model).double().eval()
    _avg_pools(m)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.rand(p.shape, generator=gen, dtype=p.dtype) * 0.9 + 0.1)
            if p.dim() >= 2:
                p.div_(p[0].numel())  # by fan-in: activations stay O(1), under ReLU6's cap
    return m


def gradient_boxes(model: nn.Module, shape: Sequence[int], layers: Sequence[str]
                   ) -> dict[str, Box]:
    """For each named layer of ``model`` (already a :func:`positive_copy`), the box of input
    elements, per spatial dimension of the input, that its centre output element depends on.

    Spatial dimensions: 2.. of an (N, C, ...) input; 1 of an (N, L) input.
    """
    modules = dict(model.named_modules())
    outputs: dict[str, torch.Tensor] = {}
    handles = [modules[n].register_forward_hook(
        lambda _m, _i, o, n=n: outputs.setdefault(n, o)) for n in layers]
    gen = torch.Generator().manual_seed(1)
    x = (torch.rand(tuple(shape), generator=gen, dtype=torch.float64) + 0.5).requires_grad_()
    try:
        model(x)
    finally:
        for h in handles:
            h.remove()
    boxes: dict[str, Box] = {}
    for name in layers:
        out = outputs[name]
        index = (0, slice(None), *((n - 1) // 2 for n in out.shape[2:]))
        (grad,) = torch.autograd.grad(out[index].sum(), x, retain_graph=True)
        g = grad[0].abs()
        if x.dim() >= 3:
            g = g.sum(0)  # every input channel
        reached = g > 0
        box = []
        for d in range(reached.dim()):
            other = tuple(i for i in range(reached.dim()) if i != d)
            hit = reached.any(dim=other) if other else reached
            idx = torch.nonzero(hit).flatten()
            box.append((int(idx.min()), int(idx.max())))
        boxes[name] = tuple(box)
    return boxes


def element_box(model: nn.Module, shape: Sequence[int], layer: str,
                element: Sequence[int]) -> Box:
    """The box, over EVERY input dimension (batch and channels too), of the input elements
    with a non-zero gradient for output ``element`` of ``layer`` (``""``: the model's
    output). ``model`` is already a :func:`positive_copy`; the input is (N, ...) float64."""
    module = dict(model.named_modules())[layer]
    seen: list[torch.Tensor] = []

    def keep(_m: nn.Module, _i: object, out: object) -> None:
        seen.append(out[0] if isinstance(out, tuple) else out)  # an RNN's (output, state)

    handle = module.register_forward_hook(keep)
    gen = torch.Generator().manual_seed(1)
    x = (torch.rand(tuple(shape), generator=gen, dtype=torch.float64) + 0.5).requires_grad_()
    try:
        model(x)
    finally:
        handle.remove()
    (grad,) = torch.autograd.grad(seen[0][tuple(element)], x)
    reached = grad != 0
    box = []
    for d in range(reached.dim()):
        other = tuple(i for i in range(reached.dim()) if i != d)
        idx = torch.nonzero(reached.any(dim=other) if other else reached).flatten()
        box.append((int(idx.min()), int(idx.max())))
    return tuple(box)
