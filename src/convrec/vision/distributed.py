"""Data-parallel CNN training: ``convrec mnist train --nproc N`` or ``torchrun``.

Each of the ``N`` processes holds the whole data set, draws the same global batches (same
seed, same shuffle, same augmentation) and trains on its own contiguous slice of each batch
through ``DistributedDataParallel``, which averages the gradients across processes after every
backward pass. The averaged gradient of ``N`` equal slices is the gradient of the whole batch,
so the weights follow the one-process run up to floating-point noise (the sums are added up in
a different order). Backends: ``gloo`` on CPU, ``nccl`` on CUDA GPUs (one GPU per process).

One caveat: BatchNorm layers see only their process's slice. On GPUs they are converted to
``SyncBatchNorm`` (statistics over the whole batch, as in one process); PyTorch's
``SyncBatchNorm`` does not run on CPU, so on CPU each process normalises its own
``batch_size / N`` digits (the usual DDP behaviour) and runs with BatchNorm models match the
one-process run in accuracy, not weight for weight. Models without BatchNorm (``simple``, the
``book`` preset) match weight for weight on CPU too.

Rank 0 evaluates, shows the progress bar and returns the result; ``train_distributed`` sends
it back to the calling process through a temporary file.
"""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from convrec.vision.mnist import MnistData
from convrec.vision.train import EvalPoint, Shard, TrainConfig, TrainResult, _train

__all__ = ["launched_by_torchrun", "train_distributed"]


def launched_by_torchrun() -> bool:
    """True inside a process started by ``torchrun`` with more than one worker."""
    return "LOCAL_RANK" in os.environ and int(os.environ.get("WORLD_SIZE", "1")) > 1


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _run_rank(rank: int, world: int, init_method: str, data: MnistData, config: TrainConfig,
              progress: bool, out: str | None,
              on_eval: Callable[[EvalPoint], None] | None) -> TrainResult | None:
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    device = config.torch_device()
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        local = int(os.environ.get("LOCAL_RANK", rank)) % torch.cuda.device_count()
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    dist.init_process_group(backend, init_method=init_method, rank=rank, world_size=world)
    try:
        threads = max(1, (config.threads or os.cpu_count() or 1) // world)
        torch.set_num_threads(threads)

        def wrap(model: nn.Module) -> nn.Module:
            if device.type == "cuda":
                model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
                return DistributedDataParallel(model, device_ids=[device.index])
            return DistributedDataParallel(model)

        shard = Shard(rank=rank, world=world, wrap=wrap, device=device)
        result = _train(data, config, progress and rank == 0,
                        on_eval if rank == 0 else None, shard)
        dist.barrier()
    finally:
        dist.destroy_process_group()
    if rank != 0:
        return None
    if out is not None:
        state = {k: v.detach().contiguous() for k, v in result.model.state_dict().items()}
        torch.save({"state_dict": state, "history": [asdict(p) for p in result.history],
                    "train_seconds": result.train_seconds, "cpu_seconds": result.cpu_seconds},
                   out)
    return result


def _spawned(rank: int, world: int, init_method: str, data: MnistData, config: TrainConfig,
             progress: bool, out: str) -> None:
    _run_rank(rank, world, init_method, data, config, progress, out, None)


def train_distributed(
    data: MnistData,
    config: TrainConfig | None = None,
    nproc: int = 2,
    progress: bool = False,
    on_eval: Callable[[EvalPoint], None] | None = None,
) -> TrainResult | None:
    """Train with ``DistributedDataParallel`` over ``nproc`` processes on this machine.

    Under ``torchrun`` (``LOCAL_RANK`` and ``WORLD_SIZE`` set) this process is one worker:
    ``nproc`` is ignored, rank 0 returns the result and the other ranks return ``None``.
    Otherwise ``nproc`` processes are spawned and the result of rank 0 is returned here.

    Args:
        data: the digits (each process gets a copy).
        config: the training configuration; ``batch_size`` is the global batch and must be
            divisible by the number of processes. ``threads`` are shared out among them.
        nproc: processes to spawn (≥ 1; 1 trains in this process without DDP).
        progress: rank 0 shows a progress bar.
        on_eval: called by rank 0 after each evaluation (under torchrun only; spawned
            workers cannot call back into this process, use ``result.history``).

    Returns:
        The :class:`~convrec.vision.train.TrainResult` of rank 0 (``None`` on other ranks).
    """
    from convrec.vision.models import build_model
    from convrec.vision.train import train

    config = (config or TrainConfig()).validate()
    if launched_by_torchrun():
        world, rank = int(os.environ["WORLD_SIZE"]), int(os.environ["RANK"])
        _check_batch(config, world)
        return _run_rank(rank, world, "env://", data, config, progress, None, on_eval)
    if not isinstance(nproc, int) or isinstance(nproc, bool) or nproc < 1:
        raise ValueError(f"nproc must be an integer >= 1, got nproc={nproc!r}")
    if nproc == 1:
        return train(data, config, progress=progress, on_eval=on_eval)
    _check_batch(config, nproc)
    if config.torch_device().type == "cuda" and torch.cuda.device_count() < nproc:
        raise ValueError(f"nproc={nproc} processes need one GPU each, but torch sees "
                         f"{torch.cuda.device_count()}")
    from torch.multiprocessing.spawn import spawn

    init_method = f"tcp://127.0.0.1:{_free_port()}"
    with tempfile.TemporaryDirectory(prefix="convrec-ddp-") as tmp:
        out = str(Path(tmp) / "rank0.pt")
        spawn(_spawned, args=(nproc, init_method, data, config, progress, out),
                 nprocs=nproc, join=True)
        payload: dict[str, Any] = torch.load(out, map_location="cpu", weights_only=True)
    model = build_model(config.model)
    model.load_state_dict(payload["state_dict"])
    model.eval()
    return TrainResult(model=model, config=config,
                       history=[EvalPoint(**p) for p in payload["history"]],
                       train_seconds=float(payload["train_seconds"]),
                       cpu_seconds=float(payload["cpu_seconds"]))


def _check_batch(config: TrainConfig, world: int) -> None:
    if config.batch_size % world:
        raise ValueError(f"batch_size must be divisible by the number of processes: "
                         f"batch_size={config.batch_size}, processes={world}")
