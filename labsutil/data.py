"""Load and validate a dataset folder that keeps the data contract (design.md section 6).

A dataset is a folder:

- ``corpus.jsonl`` (required): ``doc_id``, ``title``, ``text``, optional ``metadata`` (object).
- ``qa.jsonl`` (required): ``qid``, ``question``, ``answer``, ``aliases`` (list), ``doc_ids``
  (list), ``type`` (one of ``QA_TYPES``), ``split`` (one of ``SPLITS``), optional ``choices``
  (list of options) with ``answer_index`` (``choices[answer_index]`` is the answer or an alias).
- ``triples.jsonl`` (optional): ``head``, ``relation``, ``tail``, ``doc_id``.
- ``facts.jsonl`` (optional): ``fact_id``, ``text``, ``paraphrases`` (list), ``doc_id``.
- ``tasks/clause_classification.jsonl`` (optional): ``id``, ``doc_id``, ``text``, ``label``, ``split``.
- ``tasks/field_extraction.jsonl`` (optional): ``id``, ``doc_id``, ``text``, ``fields`` (object), ``split``.
- ``DATASET.md``: the dataset card (read into ``Dataset.card`` when present).

Every problem is reported as ``file:line: field: message`` and nothing is silently dropped:
a dataset with any problem does not load (``DatasetError`` lists them all). Blank lines are
allowed and carry no record; keys outside the contract are allowed and ignored.

    from labsutil.data import load_dataset
    ds = load_dataset("data/contracts")
    for q in ds.questions(split="test", n=50, seed=0):
        doc = ds.doc(q.doc_ids[0]) if q.doc_ids else None
"""
from __future__ import annotations

import argparse
import json
import random
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

QA_TYPES = ("single_hop", "multi_hop", "comparison", "aggregation", "global", "unanswerable")
SPLITS = ("train", "dev", "test")
REQUIRED_FILES = ("corpus.jsonl", "qa.jsonl")
OPTIONAL_FILES = ("triples.jsonl", "facts.jsonl", "tasks/clause_classification.jsonl",
                  "tasks/field_extraction.jsonl")
CONTROL_FILE = "control.jsonl"
UNANSWERABLE = "unanswerable"  # the course's answer for questions the corpus does not answer


# --------------------------------------------------------------------------- records

@dataclass(frozen=True)
class Problem:
    """One problem in a dataset file. ``line`` is 1-based; 0 means the whole file."""

    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.message}"


class DatasetError(ValueError):
    """A dataset folder does not keep the contract; ``problems`` lists every problem."""

    def __init__(self, path: str | Path, problems: Sequence[Problem]):
        self.path = str(path)
        self.problems = list(problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"{len(self.problems)} problem(s) in dataset {self.path}:\n{lines}")


@dataclass(frozen=True)
class Document:
    doc_id: str
    title: str
    text: str
    metadata: dict = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class QAItem:
    qid: str
    question: str
    answer: str
    aliases: tuple[str, ...]
    doc_ids: tuple[str, ...]
    type: str
    split: str
    choices: tuple[str, ...] | None = None
    answer_index: int | None = None

    @property
    def has_choices(self) -> bool:
        return self.choices is not None

    @property
    def answers(self) -> tuple[str, ...]:
        """The answer and every alias (for containment / exact-match scoring)."""
        return (self.answer, *self.aliases)

    @property
    def answerable(self) -> bool:
        return self.type != "unanswerable"


@dataclass(frozen=True)
class Triple:
    head: str
    relation: str
    tail: str
    doc_id: str


@dataclass(frozen=True)
class Fact:
    fact_id: str
    text: str
    paraphrases: tuple[str, ...]
    doc_id: str

    @property
    def texts(self) -> tuple[str, ...]:
        """The fact and all its paraphrases."""
        return (self.text, *self.paraphrases)


@dataclass(frozen=True)
class ClauseExample:
    id: str
    doc_id: str
    text: str
    label: str
    split: str


@dataclass(frozen=True)
class ExtractionExample:
    id: str
    doc_id: str
    text: str
    fields: dict = field(compare=False, hash=False)
    split: str = "train"


@dataclass(frozen=True)
class ControlItem:
    qid: str
    question: str
    answer: str
    choices: tuple[str, ...]
    answer_index: int
    category: str = ""


# --------------------------------------------------------------------------- dataset

def _as_tuple(value: str | Iterable[str] | None, allowed: Sequence[str], what: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    values = (value,) if isinstance(value, str) else tuple(value)
    unknown = [v for v in values if v not in allowed]
    if unknown:
        raise ValueError(f"unknown {what} {unknown}; allowed: {', '.join(allowed)}")
    return values


class Dataset:
    """A loaded, validated dataset folder. Optional parts are ``None`` when their file is absent."""

    def __init__(self, path: Path, corpus: list[Document], qa: list[QAItem], *,
                 triples: list[Triple] | None = None, facts: list[Fact] | None = None,
                 clause_classification: list[ClauseExample] | None = None,
                 field_extraction: list[ExtractionExample] | None = None, card: str | None = None):
        self.path = Path(path)
        self.name = self.path.name
        self.corpus = corpus
        self.qa = qa
        self.triples = triples
        self.facts = facts
        self.clause_classification = clause_classification
        self.field_extraction = field_extraction
        self.card = card
        self._docs = {d.doc_id: d for d in corpus}

    def __repr__(self) -> str:
        return f"<Dataset {self.name}: {len(self.corpus)} documents, {len(self.qa)} questions>"

    # documents
    def doc(self, doc_id: str) -> Document:
        try:
            return self._docs[doc_id]
        except KeyError:
            raise KeyError(f"no document {doc_id!r} in dataset {self.name}") from None

    def docs(self, doc_ids: Iterable[str]) -> list[Document]:
        return [self.doc(d) for d in doc_ids]

    @property
    def doc_ids(self) -> list[str]:
        return [d.doc_id for d in self.corpus]

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._docs

    # questions
    def questions(self, split: str | Iterable[str] | None = None, types: str | Iterable[str] | None = None,
                  n: int | None = None, seed: int = 0, with_choices: bool | None = None) -> list[QAItem]:
        """Questions filtered by split(s), type(s) and whether they have choices.

        With ``n``, a deterministic sample of ``n`` (for the same data and seed), stratified by
        type (largest-remainder quotas), returned in file order.
        """
        splits = _as_tuple(split, SPLITS, "split")
        kinds = _as_tuple(types, QA_TYPES, "type")
        items = [q for q in self.qa
                 if (splits is None or q.split in splits) and (kinds is None or q.type in kinds)
                 and (with_choices is None or q.has_choices == with_choices)]
        if n is None or n >= len(items):
            return items
        if n < 0:
            raise ValueError("n must be >= 0")
        rng = random.Random(seed)
        groups: dict[str, list[int]] = {}
        for i, q in enumerate(items):
            groups.setdefault(q.type, []).append(i)
        order = [t for t in QA_TYPES if t in groups]
        exact = {t: n * len(groups[t]) / len(items) for t in order}
        quota = {t: int(exact[t]) for t in order}
        rest = n - sum(quota.values())
        for t in sorted(order, key=lambda t: (-(exact[t] - quota[t]), order.index(t)))[:rest]:
            quota[t] += 1
        chosen: list[int] = []
        for t in order:
            chosen += rng.sample(groups[t], quota[t])
        return [items[i] for i in sorted(chosen)]

    def has_choices(self, split: str | Iterable[str] | None = None) -> bool:
        """True if any question (of the split) is multiple choice."""
        return any(q.has_choices for q in self.questions(split=split))

    @property
    def splits(self) -> list[str]:
        present = {q.split for q in self.qa}
        return [s for s in SPLITS if s in present]

    @property
    def types(self) -> list[str]:
        present = {q.type for q in self.qa}
        return [t for t in QA_TYPES if t in present]

    def counts(self) -> dict[str, dict[str, int]]:
        """{type: {split: n}} over the questions."""
        out = {t: {s: 0 for s in SPLITS} for t in self.types}
        for q in self.qa:
            out[q.type][q.split] += 1
        return out

    def summary(self) -> str:
        by_type = ", ".join(f"{t} {sum(v.values())}" for t, v in self.counts().items())
        by_split = ", ".join(f"{s} {sum(1 for q in self.qa if q.split == s)}" for s in self.splits)
        lines = [f"{self.name} ({self.path})",
                 f"  corpus: {len(self.corpus)} documents",
                 f"  qa: {len(self.qa)} questions ({by_type}; {by_split}); "
                 f"{sum(q.has_choices for q in self.qa)} with choices"]
        for label, part in (("triples", self.triples), ("facts", self.facts),
                            ("tasks/clause_classification", self.clause_classification),
                            ("tasks/field_extraction", self.field_extraction)):
            lines.append(f"  {label}: " + ("absent" if part is None else f"{len(part)} records"))
        lines.append(f"  DATASET.md: {'present' if self.card is not None else 'absent'}")
        return "\n".join(lines)


# --------------------------------------------------------------------------- parsing

class _File:
    """Reads one JSON-lines file, collecting problems under its relative name."""

    def __init__(self, root: Path, rel: str, problems: list[Problem]):
        self.path = root / rel
        self.rel = rel
        self.problems = problems

    def problem(self, line: int, fld: str, message: str) -> None:
        self.problems.append(Problem(self.rel, line, fld, message))

    def records(self) -> Iterator[tuple[int, dict]]:
        try:
            raw = self.path.read_bytes()
        except OSError as exc:
            self.problem(0, "<file>", f"cannot read: {exc}")
            return
        for lineno, chunk in enumerate(raw.split(b"\n"), 1):
            try:
                line = chunk.decode("utf-8")
            except UnicodeDecodeError as exc:
                self.problem(lineno, "<json>", f"not valid UTF-8 ({exc.reason} at byte {exc.start})")
                continue
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                self.problem(lineno, "<json>", f"invalid JSON: {exc.msg} at column {exc.colno}")
                continue
            if not isinstance(obj, dict):
                self.problem(lineno, "<json>", f"expected a JSON object, got {_kind(obj)}")
                continue
            yield lineno, obj


class _Checker:
    """Field checks for one record; every failure becomes a Problem and marks the record bad."""

    def __init__(self, f: _File, line: int, obj: dict):
        self.f, self.line, self.obj, self.ok = f, line, obj, True

    def fail(self, fld: str, message: str) -> None:
        self.ok = False
        self.f.problem(self.line, fld, message)

    def string(self, key: str, *, required: bool = True, nonempty: bool = True) -> str | None:
        if key not in self.obj:
            if required:
                self.fail(key, "missing required field")
            return None
        value = self.obj[key]
        if not isinstance(value, str):
            self.fail(key, f"expected a string, got {_kind(value)}")
            return None
        if nonempty and not value.strip():
            self.fail(key, "must not be empty")
            return None
        return value

    def strings(self, key: str, *, required: bool = True) -> tuple[str, ...] | None:
        if key not in self.obj:
            if required:
                self.fail(key, "missing required field")
            return None
        value = self.obj[key]
        if not isinstance(value, list):
            self.fail(key, f"expected a list of strings, got {_kind(value)}")
            return None
        bad = [i for i, v in enumerate(value) if not isinstance(v, str) or not v.strip()]
        if bad:
            self.fail(key, f"item {bad[0]} is not a non-empty string")
            return None
        return tuple(value)

    def mapping(self, key: str, *, required: bool) -> dict | None:
        if key not in self.obj:
            if required:
                self.fail(key, "missing required field")
            return None
        value = self.obj[key]
        if not isinstance(value, dict):
            self.fail(key, f"expected an object, got {_kind(value)}")
            return None
        return value

    def choice(self, key: str, allowed: Sequence[str]) -> str | None:
        value = self.string(key)
        if value is not None and value not in allowed:
            self.fail(key, f"unknown value {value!r}; allowed: {', '.join(allowed)}")
            return None
        return value

    def integer(self, key: str, *, required: bool) -> int | None:
        if key not in self.obj:
            if required:
                self.fail(key, "missing required field")
            return None
        value = self.obj[key]
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(key, f"expected an integer, got {_kind(value)}")
            return None
        return value


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "an integer",
            float: "a number", type(None): "null"}.get(type(value), type(value).__name__)


def _same(a: str, b: str) -> bool:
    return " ".join(a.lower().split()) == " ".join(b.lower().split())


class _Unique:
    def __init__(self, f: _File, key: str):
        self.f, self.key, self.first = f, key, {}

    def check(self, c: _Checker, value: str | None) -> None:
        if value is None:
            return
        if value in self.first:
            c.fail(self.key, f"duplicate {value!r} (first on line {self.first[value]})")
        else:
            self.first[value] = c.line


def _parse_corpus(f: _File) -> list[Document]:
    out, seen = [], _Unique(f, "doc_id")
    for line, obj in f.records():
        c = _Checker(f, line, obj)
        doc_id = c.string("doc_id")
        seen.check(c, doc_id)
        title = c.string("title", nonempty=False)
        text = c.string("text")
        metadata = c.mapping("metadata", required=False)
        if c.ok:
            out.append(Document(doc_id, title, text, metadata or {}))
    return out


def _check_doc_ids(c: _Checker, key: str, ids: Iterable[str], known: set[str] | None) -> None:
    if known is None:
        return
    missing = [d for d in ids if d not in known]
    if missing:
        c.fail(key, f"unknown doc_id {missing[0]!r}" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
               + ": not in corpus.jsonl")


def _parse_qa(f: _File, known: set[str] | None) -> list[QAItem]:
    out, seen = [], _Unique(f, "qid")
    for line, obj in f.records():
        c = _Checker(f, line, obj)
        qid = c.string("qid")
        seen.check(c, qid)
        question = c.string("question")
        answer = c.string("answer")
        aliases = c.strings("aliases")
        doc_ids = c.strings("doc_ids")
        qtype = c.choice("type", QA_TYPES)
        split = c.choice("split", SPLITS)
        if doc_ids is not None:
            _check_doc_ids(c, "doc_ids", doc_ids, known)
            if not doc_ids and qtype is not None and qtype != "unanswerable":
                c.fail("doc_ids", f"empty: a {qtype} question needs its supporting documents "
                                  "(only unanswerable questions may have none)")
        choices = c.strings("choices", required=False)
        index = c.integer("answer_index", required=False)
        if choices is not None:
            if len(choices) < 2:
                c.fail("choices", f"needs at least 2 options, got {len(choices)}")
            elif len({x.strip().lower() for x in choices}) != len(choices):
                c.fail("choices", "options must be distinct")
            elif "answer_index" not in obj:
                c.fail("answer_index", "missing: required when choices are given")
            elif index is not None:
                if not 0 <= index < len(choices):
                    c.fail("answer_index", f"{index} is out of range for {len(choices)} choices")
                elif answer is not None and aliases is not None and not any(
                        _same(choices[index], a) for a in (answer, *aliases)):
                    c.fail("answer_index", f"choices[{index}] = {choices[index]!r} is neither the answer "
                                           f"{answer!r} nor an alias")
        elif "answer_index" in obj:
            c.fail("answer_index", "given without choices")
        if c.ok:
            out.append(QAItem(qid, question, answer, aliases, doc_ids, qtype, split, choices, index))
    return out


def _parse_triples(f: _File, known: set[str] | None) -> list[Triple]:
    out = []
    for line, obj in f.records():
        c = _Checker(f, line, obj)
        head, rel, tail = c.string("head"), c.string("relation"), c.string("tail")
        doc_id = c.string("doc_id")
        if doc_id is not None:
            _check_doc_ids(c, "doc_id", [doc_id], known)
        if c.ok:
            out.append(Triple(head, rel, tail, doc_id))
    return out


def _parse_facts(f: _File, known: set[str] | None) -> list[Fact]:
    out, seen = [], _Unique(f, "fact_id")
    for line, obj in f.records():
        c = _Checker(f, line, obj)
        fact_id = c.string("fact_id")
        seen.check(c, fact_id)
        text = c.string("text")
        paraphrases = c.strings("paraphrases")
        doc_id = c.string("doc_id")
        if doc_id is not None:
            _check_doc_ids(c, "doc_id", [doc_id], known)
        if c.ok:
            out.append(Fact(fact_id, text, paraphrases, doc_id))
    return out


def _parse_clauses(f: _File, known: set[str] | None) -> list[ClauseExample]:
    out, seen = [], _Unique(f, "id")
    for line, obj in f.records():
        c = _Checker(f, line, obj)
        rid = c.string("id")
        seen.check(c, rid)
        doc_id = c.string("doc_id")
        if doc_id is not None:
            _check_doc_ids(c, "doc_id", [doc_id], known)
        text, label, split = c.string("text"), c.string("label"), c.choice("split", SPLITS)
        if c.ok:
            out.append(ClauseExample(rid, doc_id, text, label, split))
    return out


def _parse_extraction(f: _File, known: set[str] | None) -> list[ExtractionExample]:
    out, seen = [], _Unique(f, "id")
    for line, obj in f.records():
        c = _Checker(f, line, obj)
        rid = c.string("id")
        seen.check(c, rid)
        doc_id = c.string("doc_id")
        if doc_id is not None:
            _check_doc_ids(c, "doc_id", [doc_id], known)
        text, fields = c.string("text"), c.mapping("fields", required=True)
        split = c.choice("split", SPLITS)
        if c.ok:
            out.append(ExtractionExample(rid, doc_id, text, fields, split))
    return out


_OPTIONAL_PARSERS: dict[str, tuple[str, Callable]] = {
    "triples.jsonl": ("triples", _parse_triples),
    "facts.jsonl": ("facts", _parse_facts),
    "tasks/clause_classification.jsonl": ("clause_classification", _parse_clauses),
    "tasks/field_extraction.jsonl": ("field_extraction", _parse_extraction),
}


def resolve_path(path: str | Path) -> Path:
    """A folder as given, else a dataset name under the course's data/ folder (e.g. "contracts")."""
    p = Path(path).expanduser()
    if p.exists() or p.is_absolute() or len(p.parts) != 1:
        return p
    from .paths import data_dir
    candidate = data_dir() / p
    return candidate if candidate.exists() else p


def _parse(path: str | Path) -> tuple[Path, list[Problem], dict[str, Any]]:
    root = resolve_path(path)
    problems: list[Problem] = []
    parts: dict[str, Any] = {}
    if not root.is_dir():
        problems.append(Problem(str(root), 0, "<folder>", "not a folder (a dataset is a folder with "
                                                          "corpus.jsonl and qa.jsonl)"))
        return root, problems, parts
    for rel in REQUIRED_FILES:
        if not (root / rel).is_file():
            problems.append(Problem(rel, 0, "<file>", "required file is missing"))
    known: set[str] | None = None
    if (root / "corpus.jsonl").is_file():
        parts["corpus"] = _parse_corpus(_File(root, "corpus.jsonl", problems))
        # Ids of every line that has a doc_id string, even a line with another problem, so that
        # one bad document is reported once and not again by every question that cites it.
        known = {d.doc_id for d in parts["corpus"]}
        known |= _raw_ids(root / "corpus.jsonl")
    if (root / "qa.jsonl").is_file():
        parts["qa"] = _parse_qa(_File(root, "qa.jsonl", problems), known)
    for rel, (attr, parser) in _OPTIONAL_PARSERS.items():
        if (root / rel).is_file():
            parts[attr] = parser(_File(root, rel, problems), known)
    card = root / "DATASET.md"
    parts["card"] = card.read_text(encoding="utf-8") if card.is_file() else None
    return root, problems, parts


def _raw_ids(path: Path) -> set[str]:
    ids = set()
    for chunk in path.read_bytes().split(b"\n"):
        try:
            obj = json.loads(chunk.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            continue
        if isinstance(obj, dict) and isinstance(obj.get("doc_id"), str):
            ids.add(obj["doc_id"])
    return ids


def validate_dataset(path: str | Path) -> list[Problem]:
    """Every problem in the folder (empty list: it keeps the contract)."""
    return _parse(path)[1]


def load_dataset(path: str | Path) -> Dataset:
    """Load a dataset folder (or a name under data/, e.g. "contracts"); raise DatasetError on any problem."""
    root, problems, parts = _parse(path)
    if problems:
        raise DatasetError(root, problems)
    return Dataset(root, parts["corpus"], parts["qa"], triples=parts.get("triples"), facts=parts.get("facts"),
                   clause_classification=parts.get("clause_classification"),
                   field_extraction=parts.get("field_extraction"), card=parts.get("card"))


# --------------------------------------------------------------------------- control set

def _control_path(path: str | Path | None) -> Path:
    if path is None:
        from .paths import data_dir
        return data_dir() / "control" / CONTROL_FILE
    p = resolve_path(path)
    return p / CONTROL_FILE if p.is_dir() else p


def _parse_control(path: Path) -> tuple[list[ControlItem], list[Problem]]:
    problems: list[Problem] = []
    if not path.is_file():
        return [], [Problem(str(path), 0, "<file>", "control set file is missing")]
    f = _File(path.parent, path.name, problems)
    out, seen = [], _Unique(f, "qid")
    for line, obj in f.records():
        c = _Checker(f, line, obj)
        qid = c.string("qid")
        seen.check(c, qid)
        question, answer = c.string("question"), c.string("answer")
        choices = c.strings("choices")
        index = c.integer("answer_index", required=True)
        category = c.string("category", required=False, nonempty=False) or ""
        if choices is not None and index is not None:
            if not 0 <= index < len(choices):
                c.fail("answer_index", f"{index} is out of range for {len(choices)} choices")
            elif answer is not None and not _same(choices[index], answer):
                c.fail("answer_index", f"choices[{index}] = {choices[index]!r} is not the answer {answer!r}")
        if choices is not None and len(choices) < 2:
            c.fail("choices", f"needs at least 2 options, got {len(choices)}")
        if c.ok:
            out.append(ControlItem(qid, question, answer, choices, index, category))
    return out, problems


def validate_control(path: str | Path | None = None) -> list[Problem]:
    return _parse_control(_control_path(path))[1]


def load_control(path: str | Path | None = None) -> list[ControlItem]:
    """The general-knowledge control set: a folder holding control.jsonl or the file (default data/control)."""
    p = _control_path(path)
    items, problems = _parse_control(p)
    if problems:
        raise DatasetError(p, problems)
    return items


# --------------------------------------------------------------------------- CLI

def main(argv: list[str] | None = None) -> int:
    """`python -m labsutil validate-data [DIR ...]`: exit 0 if every folder keeps the contract."""
    parser = argparse.ArgumentParser(prog="labsutil validate-data",
                                     description="Check dataset folders against the data contract (design.md section 6).")
    parser.add_argument("dirs", nargs="*", default=["contracts"],
                        help="dataset folders (a folder with only control.jsonl is checked as a control set); "
                             "default data/contracts")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    status = 0
    for d in args.dirs:
        root = resolve_path(d)
        if root.is_dir() and (root / CONTROL_FILE).is_file() and not (root / "corpus.jsonl").exists():
            items, problems = _parse_control(root / CONTROL_FILE)
            summary = f"{root}: control set, {len(items)} questions"
        else:
            root, problems, parts = _parse(root)
            summary = None if problems else Dataset(
                root, parts["corpus"], parts["qa"], triples=parts.get("triples"), facts=parts.get("facts"),
                clause_classification=parts.get("clause_classification"),
                field_extraction=parts.get("field_extraction"), card=parts.get("card")).summary()
        if problems:
            status = 1
            print(f"{root}: {len(problems)} problem(s) (file:line: field: message; line 0 is the whole file)")
            for p in problems:
                print(str(p))
        else:
            print(summary)
            print("OK: keeps the data contract")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
