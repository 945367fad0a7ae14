"""fastai's ``EmbeddingDotBias`` (book chapter 8) in plain PyTorch.

``r̂ = lo + (hi − lo) · σ(p_u · q_i + b_u + b_i)`` with ``y_range = (lo, hi)``, trained on MSE
with AdamW (decoupled weight decay ``wd``, fastai's betas 0.9/0.99) under a one-cycle learning
rate schedule, in mini-batches. After training the embeddings are copied out as numpy arrays,
so predicting, recommending and loading a saved model never import torch.
"""

from __future__ import annotations

import numpy as np

from convrec.recsys.base import register_model
from convrec.recsys.models.factor import FactorModel
from convrec.recsys.ratings import Ratings

__all__ = ["EmbeddingDotBias"]


@register_model
class EmbeddingDotBias(FactorModel):
    """Biased MF with a sigmoid output range, trained as in fastai's ``fit_one_cycle``.

    Args:
        n_factors: embedding size (fastai's default 50).
        y_range: output range of the sigmoid (the book uses (0, 5.5)).
        epochs: passes over the ratings (the book: 5).
        lr: peak learning rate of the one-cycle schedule (the book: 5e-3).
        wd: decoupled weight decay (the book: 0.1).
        batch_size: ratings per step (fastai's default 64).
        seed: torch seed.
        progress: show a progress bar.
    """

    def __init__(self, n_factors: int = 50, y_range: tuple[float, float] = (0.0, 5.5),
                 epochs: int = 5, lr: float = 5e-3, wd: float = 0.1, batch_size: int = 64,
                 seed: int = 0, progress: bool = False) -> None:
        self.n_factors = n_factors
        self.y_range = y_range
        self.epochs = epochs
        self.lr = lr
        self.wd = wd
        self.batch_size = batch_size
        self.seed = seed
        self.progress = progress

    def _fit(self, ratings: Ratings) -> None:
        import torch
        from torch import nn

        lo, hi = (float(v) for v in self.y_range)
        if not lo < hi:
            raise ValueError(f"y_range must be (low, high) with low < high, got {self.y_range!r}")
        if self.epochs < 1 or self.batch_size < 1 or self.n_factors < 1:
            raise ValueError("epochs, batch_size and n_factors must be positive, got "
                             f"{self.epochs}, {self.batch_size}, {self.n_factors}")
        torch.manual_seed(self.seed)
        gen = torch.Generator().manual_seed(self.seed)
        nu, ni, k = ratings.n_users, ratings.n_items, self.n_factors

        def emb(n: int, d: int) -> nn.Embedding:
            e = nn.Embedding(n, d)
            with torch.no_grad():
                nn.init.trunc_normal_(e.weight, std=0.01)  # fastai's embedding init
            return e

        u_w, i_w, u_b, i_b = emb(nu, k), emb(ni, k), emb(nu, 1), emb(ni, 1)
        params = [*u_w.parameters(), *i_w.parameters(), *u_b.parameters(), *i_b.parameters()]
        users = torch.from_numpy(ratings.users.astype(np.int64))
        items = torch.from_numpy(ratings.items.astype(np.int64))
        target = torch.from_numpy(ratings.ratings.astype(np.float32))
        n = len(target)
        steps = (n + self.batch_size - 1) // self.batch_size
        opt = torch.optim.AdamW(params, lr=self.lr, betas=(0.9, 0.99), weight_decay=self.wd)
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=self.lr, total_steps=steps * self.epochs, pct_start=0.25,
            div_factor=25.0, final_div_factor=1e5)
        epochs = range(self.epochs)
        if self.progress:
            from rich.progress import track

            epochs = track(epochs, description="training EmbeddingDotBias")  # type: ignore[assignment]
        for _ in epochs:
            perm = torch.randperm(n, generator=gen)
            for s in range(steps):
                idx = perm[s * self.batch_size:(s + 1) * self.batch_size]
                u, i = users[idx], items[idx]
                raw = (u_w(u) * i_w(i)).sum(1) + u_b(u).squeeze(1) + i_b(i).squeeze(1)
                pred = lo + (hi - lo) * torch.sigmoid(raw)
                loss = torch.mean((pred - target[idx]) ** 2)
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
        self.user_factors_ = u_w.weight.detach().numpy().astype(np.float64)
        self.item_factors_ = i_w.weight.detach().numpy().astype(np.float64)
        self.user_bias_ = u_b.weight.detach().numpy()[:, 0].astype(np.float64)
        self.item_bias_ = i_b.weight.detach().numpy()[:, 0].astype(np.float64)
        self.global_mean_ = 0.0
        self.y_range_ = (lo, hi)
