"""labsutil.paths.atomic_folder: a cache folder is replaced whole, or not at all."""
import pytest

from labsutil.paths import atomic_folder


def test_atomic_folder_replaces_on_success_and_leaves_nothing_on_error(tmp_path):
    target = tmp_path / "cache" / "index"
    with atomic_folder(target) as tmp:
        (tmp / "a.json").write_text("1")
        assert not target.exists()  # nothing visible until the block ends
    assert (target / "a.json").read_text() == "1"

    with pytest.raises(RuntimeError):
        with atomic_folder(target) as tmp:
            (tmp / "b.json").write_text("2")
            raise RuntimeError("interrupted")
    assert sorted(p.name for p in target.iterdir()) == ["a.json"]  # the old folder is intact
    assert [p.name for p in target.parent.iterdir()] == ["index"]  # no temporary folder left behind

    with atomic_folder(target) as tmp:
        (tmp / "c.json").write_text("3")
    assert sorted(p.name for p in target.iterdir()) == ["c.json"]
