"""Structured (JSON) output: a pydantic schema, lenient parsing, validation, field-level F1, and
constrained decoding with lm-format-enforcer.

    Schema = schema_from_records([ex.fields for ex in ds.field_extraction])   # a pydantic model
    parsed = parse_json(text, Schema)           # ParsedJSON(obj, valid, error)
    field_f1([gold dicts], [predicted dicts or None])
    JsonConstrainer(llm, Schema).generate(prompts, max_new_tokens=160)   # output always fits the schema

Constrained decoding masks, at every step, the tokens that would break the JSON schema, so the
output parses by construction (unless it runs out of tokens). It uses lm-format-enforcer's
`TokenEnforcer` + `JsonSchemaParser`. Its own transformers integration module does not import under
transformers 5 (it imports `transformers.tokenization_utils`, which v5 removed; fixed upstream in
noamgat/lm-format-enforcer#175, not yet released), so `_tokenizer_data` rebuilds the same tokenizer
table here and the enforcer runs as a transformers `LogitsProcessor` (bitmask-based, batched).
"""
from __future__ import annotations

import datetime as dt
import json
import re
import time
from dataclasses import dataclass
from typing import Any, Optional, Sequence

from pydantic import BaseModel, Field, ValidationError, create_model

from ..evaluate import normalize_answer
from ..llm import Generation

MAX_STRING_LENGTH = 40  # schema maxLength of every string field: stops runaway strings under constraints


# --------------------------------------------------------------------------- schema

def _json_type(values: list) -> type:
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return bool
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return int
    if present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return float
    return str


def schema_from_records(records: Sequence[dict], name: str = "ExtractedFields",
                        max_string_length: int = MAX_STRING_LENGTH) -> type[BaseModel]:
    """A pydantic model with one required field per key of the gold records, typed from their values.

    A key whose value is null in some record becomes `Optional[...]` (still required: the model must
    say null explicitly). Field order is the order of first appearance.
    """
    keys: list[str] = []
    for rec in records:
        keys += [k for k in rec if k not in keys]
    if not keys:
        raise ValueError("no fields in the records: cannot build a schema")
    fields: dict[str, Any] = {}
    for key in keys:
        values = [rec.get(key) for rec in records]
        typ = _json_type(values)
        nullable = any(v is None for v in values)
        extra = {"max_length": max_string_length} if typ is str else {}
        annotation = Optional[typ] if nullable else typ
        fields[key] = (annotation, Field(..., **extra))
    return create_model(name, **fields)


def field_types(schema: type[BaseModel]) -> dict[str, str]:
    """{field: "string" | "integer" | ..., with " or null"} for prompts."""
    out = {}
    for name, prop in schema.model_json_schema()["properties"].items():
        kinds = [p.get("type") for p in prop.get("anyOf", [prop])]
        main = [k for k in kinds if k and k != "null"]
        out[name] = (main[0] if main else "string") + (" or null" if "null" in kinds else "")
    return out


# --------------------------------------------------------------------------- parsing

@dataclass(frozen=True)
class ParsedJSON:
    obj: dict | None  # the JSON object found in the text (validated and coerced when valid)
    valid: bool  # obj validates against the schema
    error: str | None  # why not, in a few words (for a retry prompt)

    @property
    def is_json(self) -> bool:
        return self.obj is not None


_FENCE = re.compile(r"```(?:json)?", re.IGNORECASE)


def find_json_object(text: str) -> tuple[dict | None, str | None]:
    """The first JSON object in a model's reply (code fences and surrounding prose are ignored)."""
    text = _FENCE.sub("", text)
    start = text.find("{")
    if start < 0:
        return None, "no JSON object in the reply"
    decoder = json.JSONDecoder()
    try:
        obj, _ = decoder.raw_decode(text[start:])
    except json.JSONDecodeError as err:
        return None, f"invalid JSON: {err.msg} at character {err.pos}"
    if not isinstance(obj, dict):
        return None, "the JSON is not an object"
    return obj, None


def _short_errors(err: ValidationError, limit: int = 3) -> str:
    parts = []
    for e in err.errors()[:limit]:
        where = ".".join(str(p) for p in e["loc"]) or "object"
        parts.append(f"{where}: {e['msg']}")
    more = len(err.errors()) - limit
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def parse_json(text: str, schema: type[BaseModel] | None = None) -> ParsedJSON:
    """Find a JSON object in `text` and validate it against `schema` (pydantic)."""
    obj, error = find_json_object(text)
    if obj is None:
        return ParsedJSON(None, False, error)
    if schema is None:
        return ParsedJSON(obj, True, None)
    try:
        model = schema.model_validate(obj)
    except ValidationError as err:
        return ParsedJSON(obj, False, _short_errors(err))
    return ParsedJSON(model.model_dump(), True, None)


# --------------------------------------------------------------------------- field-level F1

_NULLS = {"", "null", "none", "n/a", "na", "not specified", "not stated", "unknown", "-"}
_DATE_FORMATS = ("%Y-%m-%d", "%d %B %Y", "%B %d, %Y", "%B %d %Y", "%d %b %Y", "%b %d, %Y", "%Y/%m/%d")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_THOUSANDS = re.compile(r"(?<=\d)[,\u202f ](?=\d{3}\b)")
_INT = re.compile(r"-?\d+")


def is_null(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip().lower() in _NULLS)


def _as_date(value: str) -> str | None:
    text = re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", str(value).strip())
    for fmt in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(text, fmt).date().isoformat()
        except ValueError:
            continue
    return None


def values_match(gold: Any, pred: Any) -> bool:
    """Whether a predicted field value equals the gold one, up to formatting.

    Integers compare as numbers ("90 days" matches 90); ISO dates match other spellings of the
    same date; strings compare after SQuAD normalisation with thousands separators removed.
    """
    if is_null(gold) or is_null(pred):
        return is_null(gold) and is_null(pred)
    if isinstance(gold, bool) or isinstance(pred, bool):
        return str(gold).lower() == str(pred).lower()
    if isinstance(gold, (int, float)):
        if isinstance(pred, (int, float)):
            return float(pred) == float(gold)
        found = _INT.findall(_THOUSANDS.sub("", str(pred)))
        return len(found) >= 1 and float(found[0]) == float(gold)
    gold_s, pred_s = str(gold), str(pred)
    if _ISO_DATE.match(gold_s.strip()):
        return _as_date(pred_s) == gold_s.strip()
    norm = lambda s: normalize_answer(_THOUSANDS.sub("", s))  # noqa: E731
    return norm(gold_s) == norm(pred_s)


@dataclass(frozen=True)
class FieldScore:
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def field_counts(gold: dict, pred: dict | None) -> FieldScore:
    """Slot-filling counts for one record: a right value is a true positive; a wrong value is both a
    false positive and a false negative; a value where gold is null is a false positive; a missing
    value where gold has one is a false negative. Null predicted for null gold counts nothing."""
    pred = pred or {}
    tp = fp = fn = 0
    for key, g in gold.items():
        p = pred.get(key)
        g_null, p_null = is_null(g), is_null(p)
        if not g_null and not p_null:
            if values_match(g, p):
                tp += 1
            else:
                fp += 1
                fn += 1
        elif not p_null:
            fp += 1
        elif not g_null:
            fn += 1
    # keys the gold does not have are false positives when they carry a value
    fp += sum(1 for key, p in pred.items() if key not in gold and not is_null(p))
    return FieldScore(tp, fp, fn)


def field_f1(golds: Sequence[dict], preds: Sequence[dict | None]) -> FieldScore:
    """Micro-averaged field-level precision / recall / F1 over records (None: nothing parsed)."""
    if len(golds) != len(preds):
        raise ValueError(f"{len(golds)} gold records but {len(preds)} predictions")
    tp = fp = fn = 0
    for g, p in zip(golds, preds):
        s = field_counts(g, p)
        tp, fp, fn = tp + s.tp, fp + s.fp, fn + s.fn
    return FieldScore(tp, fp, fn)


# --------------------------------------------------------------------------- constrained decoding

def constrained_available(llm) -> tuple[bool, str]:
    """(True, "") if JSON-constrained decoding can run with this LLM, else (False, why)."""
    try:
        import lmformatenforcer  # noqa: F401
    except ImportError:
        return False, "lm-format-enforcer is not installed (pip install lm-format-enforcer)"
    if getattr(llm, "model", None) is None:
        return False, (f"backend {getattr(llm, 'backend_name', '?')!r} exposes no transformers model; "
                       "constrained decoding here runs on the transformers backend")
    return True, ""


_TOKENIZER_DATA: dict[int, Any] = {}


def _tokenizer_data(tokenizer, eos_ids: list[int]):
    """lm-format-enforcer's per-tokenizer table (what its transformers integration builds), cached.

    Allowed tokens come back as bitmasks (one bit per vocabulary entry), which `_EnforcedLogits`
    unpacks with tensor operations instead of indexing with a Python list per row and step.
    """
    key = id(tokenizer)
    if key not in _TOKENIZER_DATA:
        from lmformatenforcer.tokenenforcer import TokenEnforcerTokenizerData

        special = set(tokenizer.all_special_ids)
        zero = tokenizer.encode("0", add_special_tokens=False)[-1]
        regular = []
        for idx in range(len(tokenizer)):
            if idx in special:
                continue
            # decode after a "0" to see whether the token starts a new word (carries a leading space)
            after_zero = tokenizer.decode([zero, idx])[1:]
            alone = tokenizer.decode([idx])
            regular.append((idx, after_zero, len(after_zero) > len(alone)))

        def decode(tokens: list[int]) -> str:
            return tokenizer.decode(tokens).rstrip("\ufffd")

        _TOKENIZER_DATA[key] = TokenEnforcerTokenizerData(regular, decode, eos_ids, True, len(tokenizer))
    return _TOKENIZER_DATA[key]


def _enforced_logits(enforcer, vocab_size: int):
    """A transformers LogitsProcessor that keeps only the tokens the enforcer allows, row by row."""
    import torch
    from transformers import LogitsProcessor

    shifts = torch.arange(32, dtype=torch.int32)

    class _EnforcedLogits(LogitsProcessor):
        def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
            masks = [enforcer.get_allowed_tokens(row).allowed_tokens for row in input_ids.tolist()]
            bits = torch.stack(masks)  # rows x ceil(V / 32) int32 words
            allowed = ((bits.unsqueeze(-1) >> shifts) & 1).bool().reshape(len(masks), -1)
            width = scores.shape[-1]
            if allowed.shape[1] < width:
                allowed = torch.nn.functional.pad(allowed, (0, width - allowed.shape[1]))
            return scores.masked_fill(~allowed[:, :width].to(scores.device), float("-inf"))

    return _EnforcedLogits()


class JsonConstrainer:
    """Greedy generation whose output is forced to fit a JSON schema (transformers backend).

    Keys come in the schema's order (`force_json_field_order`) and at most `max_whitespace`
    consecutive whitespace characters are allowed, so a small model cannot pad or wander.
    """

    def __init__(self, llm, schema: type[BaseModel] | dict, *, max_whitespace: int = 1):
        ok, why = constrained_available(llm)
        if not ok:
            raise RuntimeError(why)
        from lmformatenforcer import JsonSchemaParser

        self.llm = llm
        self.schema = schema.model_json_schema() if isinstance(schema, type) else schema
        self.parser = JsonSchemaParser(self.schema)
        self.max_whitespace = max_whitespace
        tok = llm.tokenizer
        ids = {tok.eos_token_id}
        configured = getattr(llm.model.generation_config, "eos_token_id", None)
        ids.update([configured] if isinstance(configured, int) else (configured or []))
        self.eos_ids = sorted(i for i in ids if i is not None)
        start = time.perf_counter()
        self.tokenizer_data = _tokenizer_data(tok, self.eos_ids)
        self.setup_seconds = time.perf_counter() - start

    def _enforcer(self):
        from lmformatenforcer import TokenEnforcer

        enforcer = TokenEnforcer(self.tokenizer_data, self.parser)  # (re)sets the parser's config
        self.parser.config.force_json_field_order = True
        self.parser.config.max_consecutive_whitespaces = self.max_whitespace
        return enforcer

    def generate(self, prompts: Sequence, *, max_new_tokens: int = 160, system: str | None = None,
                 batch_size: int | None = None) -> list[Generation]:
        import torch
        from transformers import LogitsProcessorList

        llm, tok = self.llm, self.llm.tokenizer
        texts = [llm.format(p, system=system) for p in prompts]
        size = batch_size or llm.batch_size
        device = next(llm.model.parameters()).device
        vocab = llm.model.get_output_embeddings().weight.shape[0]
        out: list[Generation] = []
        for start in range(0, len(texts), size):
            chunk = texts[start:start + size]
            enc = tok(chunk, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
            # one enforcer per batch: it keys its states by the whole token sequence, so rows differ
            processors = LogitsProcessorList([_enforced_logits(self._enforcer(), vocab)])
            t0 = time.perf_counter()
            with torch.inference_mode():
                seqs = llm.model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, temperature=None,
                                          top_p=None, top_k=None, pad_token_id=tok.pad_token_id,
                                          eos_token_id=self.eos_ids, logits_processor=processors)
            latency = time.perf_counter() - t0
            new = seqs[:, enc["input_ids"].shape[1]:].tolist()
            for row, mask in zip(new, enc["attention_mask"]):
                end = next((i for i, t in enumerate(row) if t in self.eos_ids), None)
                kept = row if end is None else row[:end]
                n_out = len(row) if end is None else end + 1
                out.append(Generation(tok.decode(kept, skip_special_tokens=True).strip(), int(mask.sum()), n_out,
                                      latency, "stop" if end is not None else "length"))
        return out
