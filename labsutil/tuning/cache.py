"""The cache of trained weights: `<cache>/adapters/<key>/`, safetensors plus a JSON card.

The key hashes what decides the weights: the base model (its name and the bytes of its files), the training
data (its rows) and the hyperparameters that matter for the method. The same key means the same training,
so a rerun loads the folder instead of training again and reports the original train seconds from the card.
A folder is written to a temporary sibling and renamed into place (`labsutil.paths.atomic_folder`), so a
folder with a card is complete; under `accelerate launch` only the main process writes it.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from .. import paths

CARD_FILE = "card.json"
KEY_VERSION = 2  # bump when the training code changes what the same inputs produce
_SKIPPED_MODEL_FILES = {"labsutil_conversion.json", "merged.json", "README.md", ".gitattributes", CARD_FILE}
_IDENTITY_MEMO: dict[tuple, str] = {}


def adapters_dir() -> Path:
    return paths.cache_dir() / "adapters"


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def model_identity(folder: str | Path) -> str:
    """A hash of a model folder's files (weights, config, tokenizer), memoised per file size and mtime.

    Hashing all bytes takes ~0.5 s for SmolLM2-135M's 517 MB; the conversion marker (which records how long the
    conversion took) is left out, so re-converting the same GGUF keeps the identity.
    """
    folder = Path(folder)
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
                   and p.name not in _SKIPPED_MODEL_FILES)
    stamp = tuple((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files)
    memo_key = (str(folder.resolve()), stamp)
    if memo_key not in _IDENTITY_MEMO:
        digest = hashlib.sha256()
        for p in files:
            digest.update(f"{p.name}\0{_sha256_file(p.resolve())}\n".encode())
        _IDENTITY_MEMO[memo_key] = digest.hexdigest()
    return _IDENTITY_MEMO[memo_key]


def data_fingerprint(dataset) -> str:
    """A hash of a `datasets.Dataset`'s columns and rows (order matters: it is the training order before shuffling)."""
    digest = hashlib.sha256(json.dumps(list(dataset.column_names)).encode())
    for row in dataset:
        digest.update(json.dumps(row, sort_keys=True, ensure_ascii=False).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def make_key(method: str, base_name: str, base_identity: str, data_fp: str, hp_fields: dict[str, Any]) -> str:
    """`<method>-<16 hex digits>`: readable in a folder listing, unique in practice."""
    payload = json.dumps({"version": KEY_VERSION, "method": method, "base": [base_name, base_identity],
                          "data": data_fp, "hp": hp_fields}, sort_keys=True)
    return f"{method}-{hashlib.sha256(payload.encode()).hexdigest()[:16]}"


def read_card(folder: str | Path) -> dict | None:
    """The card of a complete cache folder, else None."""
    card = Path(folder) / CARD_FILE
    if not card.is_file():
        return None
    return json.loads(card.read_text(encoding="utf-8"))


def write_card(folder: str | Path, card: dict) -> None:
    (Path(folder) / CARD_FILE).write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def size_on_disk_mb(folder: str | Path) -> float:
    """Megabytes of what was saved (the card excluded)."""
    total = sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file() and p.name != CARD_FILE)
    return round(total / 2**20, 3)


def lookup(key: str, *, method: str, base_name: str, what: str, use_cache: bool = True) -> tuple[Path, dict | None]:
    """(the run's folder, its card when a finished run is cached there and `use_cache`); a hit is said so."""
    folder = adapters_dir() / key
    card = read_card(folder) if use_cache else None
    if card is not None:
        print(f"cache: {method} on {base_name} ({what}) loaded from {folder}; not retrained "
              f"(trained {card['created']} in {card['train_seconds']:.1f} s)")
    return folder, card
