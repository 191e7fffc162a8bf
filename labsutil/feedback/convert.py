"""Conversion rules: what each kind of feedback teaches, as training examples in TRL's formats.

| feedback                     | becomes                                                              |
|------------------------------|----------------------------------------------------------------------|
| thumbs up (or rating >= 4)   | an SFT example and a desirable KTO example                            |
| thumbs down (or rating <= 2) | an undesirable KTO example                                            |
| rating 3                     | nothing (neutral), counted                                            |
| edit                         | an SFT example of the edited answer, and an implicit DPO pair        |
|                              | (edited chosen, original rejected); an unchanged edit gives no pair  |
| pairwise "a" / "b"           | a DPO pair (winner chosen); identical answers give no pair, counted  |
| pairwise "tie"               | nothing for DPO (no preference), counted                              |
| pairwise "both_wrong"        | both answers undesirable KTO examples, plus an SFT example of the     |
|                              | gold answer when one is given and no edit on the pair corrects it    |

Every feedback row ends with exactly one named fate in the report (`ConversionReport.fates`), so no row is
dropped silently; identical examples are kept once and the duplicates counted. With
`unpair_preferences=True` every DPO pair also gives its two KTO examples (chosen desirable, rejected
undesirable), which is how KTO is compared with DPO on the same feedback (Ethayarajh et al. 2024).

Formats (conversational, so TRL applies the model's chat template): SFT `messages`; DPO `prompt`,
`chosen`, `rejected`; KTO `prompt`, `completion`, `label`.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

from .store import FeedbackRecord, Interaction

RATING_GOOD, RATING_BAD = 4, 2

# The fate of each feedback row, in report order.
FATES = (
    "thumbs_up", "thumbs_down", "rating_good", "rating_bad", "rating_neutral",
    "edit", "edit_unchanged",
    "pairwise_decisive", "pairwise_identical_answers", "tie",
    "both_wrong_gold_sft", "both_wrong_edited", "both_wrong_no_correction",
)


@dataclass
class ConversionReport:
    """How many feedback rows went where, and how many examples came out."""

    rows_in: int = 0
    fates: Counter = field(default_factory=Counter)
    sft: int = 0
    dpo: int = 0
    kto_desirable: int = 0
    kto_undesirable: int = 0
    duplicates_removed: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict[str, int]:
        """A flat dict (every fate present, zeros included), e.g. for a ledger row."""
        row = {"feedback_rows": self.rows_in, **{f"fate_{f}": int(self.fates.get(f, 0)) for f in FATES},
               "sft_examples": self.sft, "dpo_pairs": self.dpo, "kto_desirable": self.kto_desirable,
               "kto_undesirable": self.kto_undesirable}
        row.update({f"duplicates_removed_{k}": int(self.duplicates_removed.get(k, 0)) for k in ("sft", "dpo", "kto")})
        return row


def _prompt(interaction: Interaction) -> list[dict]:
    messages = [{"role": "system", "content": interaction.system}] if interaction.system else []
    return messages + [{"role": "user", "content": interaction.prompt}]


def _assistant(text: str) -> list[dict]:
    return [{"role": "assistant", "content": text}]


def _same_text(a: str, b: str) -> bool:
    return " ".join(a.split()) == " ".join(b.split())


class _Builder:
    """Collects examples, keeping each identical example once and counting the rest."""

    def __init__(self):
        self.sft, self.dpo, self.kto = [], [], []
        self._seen: set = set()
        self.report = ConversionReport()

    def _add(self, name: str, target: list, key: tuple, example: dict) -> None:
        if (name, key) in self._seen:
            self.report.duplicates_removed[name] += 1
            return
        self._seen.add((name, key))
        target.append(example)

    def add_sft(self, interaction: Interaction, completion: str) -> None:
        self._add("sft", self.sft, (interaction.system, interaction.prompt, completion),
                  {"messages": _prompt(interaction) + _assistant(completion)})

    def add_dpo(self, interaction: Interaction, chosen: str, rejected: str, unpair: bool) -> None:
        self._add("dpo", self.dpo, (interaction.system, interaction.prompt, chosen, rejected),
                  {"prompt": _prompt(interaction), "chosen": _assistant(chosen), "rejected": _assistant(rejected)})
        if unpair:
            self.add_kto(interaction, chosen, True)
            self.add_kto(interaction, rejected, False)

    def add_kto(self, interaction: Interaction, completion: str, label: bool) -> None:
        self._add("kto", self.kto, (interaction.system, interaction.prompt, completion, label),
                  {"prompt": _prompt(interaction), "completion": _assistant(completion), "label": label})


@dataclass
class Conversion:
    sft: list[dict]
    dpo: list[dict]
    kto: list[dict]
    report: ConversionReport

    def datasets(self) -> "Exports":
        return Exports(to_dataset(self.sft, "sft"), to_dataset(self.dpo, "dpo"), to_dataset(self.kto, "kto"),
                       self.report)


@dataclass
class Exports:
    """The feedback as `datasets.Dataset` objects ready for TRL's SFTTrainer, DPOTrainer and KTOTrainer."""

    sft: object
    dpo: object
    kto: object
    report: ConversionReport


def convert(records: Iterable[FeedbackRecord], *, gold: Mapping[str, str] | None = None,
            unpair_preferences: bool = False) -> Conversion:
    """Apply the rules in the module docstring to feedback records (from `Store.records`)."""
    records = list(records)
    gold = gold or {}
    edited = {r.feedback.interaction_id for r in records if r.feedback.kind == "edit"}
    out = _Builder()
    for record in records:
        out.report.fates[_convert_one(record, out, gold, edited, unpair_preferences)] += 1
    out.report.rows_in = len(records)
    out.report.sft, out.report.dpo = len(out.sft), len(out.dpo)
    out.report.kto_desirable = sum(1 for e in out.kto if e["label"])
    out.report.kto_undesirable = len(out.kto) - out.report.kto_desirable
    return Conversion(out.sft, out.dpo, out.kto, out.report)


def _convert_one(record: FeedbackRecord, out: _Builder, gold: Mapping[str, str], edited: set[int],
                 unpair: bool) -> str:
    """Add the examples one feedback row gives; return its fate (one of FATES)."""
    fb, first, other = record.feedback, record.interaction, record.other
    if fb.kind in ("thumbs", "rating"):
        good = fb.value == "up" if fb.kind == "thumbs" else fb.value >= RATING_GOOD
        bad = fb.value == "down" if fb.kind == "thumbs" else fb.value <= RATING_BAD
        if good:
            out.add_sft(first, first.response)
            out.add_kto(first, first.response, True)
        elif bad:
            out.add_kto(first, first.response, False)
        else:
            return "rating_neutral"
        if fb.kind == "thumbs":
            return "thumbs_up" if good else "thumbs_down"
        return "rating_good" if good else "rating_bad"
    if fb.kind == "edit":
        out.add_sft(first, fb.value)
        if _same_text(fb.value, first.response):
            return "edit_unchanged"
        out.add_dpo(first, fb.value, first.response, unpair)
        return "edit"
    # pairwise
    if fb.value in ("a", "b"):
        winner, loser = (first, other) if fb.value == "a" else (other, first)
        if _same_text(winner.response, loser.response):
            return "pairwise_identical_answers"
        out.add_dpo(first, winner.response, loser.response, unpair)
        return "pairwise_decisive"
    if fb.value == "tie":
        return "tie"
    out.add_kto(first, first.response, False)
    out.add_kto(other, other.response, False)
    if first.id in edited or other.id in edited:
        return "both_wrong_edited"  # the edit's own row gives the SFT example and the pairs
    if first.question_id in gold:
        out.add_sft(first, gold[first.question_id])
        return "both_wrong_gold_sft"
    return "both_wrong_no_correction"


def report_by_round(records: Sequence[FeedbackRecord], *, gold: Mapping[str, str] | None = None,
                    unpair_preferences: bool = False):
    """The conversion report of each round as a pandas DataFrame (one row per round)."""
    import pandas as pd

    rounds = sorted({r.feedback.round for r in records}, key=lambda x: (x is None, x))
    rows = []
    for round_ in rounds:
        subset = [r for r in records if r.feedback.round == round_]
        rows.append({"round": round_, **convert(subset, gold=gold, unpair_preferences=unpair_preferences)
                     .report.as_dict()})
    return pd.DataFrame(rows)


def _features(fmt: str):
    from datasets import Features, List, Value

    messages = List({"role": Value("string"), "content": Value("string")})
    if fmt == "sft":
        return Features({"messages": messages})
    if fmt == "dpo":
        return Features({"prompt": messages, "chosen": messages, "rejected": messages})
    if fmt == "kto":
        return Features({"prompt": messages, "completion": messages, "label": Value("bool")})
    raise ValueError(f"unknown format {fmt!r}: one of sft, dpo, kto")


def to_dataset(examples: Sequence[dict], fmt: str):
    """A `datasets.Dataset` with TRL's columns for `fmt` ("sft", "dpo", "kto"), also when empty."""
    from datasets import Dataset

    features = _features(fmt)
    return Dataset.from_dict({name: [e[name] for e in examples] for name in features}, features=features)
