"""Live training for the studio: one small CNN trained at a time, its progress as events.

:class:`LiveTrainer` runs :func:`convrec.vision.train.train` in a background thread with an
:class:`~convrec.vision.watch.ActivationStats` and itself as watchers, and keeps every event
of the current run in order (``step``: loss, learning rate, momentum, one column of the
colorful dimension and the mean, std and share near zero of every hooked layer; ``eval``:
valid accuracy; ``done``), so that any number of readers (a server-sent-events stream, a
test) can follow it from any point. Runs are bounded (:data:`LIMITS`: epochs, train digits,
steps, seconds) and cancellable.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import nn

    from convrec.vision.mnist import MnistData
    from convrec.vision.train import EvalPoint, TrainConfig, TrainResult
    from convrec.vision.watch import ActivationStats

__all__ = ["LIMITS", "LiveRequest", "LiveTrainer", "RunBusyError"]

#: Bounds of one live run: the studio shares one machine with everyone using it.
LIMITS = {"epochs": 3.0, "n_train": 20_000, "steps": 3_000, "seconds": 300.0}
LIVE_MODELS = ("simple", "simple_bn", "fast")


class RunBusyError(RuntimeError):
    """A live run is already going; only one at a time."""


@dataclass(frozen=True)
class LiveRequest:
    """What the training page asks for (checked by :meth:`validate`)."""

    model: str = "simple_bn"
    epochs: float = 1.0
    batch_size: int = 128
    lr: float = 0.06
    schedule: str = "one_cycle"
    n_train: int = 6_000
    seed: int = 0

    def validate(self) -> LiveRequest:
        from convrec.vision.train import SCHEDULES

        checks = [
            (self.model in LIVE_MODELS, "model", f"one of {', '.join(LIVE_MODELS)}"),
            (0 < self.epochs <= LIMITS["epochs"], "epochs", f"> 0 and <= {LIMITS['epochs']:g}"),
            (8 <= self.batch_size <= 1024, "batch_size", "between 8 and 1024"),
            (0 < self.lr <= 1, "lr", "> 0 and <= 1"),
            (self.schedule in SCHEDULES, "schedule", f"one of {', '.join(SCHEDULES)}"),
            (self.batch_size <= self.n_train <= LIMITS["n_train"], "n_train",
             f"between batch_size and {LIMITS['n_train']:,}"),
        ]
        for ok, name, allowed in checks:
            if not ok:
                raise ValueError(f"{name} must be {allowed}, got {name}={getattr(self, name)!r}")
        return self

    def config(self) -> TrainConfig:
        from convrec.vision.train import TrainConfig

        return TrainConfig(model=self.model, epochs=self.epochs, batch_size=self.batch_size,
                           lr=self.lr, schedule=self.schedule, seed=self.seed, eval_every=0.25,
                           channels_last=self.model == "fast", threads=1)


@dataclass
class _Run:
    run_id: int
    request: LiveRequest
    events: list[dict[str, Any]] = field(default_factory=list)
    cancel: threading.Event = field(default_factory=threading.Event)
    done: bool = False


class _Relay:
    """The watcher that turns training into events (and enforces the run's bounds)."""

    def __init__(self, run: _Run, stats: ActivationStats, push: Callable[[dict[str, Any]], None],
                 every: int) -> None:
        self.run, self.stats, self.push, self.every = run, stats, push, every
        self.started = time.monotonic()

    def before_fit(self, model: nn.Module, total_steps: int) -> None:
        self.push({"type": "start", "total_steps": total_steps, "layers": self.stats.layers,
                   "bins": 40, "range": [0, 10]})

    def after_batch(self, step: int, loss: float, lr: float, result: TrainResult) -> None:
        from convrec.vision.train import TrainingCancelled

        if self.run.cancel.is_set():
            raise TrainingCancelled
        if time.monotonic() - self.started > LIMITS["seconds"] or step >= LIMITS["steps"]:
            self.push({"type": "limit", "message": f"stopped at the studio's bound "
                       f"({LIMITS['steps']:,.0f} steps or {LIMITS['seconds']:.0f} s)"})
            raise TrainingCancelled
        if step % self.every == 0 or step == 1:
            hist = self.stats.last_hists()
            layers = [self.stats.last(i) for i in range(len(self.stats.layers))]
            self.push({"type": "step", "step": step, "loss": round(loss, 5), "lr": lr,
                       "mom": result.moms[-1] if result.moms else None,
                       "hist": [[round(float(v), 2) for v in h] for h in hist],
                       # plot_layer_stats' three series, one value per hooked layer
                       "mean": [round(float(x["mean"]), 4) for x in layers],
                       "std": [round(float(x["std"]), 4) for x in layers],
                       "near_zero": [round(float(z), 4) for z in self.stats.last_near_zero()]})

    def after_eval(self, point: EvalPoint) -> None:
        self.push({"type": "eval", "step": point.step, "epoch": point.epoch,
                   "valid_accuracy": point.valid_accuracy})

    def after_fit(self, result: TrainResult) -> None:
        pass


class LiveTrainer:
    """One live training run at a time, its events kept for readers.

    Args:
        load_data: returns the digits to train on (called once, in the training thread).
    """

    def __init__(self, load_data: Callable[[], MnistData]) -> None:
        self._load_data = load_data
        self._data: MnistData | None = None
        self._lock = threading.Condition()
        self._run: _Run | None = None
        self._ids = itertools.count(1)
        self._thread: threading.Thread | None = None

    def start(self, request: LiveRequest) -> int:
        """Start a run; returns its id.

        Raises:
            ValueError: a value out of bounds (named).
            RunBusyError: a run is going (cancel it first).
        """
        request.validate()
        with self._lock:
            if self._run is not None and not self._run.done:
                raise RunBusyError(f"run {self._run.run_id} is still training (one run at a "
                                   "time): wait for it to end or cancel it first")
            run = _Run(next(self._ids), request)
            self._run = run
        self._thread = threading.Thread(target=self._work, args=(run,), daemon=True,
                                        name=f"live-train-{run.run_id}")
        self._thread.start()
        return run.run_id

    def cancel(self, run_id: int | None = None) -> bool:
        """Ask the current run (or run ``run_id``) to stop; False when there is none."""
        with self._lock:
            run = self._run
            if run is None or run.done or (run_id is not None and run.run_id != run_id):
                return False
            run.cancel.set()
            return True

    def current(self) -> int | None:
        """The id of the run whose events are kept (going or finished), or ``None``."""
        with self._lock:
            return None if self._run is None else self._run.run_id

    def events(self, run_id: int, since: int = 0, timeout: float = 1.0
               ) -> tuple[list[dict[str, Any]], bool]:
        """Events ``since`` onwards of run ``run_id`` (waiting up to ``timeout`` s for one),
        and whether the run is over. An unknown or replaced run gives ``([], True)``."""
        with self._lock:
            run = self._run
            if run is None or run.run_id != run_id:
                return [], True
            if len(run.events) <= since and not run.done:
                self._lock.wait(timeout)
            return list(run.events[since:]), run.done

    def wait(self, timeout: float | None = None) -> None:
        """Block until the current run's thread has ended (tests, shutdown)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _push(self, run: _Run, event: dict[str, Any]) -> None:
        with self._lock:
            event["i"] = len(run.events)
            run.events.append(event)
            self._lock.notify_all()

    def _work(self, run: _Run) -> None:
        from convrec.vision.mnist import MnistData
        from convrec.vision.train import train
        from convrec.vision.watch import ActivationStats

        def push(event: dict[str, Any]) -> None:
            self._push(run, event)

        try:
            if self._data is None:
                push({"type": "status", "message": "loading the digits"})
                self._data = self._load_data()
            full = self._data
            n = min(run.request.n_train, len(full.train_labels))
            data = MnistData(full.train_images[:n], full.train_labels[:n],
                             full.valid_images[:2000], full.valid_labels[:2000],
                             source=full.source, key=full.key)
            push({"type": "status", "message": f"training on {n:,} digits of {full.source}, "
                  f"validating on {len(data.valid_labels):,}"})
            config = run.request.config()
            stats = ActivationStats()
            steps = max(1, round(config.epochs * (n // config.batch_size or 1)))
            relay = _Relay(run, stats, push, every=max(1, steps // 300))
            result = train(data, config, watchers=[stats, relay])
            push({"type": "done", "cancelled": result.cancelled,
                  "final_accuracy": result.final_accuracy if result.history else None,
                  "train_seconds": round(result.train_seconds, 2)})
        except Exception as exc:  # reported to the page, never a dead thread without a word
            push({"type": "error", "message": str(exc).splitlines()[0] if str(exc) else
                  type(exc).__name__})
        finally:
            with self._lock:
                run.done = True
                self._lock.notify_all()
