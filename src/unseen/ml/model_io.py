"""Model files: each party saves and loads only its own part of a federated model.

A model directory holds:

- ``model.json``: ``{"format": "unseen-model/1", "model": <type>, "party": ..., "role": ...,
  "parties": {...roles...}, "features": [...], ...}`` -- what the party needs to
  take part in prediction, readable by a person;
- ``arrays.npz``: the party's numeric parameters (weights, thresholds, ...).

Directories are written to a temporary sibling and renamed into place, so a
failed job never leaves a half-written model. :data:`PREDICTORS` maps a model
type to the function that runs one party's side of joint prediction; model
modules register themselves with :func:`register_predictor`.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from unseen.runtime.errors import InputError

FORMAT = "unseen-model/1"
META_FILE = "model.json"
ARRAYS_FILE = "arrays.npz"

# model type -> predict(ctx, meta, arrays, data) -> scores at the learner, else None
Predictor = Callable[..., Any]
PREDICTORS: dict[str, Predictor] = {}


def register_predictor(model_type: str) -> Callable[[Predictor], Predictor]:
    def deco(f: Predictor) -> Predictor:
        PREDICTORS[model_type] = f
        return f

    return deco


def save_model_part(
    directory: str | os.PathLike[str], meta: dict[str, Any], arrays: dict[str, np.ndarray]
) -> Path:
    """Write ``meta`` and ``arrays`` atomically to ``directory`` (replacing an old model)."""
    if "model" not in meta or "party" not in meta:
        raise ValueError("model metadata needs 'model' and 'party'")
    target = Path(directory)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        (tmp / META_FILE).write_text(
            json.dumps({"format": FORMAT, **meta}, indent=2, ensure_ascii=False), encoding="utf-8"
        )
        np.savez(tmp / ARRAYS_FILE, **arrays)  # type: ignore[arg-type]  # numpy's stub
        if target.exists():
            old = target.with_name(f".{target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            target.rename(old)
            tmp.rename(target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def load_model_part(
    directory: str | os.PathLike[str],
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    d = Path(directory)
    try:
        meta = json.loads((d / META_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"no {META_FILE}: not an Unseen model directory", file=str(d)) from None
    except json.JSONDecodeError as e:
        raise InputError(f"{META_FILE} is not valid JSON: {e}", file=str(d)) from None
    if meta.get("format") != FORMAT:
        raise InputError(f"unknown model format {meta.get('format')!r}", file=str(d))
    with np.load(d / ARRAYS_FILE, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    return meta, arrays
