"""The model registry: one table from CLI names to lazily imported model classes.

Each :class:`ModelSpec` holds what every reader of the models needs: the class (imported only
when asked for, so torch loads only for ``embedding-dot-bias``), the label in evaluation tables,
the hyper-parameters the CLI trains with, the engines it runs on, which comparison it takes part
in, and its persistence schema (the fitted attributes written to a model file, versioned).
The CLI (``movies train --model-type``), evaluation, persistence, the studio and the tests read
this table; capabilities (``rates``, ``ranks``, ``has_factors``, ``folds_in``) are class
attributes of the models themselves (see :class:`convrec.recsys.base.Recommender`).

Adding a model is one entry here plus its class.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from convrec.recsys.base import Recommender

__all__ = [
    "DEFAULT_MODEL",
    "ENGINES",
    "MODELS",
    "SHARED_STATE",
    "ModelSpec",
    "model_names",
    "model_spec",
    "models_on",
    "spec_of",
]

#: fitted attributes every model has (set by ``Recommender.fit``), persisted for all
SHARED_STATE = (
    "user_ids_", "item_ids_", "user_counts_", "item_counts_", "seen_indptr_", "seen_items_",
    "seen_ratings_", "fallback_mean_", "fallback_user_bias_", "fallback_item_bias_",
    "rating_range_", "fit_seconds_",
)
_BIASED = ("global_mean_", "user_bias_", "item_bias_")
_FACTORS = (*_BIASED, "user_factors_", "item_factors_", "y_range_")
#: BayesianMF's posterior samples; the hybrid rates with a BayesianMF, so it stores them too
_BAYES = (*_FACTORS, "n_stored_samples_", "noise_precision_", "sample_bias_precision_",
          "sample_item_bias_", "sample_noise_precision_", "sample_side_coef_",
          "sample_user_mean_", "sample_user_precision_", "used_side_terms_")


@dataclass(frozen=True)
class ModelSpec:
    """One model in the registry.

    Attributes:
        name: the CLI name (``--model-type``), e.g. ``"bayesian-mf"``.
        module: the module that defines the class (imported on first use).
        class_name: the class in ``module``.
        label: its name in evaluation tables.
        params: hyper-parameters used by ``movies train`` and evaluation (others: defaults).
        engines: the engines it trains on (``"local"``, ``"spark"``).
        compare: the evaluation table it appears in (``"rating"``, ``"ranking"`` or None).
        heavy: needs an optional heavy library (torch); evaluation includes it on request.
        state: fitted attributes persisted beyond :data:`SHARED_STATE` (the schema).
        schema_version: bumped whenever ``state`` changes meaning; old files are refused.
        progress: the class takes ``progress=True`` (a progress bar while fitting).
    """

    name: str
    module: str
    class_name: str
    label: str
    params: Mapping[str, Any] = field(default_factory=dict)
    engines: tuple[str, ...] = ("local",)
    compare: Literal["rating", "ranking"] | None = None
    heavy: bool = False
    state: tuple[str, ...] = ()
    schema_version: int = 1
    progress: bool = False

    def load_class(self) -> type[Recommender]:
        """The model class (imports its module on first use)."""
        cls: type[Recommender] = getattr(importlib.import_module(self.module), self.class_name)
        return cls

    def create(self, progress: bool = False, **overrides: Any) -> Recommender:
        """A new, unfitted model with this entry's ``params`` updated by ``overrides``."""
        params = {**self.params, **overrides}
        if self.progress:
            params.setdefault("progress", progress)
        return self.load_class()(**params)


_M = "convrec.recsys.models."
MODELS: dict[str, ModelSpec] = {s.name: s for s in (
    ModelSpec("global-mean", _M + "baselines", "GlobalMean", "global mean", compare="rating",
              state=("global_mean_",)),
    ModelSpec("biases", _M + "baselines", "Biases", "biases", compare="rating", state=_BIASED),
    ModelSpec("knn", _M + "knn", "ItemKNNBaseline", "item-kNN baseline", compare="rating",
              state=(*_BIASED, "residuals_", "similarity_")),
    ModelSpec("bayesian-mf", _M + "bayes", "BayesianMF", "Bayesian MF (k=10)",
              compare="rating", progress=True,
              state=_BAYES, schema_version=2),
    ModelSpec("hybrid", _M + "hybrid", "Hybrid",
              "hybrid: EASE + recency ranks, Bayesian MF rates", progress=True,
              state=(*_BAYES, "item_weights_", "seen_age_")),
    ModelSpec("embedding-dot-bias", _M + "torch_mf", "EmbeddingDotBias",
              "EmbeddingDotBias (fastai recipe)", compare="rating", heavy=True, progress=True,
              state=_FACTORS),
    ModelSpec("explicit-als", _M + "als", "ALS", "explicit ALS (biased)",
              engines=("local", "spark"), state=(*_FACTORS, "engine_")),
    ModelSpec("popularity", _M + "topn", "Popularity", "popularity", compare="ranking",
              state=("popularity_", "seen_age_")),
    ModelSpec("als", _M + "topn", "ImplicitALS", "implicit ALS (32 f)", compare="ranking",
              engines=("local", "spark"), state=("user_factors_", "item_factors_",
                                                 "seen_age_")),
    ModelSpec("ease-plain", _M + "topn", "EASE", "EASE (λ=100)", compare="ranking",
              state=("item_weights_", "seen_age_")),
    ModelSpec("ease", _M + "topn", "EASE", "EASE + recency (λ=300, half-life 10)",
              params={"lam": 300.0, "recency_half_life": 10.0}, compare="ranking",
              state=("item_weights_", "seen_age_")),
)}


#: the model the faces train and serve when none is named (``movies train`` without
#: ``--model-type`` writes the release's default model file)
DEFAULT_MODEL = "hybrid"
assert DEFAULT_MODEL in MODELS
#: every training engine some model runs on (``movies train --engine``), ``local`` first
ENGINES: tuple[str, ...] = tuple(dict.fromkeys(e for s in MODELS.values() for e in s.engines))


def models_on(engine: str) -> tuple[str, ...]:
    """The CLI names of the models that train on ``engine``."""
    return tuple(name for name, spec in MODELS.items() if engine in spec.engines)


def model_names() -> tuple[str, ...]:
    """Every ``--model-type`` name, in registry order."""
    return tuple(MODELS)


def model_spec(name: str) -> ModelSpec:
    """The entry of a CLI name; ``ValueError`` in one line listing the names otherwise.
    Imports nothing, so a typo fails before any data is read."""
    spec = MODELS.get(name)
    if spec is None:
        raise ValueError(f"--model-type must be one of {', '.join(MODELS)}, got {name!r}")
    return spec


def spec_of(model: Recommender | type[Recommender]) -> ModelSpec:
    """The entry of a model or model class. Entries may share a class (``ease`` and
    ``ease-plain``): a model gets the one whose ``params`` it has, else the first."""
    cls = model if isinstance(model, type) else type(model)
    found = [s for s in MODELS.values()
             if s.module == cls.__module__ and s.class_name == cls.__qualname__]
    if not found:
        raise ValueError(f"{cls.__qualname__} is not in the model registry "
                         "(convrec.recsys.registry.MODELS); add an entry to save or list it")
    if isinstance(model, type) or len(found) == 1:
        return found[0]
    # the entry whose params name the parameters this model changed from the class defaults
    params = model.get_params()
    defaults = type(model)().get_params()  # every model has defaults for all parameters
    changed = {k for k, v in params.items() if defaults.get(k) != v}

    def distance(spec: ModelSpec) -> tuple[bool, int]:
        exact = all(params.get(k) == v for k, v in spec.params.items())
        return (not (exact and bool(spec.params)), len(changed ^ set(spec.params)))

    return min(found, key=distance)
