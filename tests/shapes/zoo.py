"""The zoo: real architectures the tracer is checked on (also used by benchmarks/bench_shapes.py).

transformers' models are built from their config classes with tiny sizes and random weights
(no download); the U-Net, the small ResNets, the LSTM tagger and the broken models are
written here. Each entry says how to call the model: ``input_size`` (+ ``dtypes``) as
``convrec.shapes.trace`` and ``torchinfo.summary`` both take them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class Entry:
    name: str
    build: Callable[[], nn.Module]
    input_size: Any
    dtypes: Any = None
    cnn: bool = False  # check every conv's receptive field against input gradients
    broken: str = ""  # the merge kind that fails ("add", "cat", "matmul")
    notes: dict[str, Any] = field(default_factory=dict)

    def input_data(self, dtype: torch.dtype = torch.float32) -> Any:
        """Tensors for torchinfo / a plain forward: zeros, ones for masks, long ids."""

        def make(name: str, shape: tuple[int, ...]) -> torch.Tensor:
            if self.dtypes is not None:
                return torch.full(shape, 1 if "mask" in name else 0, dtype=torch.long)
            return torch.zeros(shape, dtype=dtype)

        if isinstance(self.input_size, dict):
            return {k: make(k, v) for k, v in self.input_size.items()}
        return make("x", self.input_size)


# ----------------------------------------------------------------------------- written here
class BasicBlock(nn.Module):
    """A ResNet basic block whose 1×1 stride-2 shortcut runs BEFORE the main path (the order
    that made an execution-order receptive field wrong)."""

    def __init__(self, ni: int, nf: int, stride: int = 1, project: bool = True) -> None:
        super().__init__()
        self.shortcut = (nn.Sequential(nn.Conv2d(ni, nf, 1, stride=stride, bias=False),
                                       nn.BatchNorm2d(nf))
                         if project and (stride != 1 or ni != nf) else nn.Identity())
        self.conv1 = nn.Conv2d(ni, nf, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(nf)
        self.conv2 = nn.Conv2d(nf, nf, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(nf)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = self.shortcut(x)
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + identity)


class SmallResNet(nn.Module):
    def __init__(self, project: bool = True) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8),
                                  nn.ReLU())
        self.layer1 = BasicBlock(8, 8)
        self.layer2 = BasicBlock(8, 16, stride=2, project=project)
        self.layer3 = BasicBlock(16, 32, stride=2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer3(self.layer2(self.layer1(self.stem(x))))
        return self.fc(torch.flatten(self.pool(x), 1))


def broken_resnet() -> SmallResNet:
    """layer2 downsamples its main path but keeps the identity shortcut: the add fails."""
    return SmallResNet(project=False)


class Bottleneck(nn.Module):
    """1×1 reduce, strided 3×3, 1×1 expand, with a strided 1×1 projection shortcut first."""

    def __init__(self, ni: int, mid: int, nf: int, stride: int) -> None:
        super().__init__()
        self.shortcut = nn.Conv2d(ni, nf, 1, stride=stride)
        self.reduce = nn.Conv2d(ni, mid, 1)
        self.conv = nn.Conv2d(mid, mid, 3, stride=stride, padding=1)
        self.expand = nn.Conv2d(mid, nf, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = self.shortcut(x)
        return F.relu(self.expand(F.relu(self.conv(F.relu(self.reduce(x))))) + skip)


class BottleneckNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)
        self.block1 = Bottleneck(8, 4, 16, stride=2)
        self.block2 = Bottleneck(16, 8, 32, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block2(self.block1(self.pool(F.relu(self.stem(x)))))


def _double_conv(ni: int, nf: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(ni, nf, 3, padding=1), nn.BatchNorm2d(nf), nn.ReLU(),
                         nn.Conv2d(nf, nf, 3, padding=1), nn.BatchNorm2d(nf), nn.ReLU())


class UNet(nn.Module):
    """Two levels down, two up, skip concatenations and transposed convolutions."""

    def __init__(self, c: int = 4) -> None:
        super().__init__()
        self.down1 = _double_conv(1, c)
        self.down2 = _double_conv(c, 2 * c)
        self.bottom = _double_conv(2 * c, 4 * c)
        self.pool = nn.MaxPool2d(2)
        self.up2 = nn.ConvTranspose2d(4 * c, 2 * c, 2, stride=2)
        self.dec2 = _double_conv(4 * c, 2 * c)
        self.up1 = nn.ConvTranspose2d(2 * c, c, 2, stride=2)
        self.dec1 = _double_conv(2 * c, c)
        self.head = nn.Conv2d(c, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s1 = self.down1(x)
        s2 = self.down2(self.pool(s1))
        b = self.bottom(self.pool(s2))
        d2 = self.dec2(torch.cat([self.up2(b), s2], dim=1))
        d1 = self.dec1(torch.cat([self.up1(d2), s1], dim=1))
        return self.head(d1)


class StdConv2d(nn.Conv2d):
    """A conv with weight standardisation in its own forward (BiT's, timm's ``StdConv2d``):
    a leaf with no formula of its own, whose ``F.conv2d`` call carries the field."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight
        w = (w - w.mean((1, 2, 3), keepdim=True)) / (w.std((1, 2, 3), keepdim=True) + 1e-5)
        return F.conv2d(x, w, self.bias, self.stride, self.padding, self.dilation, self.groups)


class PiecesNet(nn.Module):
    """Pieces of tensors and resamplers, each read by a conv: ``chunk`` (channels), a
    spatial ``split`` and ``narrow``, ``unbind`` + ``stack``, ``nn.Upsample``,
    ``nn.PixelShuffle`` and ``nn.PixelUnshuffle`` (as in FPNs, ESPCN super-resolution and
    GAN generators), and a weight-standardised conv. A piece taken without a row once
    made every later field "whole input"."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.a = nn.Conv2d(4, 4, 3, stride=2, padding=1)
        self.b = nn.Conv2d(4, 4, 5, stride=2, padding=2)
        self.shuffle = nn.PixelShuffle(2)
        self.up = nn.Upsample(scale_factor=2, mode="bilinear")
        self.mix = nn.Conv2d(2, 4, 3, padding=1)
        self.top = nn.Conv2d(4, 4, 3)
        self.bottom = nn.Conv2d(4, 4, 3, dilation=2)
        self.right = StdConv2d(4, 4, 3, stride=2)
        self.unshuffle = nn.PixelUnshuffle(2)
        self.head = nn.Conv2d(16, 4, 3)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        p, q = self.stem(x).chunk(2, dim=1)
        y = self.shuffle(torch.cat([self.a(p), F.relu(self.b(q))], 1))  # (2, H)
        z = self.mix(y + self.up(F.avg_pool2d(y, 2)))
        upper, lower = z.split([z.shape[2] // 2, z.shape[2] - z.shape[2] // 2], dim=2)
        flipped = torch.stack(z.unbind(1)[::-1], 1)
        return (self.top(upper), self.bottom(F.relu(lower)),
                self.right(z.narrow(3, 5, z.shape[3] - 5)),
                self.head(self.unshuffle(flipped)))


class WrapNet(nn.Module):
    """Padding that reads the image itself, and same-shape reorderings: a circular conv
    (periodic data, as in climate grids), reflect and replicate padding, ``torch.roll`` (as
    Swin's shifted windows) and ``torch.flip``. A circular pad at the top reads the bottom
    rows, which a zero-padding box would miss."""

    def __init__(self) -> None:
        super().__init__()
        self.wrap = nn.Conv2d(1, 2, (3, 5), stride=(2, 1), padding=(1, 2),
                              padding_mode="circular")
        self.mirror = nn.Conv2d(2, 2, 3, padding=2, padding_mode="reflect")
        self.edge = nn.Conv2d(2, 2, 3)
        self.shifted = nn.Conv2d(2, 2, 3, stride=2)
        self.pad = nn.CircularPad2d(2)
        self.head = nn.Conv2d(2, 1, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.edge(F.pad(self.mirror(self.wrap(x)), (3, 1, 2, 0), mode="replicate"))
        y = self.shifted(torch.roll(y, shifts=(3, -2), dims=(2, 3)) + torch.flip(y, [3]))
        return self.head(self.pad(y))


class LSTMTagger(nn.Module):
    """Token ids (N, L) → embeddings → bidirectional LSTM → one tag per token."""

    def __init__(self, vocab: int = 50, dim: int = 16, hidden: int = 12, tags: int = 5) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.lstm = nn.LSTM(dim, hidden, num_layers=2, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * hidden, tags)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        h, _ = self.lstm(self.embed(ids))
        return self.out(h)


class BrokenAttention(nn.Module):
    """Scores from q @ k without transposing k: (N, L, d) @ (N, L, d) fails for L != d."""

    def __init__(self, d: int = 8) -> None:
        super().__init__()
        self.q = nn.Linear(d, d)
        self.k = nn.Linear(d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.q(x) @ self.k(x), dim=-1)


# ----------------------------------------------------------------------------- transformers
def _hf(config_name: str, model_name: str, **config: Any) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        import transformers

        torch.manual_seed(0)
        cfg = getattr(transformers, config_name)(**config)
        return getattr(transformers, model_name)(cfg).eval()

    return build


ZOO: tuple[Entry, ...] = (
    Entry("hf ResNet (basic)", _hf("ResNetConfig", "ResNetModel", embedding_size=8,
                                   hidden_sizes=[8, 16, 32, 64], depths=[1, 1, 1, 1],
                                   layer_type="basic"), (1, 3, 64, 64), cnn=True),
    Entry("hf ResNet (bottleneck)", _hf("ResNetConfig", "ResNetModel", embedding_size=8,
                                        hidden_sizes=[16, 32, 64, 128], depths=[1, 1, 1, 1],
                                        layer_type="bottleneck"), (1, 3, 64, 64), cnn=True),
    Entry("hf ConvNeXt", _hf("ConvNextConfig", "ConvNextModel", hidden_sizes=[8, 16, 32, 64],
                             depths=[1, 1, 1, 1]), (1, 3, 64, 64), cnn=True),
    Entry("hf MobileNetV2", _hf("MobileNetV2Config", "MobileNetV2Model", depth_multiplier=0.25,
                                image_size=32), (1, 3, 32, 32), cnn=True),
    Entry("hf ViT", _hf("ViTConfig", "ViTModel", hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, image_size=32,
                        patch_size=8), (1, 3, 32, 32)),
    Entry("hf BERT", _hf("BertConfig", "BertModel", vocab_size=100, hidden_size=32,
                         num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                         max_position_embeddings=64),
          {"input_ids": (2, 16), "attention_mask": (2, 16)}, dtypes="long"),
    Entry("hf GPT-2", _hf("GPT2Config", "GPT2Model", n_embd=32, n_layer=2, n_head=2,
                          vocab_size=100, n_positions=64, bos_token_id=0, eos_token_id=0),
          {"input_ids": (2, 16)}, dtypes="long"),
    Entry("hf T5", _hf("T5Config", "T5Model", d_model=32, d_ff=64, num_layers=2, num_heads=2,
                       d_kv=16, vocab_size=100),
          {"input_ids": (2, 12), "decoder_input_ids": (2, 8)}, dtypes="long"),
    Entry("hf wav2vec2", _hf("Wav2Vec2Config", "Wav2Vec2Model", hidden_size=32,
                             num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                             conv_dim=(16, 16, 16), conv_stride=(5, 2, 2),
                             conv_kernel=(10, 3, 3), feat_extract_norm="layer",
                             num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2),
          (1, 2000), cnn=True),
    Entry("U-Net", UNet, (1, 1, 32, 32), cnn=True),
    Entry("small ResNet", SmallResNet, (1, 3, 32, 32), cnn=True),
    Entry("bottleneck net", BottleneckNet, (1, 3, 64, 64), cnn=True),
    Entry("pieces and resamplers", PiecesNet, (1, 3, 32, 32), cnn=True),
    Entry("padding modes, roll and flip", WrapNet, (1, 1, 17, 19), cnn=True),
    Entry("LSTM tagger", LSTMTagger, (4, 20), dtypes="long"),
    Entry("broken add (ResNet, no projection)", broken_resnet, (1, 3, 32, 32), broken="add"),
    Entry("broken cat (U-Net on 30×30)", UNet, (1, 1, 30, 30), broken="cat"),
    Entry("broken matmul (q @ k)", BrokenAttention, (2, 5, 8), broken="matmul"),
)
