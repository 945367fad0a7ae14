"""Load a model from a ``module:attribute`` or ``path/to/file.py:attribute`` reference."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import nn


def load_model(ref: str) -> nn.Module:
    """Import ``ref`` and return the ``nn.Module`` it names.

    Args:
        ref: ``"package.module:attribute"`` or ``"path/to/file.py:attribute"``. The attribute
            may be a module instance, an ``nn.Module`` class, or a function returning a
            module; classes and functions are called with no arguments.

    Raises:
        ValueError: ``ref`` has no ``:``, the attribute is missing, or it is not a module.
        FileNotFoundError: the ``.py`` file does not exist.
    """
    from torch import nn

    if ":" not in ref:
        raise ValueError(
            f"model must be 'module:attribute' or 'file.py:attribute', got {ref!r} "
            f"(e.g. 'convrec.vision.models:simple_cnn' or 'mymodel.py:Net')"
        )
    where, _, attr = ref.rpartition(":")
    if not where or not attr:
        raise ValueError(f"model reference {ref!r}: both the module and the attribute are needed")
    module: Any
    if where.endswith(".py"):
        path = Path(where)
        if not path.is_file():
            raise FileNotFoundError(f"model file {where!r} does not exist")
        name = f"_convrec_model_{abs(hash(path.resolve()))}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ValueError(f"cannot import {where!r} as a Python file")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(where)
        except ModuleNotFoundError as exc:
            raise ValueError(f"cannot import {where!r} for model {ref!r}: {exc}") from None
    if not hasattr(module, attr):
        public = sorted(n for n in dir(module) if not n.startswith("_"))[:20]
        raise ValueError(
            f"{where!r} has no attribute {attr!r}; it has: {', '.join(public) or 'nothing public'}"
        )
    obj = getattr(module, attr)
    if not isinstance(obj, nn.Module) and callable(obj):
        obj = obj()
    if not isinstance(obj, nn.Module):
        raise ValueError(
            f"{ref!r} is a {type(obj).__name__}, not a torch.nn.Module (nor a class or function "
            f"returning one)"
        )
    return obj
