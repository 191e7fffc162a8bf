import pytest

from labsutil import config
from labsutil.config import ParameterError


def test_profile_values_apply(tiny_dataset, tmp_path):
    cfg = config.resolve("00", profile="smoke", dataset_dir=str(tiny_dataset), run_dir=str(tmp_path))
    assert cfg.profile == "smoke" and cfg.n_eval == 12 and cfg.backend == "transformers"
    workshop = config.resolve("00", profile="workshop", dataset_dir=str(tiny_dataset))
    assert workshop.n_eval == 60


def test_extended_profile_takes_workshop_values_except_its_own(tiny_dataset):
    from labsutil.profiles import lab_params

    ext = config.resolve("05", profile="extended", dataset_dir=str(tiny_dataset))
    workshop = config.resolve("05", profile="workshop", dataset_dir=str(tiny_dataset))
    own = {name for name, spec in lab_params("05").items()
           if isinstance(spec.default, dict) and "extended" in spec.default}
    assert own, "lab 05 declares the values it changes in the extended profile"
    assert ext.profile == "extended"
    for name in lab_params("05"):
        if name not in own and name not in ("profile", "run_dir"):
            assert ext[name] == workshop[name], name
    assert any(ext[name] != workshop[name] for name in own)


def test_explicit_value_overrides_profile(tiny_dataset):
    cfg = config.resolve("00", profile="smoke", dataset_dir=str(tiny_dataset), n_eval=5, seed=3)
    assert (cfg.n_eval, cfg.seed) == (5, 3)


@pytest.mark.parametrize("params, names", [
    ({"profile": "nope"}, ["'profile'", "'smoke'", "'workshop'", "'extended'", "'gpu'"]),
    ({"seed": "zero"}, ["'seed'", "'zero'", "int"]),
    ({"seed": 1.5}, ["'seed'", "int"]),
    ({"n_eval": 0}, ["'n_eval'", "minimum"]),
    ({"n_eval": True}, ["'n_eval'", "bool"]),
    ({"backend": "tgi"}, ["'backend'", "'transformers'", "'vllm'"]),
    ({"dataset_dir": "/no/such/folder"}, ["'dataset_dir'", "/no/such/folder", "does not exist", "corpus.jsonl"]),
    ({"top_kk": 3}, ["top_kk", "unknown"]),
])
def test_bad_values_name_parameter_value_and_allowed(params, names, tiny_dataset):
    params = {"dataset_dir": str(tiny_dataset), **params}
    with pytest.raises(ParameterError) as err:
        config.resolve("00", **params)
    for name in names:
        assert name in str(err.value)


def test_dataset_dir_missing_required_file(tmp_path):
    (tmp_path / "corpus.jsonl").write_text("")
    with pytest.raises(ParameterError, match="lacks qa.jsonl"):
        config.resolve("00", dataset_dir=str(tmp_path))


def test_labs_profile_env_chooses_default(monkeypatch, tiny_dataset):
    monkeypatch.setenv("LABS_PROFILE", "smoke")
    assert config.resolve("00", dataset_dir=str(tiny_dataset)).profile == "smoke"
    assert config.resolve("00", profile="workshop", dataset_dir=str(tiny_dataset)).profile == "workshop"


def test_config_is_frozen(cfg):
    with pytest.raises(AttributeError):
        cfg.seed = 4
    assert cfg["seed"] == cfg.seed == 0
    assert isinstance(cfg.as_params()["dataset_dir"], str)


def test_setup_sets_offline_env_and_run_dir(cfg, monkeypatch):
    import os

    assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ["RAGAS_DO_NOT_TRACK"] == "true"
    assert cfg.run_dir.is_dir()


def test_seed_everything_repeats():
    import random

    import numpy as np
    import torch

    config.seed_everything(7)
    first = (random.random(), np.random.rand(), torch.rand(1).item())
    config.seed_everything(7)
    assert first == (random.random(), np.random.rand(), torch.rand(1).item())


def _assigned_names(source: str) -> list[str]:
    import ast

    return [t.id for node in ast.parse(source).body if isinstance(node, ast.Assign)
            for t in node.targets if isinstance(t, ast.Name)]


def test_setup_reads_the_notebook_namespace(tiny_dataset, tmp_path):
    namespace = {"profile": "smoke", "dataset_dir": str(tiny_dataset), "run_dir": str(tmp_path), "seed": 5,
                 "n_eval": None, "lab_start": 1.5, "pd": object(), "In": ["", "profile = 'smoke'\nseed = 5\n"]}
    cfg = config.setup("00", namespace)
    assert (cfg.seed, cfg.n_eval) == (5, 12)  # None takes the profile's value; lab_start is not a parameter
    assert config.setup("00", namespace, seed=9).seed == 9  # keywords override the notebook


def test_a_parameter_papermill_injected_but_the_lab_does_not_declare_is_refused(tiny_dataset):
    injected = "# Parameters\nprofile = \"smoke\"\ntopk = 8\n"
    namespace = {"profile": "smoke", "dataset_dir": str(tiny_dataset), "topk": 8, "In": ["", "profile = None\n", injected]}
    with pytest.raises(ParameterError) as err:
        config.setup("02", namespace)
    assert "topk" in str(err.value) and "unknown" in str(err.value) and "top_k" in str(err.value)


def test_every_lab_parameters_cell_lists_exactly_the_declared_parameters():
    """A parameter is written twice: declared in profiles.py, listed in the cell tagged `parameters`."""
    import json
    from pathlib import Path

    from labsutil.profiles import lab_params

    labs = sorted((Path(__file__).resolve().parent.parent / "labs").glob("[0-9][0-9]_*.ipynb"))
    assert labs
    for path in labs:
        cells = [c for c in json.loads(path.read_text())["cells"] if "parameters" in c["metadata"].get("tags", [])]
        assert len(cells) == 1, path.name
        listed = _assigned_names("".join(cells[0]["source"]))
        declared = lab_params(path.name[:2])
        assert sorted(listed) == sorted(declared), (path.name, sorted(set(listed) ^ set(declared)))
        assert len(listed) == len(set(listed)), path.name


@pytest.mark.parametrize("profile", ["smoke", "workshop", "extended", "gpu"])
def test_every_lab_resolves_in_every_profile(profile, tiny_dataset):
    from labsutil.profiles import LAB_PARAMS

    for lab in LAB_PARAMS:
        assert config.resolve(lab, profile=profile, dataset_dir=str(tiny_dataset)).profile == profile
