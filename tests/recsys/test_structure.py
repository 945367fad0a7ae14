"""The recommender's structure: the model registry, capabilities, persistence's schema and
checksum, and that every hyper-parameter of every model changes what it learns."""

from __future__ import annotations

import inspect
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.recsys.test_models import SMALL, _synthetic

from convrec.recsys import ModelFileError, Provenance, Ratings, Recommender, load_model
from convrec.recsys.persistence import FORMAT, read_header
from convrec.recsys.registry import MODELS, model_spec, spec_of


@pytest.fixture(scope="module")
def data() -> Ratings:
    return _synthetic()


@pytest.fixture(scope="module")
def fitted(data: Ratings) -> dict[str, Recommender]:
    return {name: spec.create(**SMALL.get(name, {})).fit(data) for name, spec in MODELS.items()}


def test_registry_names_classes_and_capabilities(fitted: dict[str, Recommender]) -> None:
    for name, model in fitted.items():
        spec = model_spec(name)
        assert spec_of(model).class_name == spec.class_name
        cls = type(model)
        assert cls.rates == (cls.task == "rating")  # ranking models never call scores ratings
        # has_factors is what recommend_all's fast path relies on: the factors must exist
        # (a hybrid keeps a rating model's factors but ranks otherwise: has_factors False)
        assert not cls.has_factors or hasattr(model, "item_factors_"), name
        assert cls.has_factors or cls.score_kind == "score" or not hasattr(
            model, "item_factors_"), name
        assert cls.ranks and cls.folds_in
    assert {n for n, s in MODELS.items() if s.compare == "ranking"} == {
        "popularity", "als", "ease-plain", "ease"}
    with pytest.raises(ValueError, match=r"--model-type must be one of global-mean, .*got 'x'"):
        model_spec("x")


def test_round_trip_keeps_provenance_and_schema(fitted: dict[str, Recommender],
                                                tmp_path: Path) -> None:
    model = fitted["biases"]
    prov = Provenance("ml-latest-small", "0123456789abcdef", (0.5, 5.0, 0.5))
    path = model.save(tmp_path / "m.npz", prov)
    header = read_header(path)
    assert header["format"] == FORMAT and header["model"] == "biases"
    assert header["provenance"] == {"dataset": "ml-latest-small",
                                    "catalogue": "0123456789abcdef", "scale": [0.5, 5.0, 0.5],
                                    "ratings_file": None, "movies_file": None}
    again = load_model(path)
    assert again.provenance_ == prov  # type: ignore[attr-defined]
    # a model trained on a ratings file keeps both files (its titles come from there)
    from_file = Provenance(None, None, (1.0, 10.0, 1.0), "/data/r.csv", "/data/movies.csv")
    assert load_model(model.save(tmp_path / "f.npz", from_file)).provenance_ == from_file
    with np.load(path, allow_pickle=False) as z:  # the schema, not "whatever ends in _"
        assert set(z.files) - {"__header__"} <= {
            "user_ids_", "item_ids_", "user_counts_", "item_counts_", "seen_indptr_",
            "seen_items_", "seen_ratings_", "fallback_user_bias_", "fallback_item_bias_",
            "user_bias_", "item_bias_"}
    ease = fitted["ease"]
    assert read_header(ease.save(tmp_path / "e.npz"))["model"] == "ease"  # not ease-plain


def test_a_fitted_attribute_outside_the_schema_is_refused(data: Ratings, tmp_path: Path
                                                         ) -> None:
    model = model_spec("biases").create().fit(data)
    model.surprise_ = 1  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match=r"outside its persistence schema: surprise_; add "
                                         r"them to state= of 'biases'"):
        model.save(tmp_path / "x.npz")


def _rewrite(src: Path, dst: Path, change: Any) -> None:
    """Copy a model file, passing each member's bytes through ``change(name, bytes)``."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            zout.writestr(item, change(item.filename, zin.read(item.filename)))


def test_damaged_old_and_foreign_files_are_one_line_with_the_fix(
        fitted: dict[str, Recommender], tmp_path: Path) -> None:
    path = fitted["biases"].save(tmp_path / "m.npz", Provenance("ml-100k"))

    def flip_bias(name: str, blob: bytes) -> bytes:
        return blob[:-1] + bytes([blob[-1] ^ 1]) if name == "item_bias_.npy" else blob

    _rewrite(path, tmp_path / "flipped.npz", flip_bias)
    with pytest.raises(ModelFileError, match=r"damaged or was modified \(checksum mismatch\); "
                       r"rebuild it with `convrec movies train --dataset ml-100k --model-type "
                       r"biases --out"):
        load_model(tmp_path / "flipped.npz")

    old = {"format": 1, "class": "Biases", "params": {}, "attributes": {}}  # convrec's first
    np.savez(tmp_path / "old.npz", __header__=np.frombuffer(json.dumps(old).encode(), np.uint8))
    with pytest.raises(ModelFileError, match=r"an older convrec model file \(format 1\)"):
        load_model(tmp_path / "old.npz")
    np.save(tmp_path / "plain.npy", np.zeros(3))
    for foreign in (tmp_path / "plain.npy", tmp_path / "m.txt"):
        foreign.write_bytes(foreign.read_bytes() if foreign.suffix == ".npy" else b"hello")
        with pytest.raises(ModelFileError, match="not a convrec model file"):
            load_model(foreign)
    header = json.loads(bytes(np.load(path)["__header__"]).decode())
    assert len(header["sha256"]) == 64


#: the values each hyper-parameter takes in the test below (the other end of its range)
_OTHER: dict[str, Any] = {
    "reg_user": 0.5, "reg_item": 0.5, "n_epochs": 1, "k": 3, "min_k": 5, "shrinkage": 1.0,
    "n_factors": 6, "n_samples": 5, "burn_in": 1, "lam": 0.5, "recency_half_life": 1.0,
    "factors": 2, "reg": 3.0, "alpha": 20.0, "iterations": 1, "seed": 7, "epochs": 1,
    "lr": 0.05, "wd": 0.5, "batch_size": 8, "y_range": (1.0, 5.0), "implicit": False,
    "max_side": 2, "thin": 3, "weight_shrinkage": 10.0, "support_shrinkage": 0.0,
    "fold_in_reg": 0.5,
}
#: parameters that choose where or how to run, not what is learned
_NOT_LEARNING = {"progress", "engine", "master", "cg_steps", "device", "n_jobs", "verbose",
                 "max_items"}  # max_items: a size guard, far above the 30 test items


def _cases() -> list[tuple[str, str]]:
    out = []
    for name, spec in MODELS.items():
        if spec.heavy:
            continue  # torch: covered by its own tests; a fit per parameter is too slow here
        for param in inspect.signature(spec.load_class().__init__).parameters:
            if param != "self" and param not in _NOT_LEARNING:
                out.append((name, param))
    return out


def _outputs(model: Recommender, data: Ratings) -> np.ndarray:
    users = np.arange(data.n_users)
    out: np.ndarray = model.score_users(users, exclude_seen=False).ravel()
    if model.rates:  # the predictions too: a hybrid ranks with one model and rates with another
        out = np.concatenate([out, model.predict_index(data.users, data.items)[0]])
    if model.folds_in:  # and a new user's scores (a parameter may shape only the fold-in)
        first = np.flatnonzero(data.users == 0)[:5]
        profile = {data.item_ids[data.items[t]].item(): float(data.ratings[t]) for t in first}
        out = np.concatenate([out, model.predict_vector(model.fold_in(profile))])
    return out


@pytest.mark.parametrize("name,param", _cases(), ids=lambda v: str(v))
def test_each_hyper_parameter_changes_the_result(name: str, param: str, data: Ratings,
                                                 fitted: dict[str, Recommender]) -> None:
    spec = MODELS[name]
    base = fitted[name]
    params = {**spec.params, **SMALL.get(name, {})}
    current = base.get_params()[param]
    assert param in _OTHER, f"add a second value for {param!r} to _OTHER"
    other = _OTHER[param]
    if other == current:
        other = other * 2 if isinstance(other, int | float) else other
    changed = spec.load_class()(**{**params, param: other}).fit(data)
    a, b = _outputs(base, data), _outputs(changed, data)
    finite = np.isfinite(a) & np.isfinite(b)
    assert not np.allclose(a[finite], b[finite]), f"{name}: {param}={other!r} changed nothing"
