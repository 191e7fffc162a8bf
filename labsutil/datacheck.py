"""Model-based quality checks of a dataset (issue "Must show"):

1. closed book, the model should be near chance on the test multiple-choice questions
   (the data is fictional, so it cannot know the answers);
2. on the general-knowledge control set it should do clearly better than chance
   (so the control set can detect forgetting after fine-tuning);
3. given the gold document, its free-text answer should contain the gold answer or an
   alias on most single-hop test questions (so retrieval-augmented labs can gain).

`python -m labsutil check-data [DIR] [--n N]` prints the three numbers with their n.
Multiple choice is scored by log-likelihood: the option the model finds most probable
after the question (`labsutil.evaluate.choose`).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

from .data import load_control, load_dataset, resolve_path

GOLD_PROMPT = "{context}\n\nQuestion: {question}\nAnswer briefly."


def gold_prompt(docs, question: str) -> str:
    context = "\n\n".join(d.text.strip() for d in docs)
    return GOLD_PROMPT.format(context=context, question=question)


def closed_book_mc(llm, questions) -> dict:
    from .evaluate import choose_many

    picks = choose_many(llm, [(q.question, list(q.choices)) for q in questions])
    correct, by_type, n_type = 0, Counter(), Counter()
    for q, pick in zip(questions, picks):
        hit = pick == q.answer_index
        correct += hit
        by_type[q.type] += hit
        n_type[q.type] += 1
    n = len(questions)
    return {"n": n, "accuracy": correct / n if n else float("nan"), "chance": _chance(questions),
            "by_type": {t: {"n": n_type[t], "accuracy": by_type[t] / n_type[t]} for t in n_type}}


def control_mc(llm, items) -> dict:
    from .evaluate import choose_many

    picks = choose_many(llm, [(item.question, list(item.choices)) for item in items])
    correct, by_cat, n_cat, hits = 0, Counter(), Counter(), []
    for item, pick in zip(items, picks):
        hit = pick == item.answer_index
        correct += hit
        by_cat[item.category] += hit
        n_cat[item.category] += 1
        hits.append({"qid": item.qid, "correct": bool(hit)})
    n = len(items)
    return {"n": n, "accuracy": correct / n if n else float("nan"), "chance": _chance(items),
            "by_category": {c: {"n": n_cat[c], "accuracy": by_cat[c] / n_cat[c]} for c in n_cat}, "hits": hits}


def gold_containment(llm, dataset, questions, *, max_new_tokens: int = 32, batch_size: int = 8,
                     examples: int = 0) -> dict:
    from .evaluate import contains_answer

    prompts = [gold_prompt(dataset.docs(q.doc_ids), q.question) for q in questions]
    gens = llm.generate(prompts, max_new_tokens=max_new_tokens, batch_size=batch_size)
    hits = [contains_answer(g.text, q.answer, q.aliases) for q, g in zip(questions, gens)]
    n = len(questions)
    misses = [{"qid": q.qid, "question": q.question, "answer": q.answer, "prediction": g.text}
              for q, g, h in zip(questions, gens, hits) if not h][:examples]
    return {"n": n, "contains": sum(hits) / n if n else float("nan"), "misses": misses,
            "tokens_in": sum(g.tokens_in for g in gens), "tokens_out": sum(g.tokens_out for g in gens)}


def _chance(items) -> float:
    return sum(1 / len(i.choices) for i in items) / len(items) if items else float("nan")


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="labsutil check-data",
                                     description="Model-based quality checks of a dataset folder.")
    parser.add_argument("dir", nargs="?", default="contracts", help="dataset folder (default data/contracts)")
    parser.add_argument("--n", type=int, default=None,
                        help="at most N questions per check (a seeded, type-stratified sample; default all)")
    parser.add_argument("--control", default=None,
                        help="control-set folder or file (default: control/ next to DIR, else data/control)")
    parser.add_argument("--model", default=None, help="LLM (default: the course default model)")
    parser.add_argument("--split", default="test", help="split to measure (default test)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip", action="append", default=[], choices=["mc", "control", "gold"],
                        help="skip a check (repeatable)")
    parser.add_argument("--examples", type=int, default=0, help="print this many missed gold-document answers")
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)

    ds = load_dataset(args.dir)
    from .llm import LLM

    llm = LLM(args.model) if args.model else LLM()
    results: dict = {"dataset": str(ds.path), "model": llm.name, "split": args.split}
    print(f"dataset {ds.path}, model {llm.name}, split {args.split}")

    if "mc" not in args.skip:
        start = time.perf_counter()
        qs = ds.questions(split=args.split, with_choices=True, n=args.n, seed=args.seed)
        r = closed_book_mc(llm, qs)
        r["seconds"] = round(time.perf_counter() - start, 1)
        results["closed_book_mc"] = r
        print(f"closed-book multiple choice ({args.split}): {_pct(r['accuracy'])} of n={r['n']} "
              f"(chance {_pct(r['chance'])}; log-likelihood scoring) "
              + ", ".join(f"{t} {_pct(v['accuracy'])}/{v['n']}" for t, v in r["by_type"].items()))

    if "control" not in args.skip:
        control_dir = args.control
        if control_dir is None:
            sibling = resolve_path(args.dir).parent / "control"
            control_dir = sibling if (sibling / "control.jsonl").is_file() else None
        items = load_control(control_dir)
        if args.n is not None and args.n < len(items):  # spread over the categories
            step = len(items) / args.n
            items = [items[int(k * step)] for k in range(args.n)]
        start = time.perf_counter()
        r = control_mc(llm, items)
        r["seconds"] = round(time.perf_counter() - start, 1)
        results["control_mc"] = r
        print(f"control set multiple choice: {_pct(r['accuracy'])} of n={r['n']} (chance {_pct(r['chance'])}) "
              + ", ".join(f"{c} {_pct(v['accuracy'])}/{v['n']}" for c, v in r["by_category"].items()))

    if "gold" not in args.skip:
        qs = ds.questions(split=args.split, types="single_hop", n=args.n, seed=args.seed)
        start = time.perf_counter()
        r = gold_containment(llm, ds, qs, max_new_tokens=args.max_new_tokens, batch_size=args.batch_size,
                             examples=args.examples)
        r["seconds"] = round(time.perf_counter() - start, 1)
        results["gold_document_containment"] = r
        print(f"gold document in prompt, single-hop ({args.split}): answer or alias in the free-text answer "
              f"{_pct(r['contains'])} of n={r['n']}")
        for m in r["misses"]:
            print(f"  miss {m['qid']}: {m['question']} | gold {m['answer']!r} | got {m['prediction']!r}")

    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
