"""The loop of lab 06: serve, collect feedback, convert, train a challenger, gate it, repeat.

    loop = FeedbackLoop(store, index, base_model="smollm2-135m-instruct", heldout=test_qs, control=control_items,
                        policy=GatePolicy(floor=0.2, max_control_drop=0.05))
    loop.start()                                       # the base model is the first champion, scored once
    pairs = loop.serve(1, questions)                   # the champion answers each question twice (A/B)
    loop.label_simulated(1, pairs, annotator)          # or the widget, or loop.label_ai(1, pairs, judge)
    challenger = loop.train(1, "dpo")                  # LoRA on the champion, on this round's feedback
    decision = loop.gate(challenger)                   # promoted or rejected, with its numbers and reasons

Each round serves train-split questions with lab 02's retrieval (the top `k` chunks, each cut to
`context_chars`: a preference step costs in proportion to its tokens, and DPO sees every prompt twice).
The champion answers each question twice: greedily (what it serves today) and by sampling (a plausible
alternative), so a pairwise label says which of two of its own answers is better: on-policy pairs, as
in iterative DPO. Training uses this round's feedback only.

A challenger is a LoRA adapter on the champion's weights. Once promoted it is merged into them
(`tuning.merge.merge_lora`, cached), so the next round serves and trains on a plain model folder. The
held-out set (test-split questions, never served) and the control set (general knowledge, multiple
choice: the forgetting guard) are scored once per model version and kept for the gate's paired test.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from typing import Mapping, Sequence

from ..rag import pipeline
from .convert import convert, to_dataset
from .preference import PreferenceHyperparameters, PreferenceResult, train_preference
from .registry import GateDecision, GatePolicy, Registry
from .store import Interaction, Store
from .widget import require_labels

RAG_SYSTEM = pipeline.SYSTEM


@dataclass
class Evaluation:
    """One model version's scores: held-out answers (records, with RAG) and control hits (multiple choice)."""

    version: str
    records: list = field(repr=False)
    control_hits: list = field(repr=False)

    @property
    def heldout(self) -> dict[str, bool]:
        return {r.qid: bool(r.correct) for r in self.records}

    @property
    def control(self) -> dict[str, bool]:
        return {h["qid"]: bool(h["correct"]) for h in self.control_hits}

    def metrics(self) -> dict:
        """Ledger fields: held-out accuracy (headline) with n and interval, control accuracy with its own."""
        from .. import stats

        held = stats.proportion([r.correct for r in self.records]).metrics("heldout_accuracy")
        control = stats.proportion([h["correct"] for h in self.control_hits]).metrics("control_accuracy",
                                                                                         headline=False)
        return {**held, **control}


@dataclass
class Pair:
    """One served question: its two answers as stored interactions, and the retrieved context shown."""

    question: object
    a: Interaction
    b: Interaction
    context: str
    documents: list[str]


class FeedbackLoop:
    """Champion, challengers and their scores over the rounds, on one feedback store."""

    def __init__(self, store: Store, index, *, base_model: str, heldout: Sequence, control: Sequence,
                 policy: GatePolicy, hp: PreferenceHyperparameters | None = None, k: int = 1,
                 context_chars: int = 400, max_new_tokens: int = 24, batch_size: int = 8, dtype: str = "float32",
                 temperature: float = 1.0, seed: int = 0, min_labels: int = 8, progress: bool = True,
                 backend: str = "transformers", kto_learning_rate: float | None = None):
        self.store, self.index, self.base_model = store, index, base_model
        self.kto_learning_rate = kto_learning_rate  # None: the same as DPO's (hp.learning_rate)
        self.registry = Registry(store)
        self.heldout, self.control = list(heldout), list(control)
        self.policy, self.hp = policy, hp or PreferenceHyperparameters()
        self.k, self.context_chars, self.max_new_tokens = k, context_chars, max_new_tokens
        self.batch_size, self.dtype, self.temperature, self.seed = batch_size, dtype, temperature, seed
        self.min_labels, self.progress, self.backend = min_labels, progress, backend
        self.scores: dict[str, Evaluation] = {}
        self.trained: dict[str, PreferenceResult] = {}
        self.reports: dict = {}  # version -> the ConversionReport of its training feedback
        self._llms: dict[str, object] = {}

    # ------------------------------------------------------------------ models
    def model_kwargs(self, version_id: str) -> dict:
        """How to load a version: the base model, or its parent's weights with the adapter (merged once it is
        a champion: same greedy answers, no adapter latency)."""
        from ..tuning.merge import merge_lora

        version = self.store.model_version(version_id)
        if version is None and version_id in self.trained:  # a side comparison, trained but not registered
            return self.trained[version_id].llm_kwargs()
        if version is None:
            raise KeyError(f"no model version {version_id!r} in the store")
        if not version.adapter_path:
            return {"model": version.base_model}
        if version.status in ("champion", "retired"):
            return {"model": str(merge_lora(version.base_model, version.adapter_path))}
        return {"model": version.base_model, "adapter": version.adapter_path}

    def llm(self, version_id: str):
        """The version behind the course's generation interface (one kept loaded at a time: memory)."""
        from ..llm import LLM

        kwargs = self.model_kwargs(version_id)
        key = repr(sorted(kwargs.items()))
        if key not in self._llms:
            self._llms.clear()
            # a challenger is scored merged, as it would serve once promoted (and without the adapter's cost)
            self._llms[key] = LLM(**kwargs, backend=self.backend, dtype=self.dtype, batch_size=self.batch_size,
                                  merge_adapter=self.backend == "transformers")
        return self._llms[key]

    def start(self, version_id: str = "v0") -> Evaluation:
        """Register the base model as the first champion (unless the store has one) and score it."""
        if self.store.champion() is None:
            self.registry.register(version_id, base_model=self.base_model, champion=True)
        return self.evaluate(self.registry.champion().id)

    # ------------------------------------------------------------------ retrieval and answering
    def contexts(self, questions: Sequence) -> tuple[list[str], list[list[str]], list[list[str]]]:
        """(prompts, retrieved doc ids, document texts) with the top `k` chunks, each cut to `context_chars`."""
        hits = self.index.search([q.question for q in questions], self.k)
        prompts, doc_ids, texts = [], [], []
        for q, hs in zip(questions, hits):
            chunks = [h.chunk for h in hs[: self.k]]
            prompts.append(f"{pipeline.format_context(chunks, max_chars=self.context_chars)}\n\n"
                           f"{pipeline.GROUNDED_INSTRUCTION}\nQuestion: {q.question}")
            doc_ids.append(list(dict.fromkeys(c.doc_id for c in chunks)))
            texts.append([pipeline.format_context([c], max_chars=self.context_chars) for c in chunks])
        return prompts, doc_ids, texts

    def evaluate(self, version_id: str) -> Evaluation:
        """Held-out accuracy (greedy, with retrieval) and control accuracy of a version; computed once."""
        if version_id not in self.scores:
            from ..datacheck import control_mc

            records = self.answer(version_id, self.heldout)
            hits = control_mc(self.llm(version_id), self.control)["hits"] if self.control else []
            self.scores[version_id] = Evaluation(version_id, records, hits)
        return self.scores[version_id]

    def answer(self, version_id: str, questions: Sequence) -> list:
        """Scored greedy answers of a version on any questions (e.g. a confirmation set the gate never saw)."""
        llm = self.llm(version_id)
        prompts, doc_ids, _ = self.contexts(questions)
        gens = llm.generate(prompts, max_new_tokens=self.max_new_tokens, system=RAG_SYSTEM, progress=self.progress)
        return [pipeline.score(q, g, d) for q, g, d in zip(questions, gens, doc_ids)]

    def serve(self, round: int, questions: Sequence) -> list[Pair]:
        """The champion answers each question greedily (A) and by sampling (B); both stored as interactions."""
        heldout = {q.qid for q in self.heldout}
        leaked = [q.qid for q in questions if q.qid in heldout]
        if leaked:
            raise ValueError(f"{len(leaked)} served question(s) are in the held-out set (e.g. {leaked[:3]}): "
                             "serve train-split questions only")
        champion = self.registry.champion().id
        llm = self.llm(champion)
        prompts, doc_ids, texts = self.contexts(questions)
        greedy = llm.generate(prompts, max_new_tokens=self.max_new_tokens, system=RAG_SYSTEM, progress=self.progress)
        sampled = llm.generate(prompts, max_new_tokens=self.max_new_tokens, system=RAG_SYSTEM,
                               temperature=self.temperature, seed=self.seed + 1000 * round, progress=self.progress)
        ids_a = self.store.log_generations(champion, questions, prompts, greedy, system=RAG_SYSTEM,
                                           retrieved=doc_ids, round=round)
        ids_b = self.store.log_generations(champion, questions, prompts, sampled, system=RAG_SYSTEM,
                                           retrieved=doc_ids, round=round)
        return [Pair(q, self.store.interaction(a), self.store.interaction(b), "\n\n".join(t), t)
                for q, a, b, t in zip(questions, ids_a, ids_b, texts)]

    # ------------------------------------------------------------------ feedback
    def label_simulated(self, round: int, pairs: Sequence[Pair], annotator) -> int:
        """The simulated annotator labels every pair (pairwise, thumbs, edits); returns the rows written."""
        rows = [row for p in pairs for row in annotator.label_pair(p.a, p.b, round=round)]
        return len(self.store.add_feedback_many(rows))

    def label_ai(self, round: int, pairs: Sequence[Pair], judge) -> list:
        """The LLM judge's pairwise verdicts (asked in both orders) stored as `ai-judge` feedback."""
        from .judge import JudgeItem

        items = [JudgeItem(p.question.question, p.a.response, p.b.response, tuple(p.documents)) for p in pairs]
        verdicts = judge.judge(items)
        self.store.add_feedback_many(judge.feedback_rows([(p.a, p.b) for p in pairs], verdicts, round=round))
        return verdicts

    def training_data(self, round: int, method: str, *, source: str | None = "simulated",
                      gold: Mapping[str, str] | None = None):
        """This round's feedback (from `source`) as TRL's DPO or KTO dataset, and the conversion report."""
        require_labels(self.store, self.min_labels, round=round, source=source)
        converted = convert(self.store.records(round=round, source=source), gold=gold,
                            unpair_preferences=method == "kto")
        examples = converted.dpo if method == "dpo" else converted.kto
        return to_dataset(examples, method), converted.report

    def train(self, round: int, method: str, *, source: str | None = "simulated", version_id: str | None = None,
              gold: Mapping[str, str] | None = None, register: bool = True, what: str = "") -> str:
        """A challenger trained on this round's feedback on top of the champion; registered; returns its id."""
        champion = self.registry.champion()
        dataset, report = self.training_data(round, method, source=source, gold=gold)
        base = self.model_kwargs(champion.id)["model"]
        hp = self.hp if method != "kto" or self.kto_learning_rate is None else \
            replace(self.hp, learning_rate=self.kto_learning_rate)
        result = train_preference(method, base, dataset, hp, progress=self.progress,
                                  what=what or f"round {round} {method} on {source} feedback")
        version_id = version_id or f"r{round}-{method}-{source or 'all'}"
        if register:
            self.registry.register(version_id, base_model=base, parent_id=champion.id, adapter_path=result.path,
                                   train_data_hash=result.card["data"]["fingerprint"],
                                   metrics={**result.ledger_metrics(), "train_seconds": result.train_seconds,
                                            **{f"conv_{k}": v for k, v in report.as_dict().items()}})
        self.trained[version_id] = result
        self.reports[version_id] = report
        return version_id

    def gate(self, challenger_id: str) -> GateDecision:
        """Score the challenger (and the champion, once) and let the registry promote or reject it."""
        champion = self.evaluate(self.registry.champion().id)
        challenger = self.evaluate(challenger_id)
        return self.registry.gate(challenger_id, policy=self.policy, heldout_champion=champion.heldout,
                                  heldout_challenger=challenger.heldout, control_champion=champion.control,
                                  control_challenger=challenger.control)


def serve_batches(pool: Sequence, rounds: int, per_round: int, seed: int = 0) -> list[list]:
    """Disjoint batches of questions for the rounds (a seeded shuffle of the pool); fewer if the pool is short."""
    pool = list(pool)
    random.Random(seed).shuffle(pool)
    batches = [pool[r * per_round:(r + 1) * per_round] for r in range(rounds)]
    short = [i + 1 for i, b in enumerate(batches) if len(b) < per_round]
    if short:
        print(f"note: the question pool ({len(pool)}) is too small for {rounds} rounds of {per_round}; "
              f"round(s) {short} get fewer")
    return [b for b in batches if b]
