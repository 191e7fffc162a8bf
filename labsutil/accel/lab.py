"""Lab 08's measurements as ledger rows, the tables and plots that read them back, and the verdicts.

`Bench` holds what every variant shares (the questions and prompts, the fp32 reference answers, the held-out
text) and measures one variant per call: speed at the variant's batch size, quality of its model (once per
model), one ledger row `accel/<name>`. Tables, the Pareto plot, the ranking and the takeaways read the rows.
"""
from __future__ import annotations

import gc
import math
import random
from dataclasses import dataclass, field
from typing import Sequence

from .. import ledger, stats
from . import distill, engines, harness

FAMILIES = ("baseline", "batching", "precision", "quantization", "engine", "pruning", "distillation", "speculative")


@dataclass
class Bench:
    cfg: object
    questions: list
    prompts: list[str]
    heldout_texts: list[str]
    reference: harness.Quality | None = None
    reference_speed: dict | None = None
    qualities: dict = field(default_factory=dict)  # model key -> Quality
    rows: list = field(default_factory=list)

    @property
    def speed_prompts(self) -> list[str]:
        return self.prompts[: self.cfg.speed_prompts]

    def quality(self, key: str, engine) -> harness.Quality:
        """The model's answers (measured once per model key; the fp32 model's become the reference)."""
        if key not in self.qualities:
            self.qualities[key] = harness.measure_quality(
                engine, self.questions, self.prompts, max_new_tokens=self.cfg.max_new_tokens,
                reference=self.reference, heldout_texts=self.heldout_texts)
            if self.reference is None:
                self.reference = self.qualities[key]
                self.reference.identical = harness.same_answers(self.reference.texts, self.reference.texts)
        return self.qualities[key]

    def measure(self, name: str, family: str, engine, *, model_key: str, batch_size: int = 1, note: str = "",
                extra: dict | None = None) -> dict:
        """Speed of `engine` at `batch_size`, quality of its model, one ledger row; returns the row."""
        if family not in FAMILIES:
            raise ValueError(f"family {family!r} is not one of {FAMILIES}")
        quality = self.quality(model_key, engine)
        # a run of 32+ requests lasts long enough to average the noise out: one repeat (it is most of the lab's time)
        repeats = 1 if batch_size >= 32 else self.cfg.repeats
        speed = harness.measure_speed(engine, self.speed_prompts, new_tokens=self.cfg.speed_tokens,
                                      batch_size=batch_size, repeats=repeats)
        if self.reference_speed is None:
            self.reference_speed = speed
        row = self._record(name, family, engine, batch_size, speed, quality, note, extra or {})
        gc.collect()
        return row

    def _record(self, name, family, engine, batch_size, speed, quality, note, extra) -> dict:
        metrics = {**quality.accuracy.metrics("answer_accuracy"),
                   **(quality.identical.metrics("identical_to_fp32", headline=False) if quality.identical else {}),
                   "tokens_per_s": speed["tokens_per_s"],
                   "speedup_vs_fp32_b1": round(speed["tokens_per_s"] / self.reference_speed["tokens_per_s"], 3),
                   "decode_tokens_per_s": speed["decode_tokens_per_s"],
                   "decode_speedup_vs_fp32_b1": _ratio(speed["decode_tokens_per_s"],
                                                       self.reference_speed["decode_tokens_per_s"]),
                   "prefill_tokens_per_s": speed["prefill_tokens_per_s"],
                   "ttft_s": speed["ttft_s"], "peak_rss_mb": speed["peak_rss_mb"],
                   "weights_mb": round(engine.weight_bytes / 2**20, 1),
                   "perplexity": None if math.isnan(quality.perplexity) else round(quality.perplexity, 3),
                   "speed_identical_to_fp32": self._speed_identical(speed),
                   **{k: v for k, v in extra.items() if isinstance(v, (int, float)) or v is None}}
        params = {"family": family, "engine": engine.kind, "variant_batch_size": batch_size, "note": note,
                  "speed_prompts": speed["prompts"], "speed_tokens": speed["new_tokens"],
                  **{k: v for k, v in extra.items() if isinstance(v, str)}}
        cost = {"latency_p50_s": speed["latency_p50_s"], "latency_p95_s": speed["latency_p95_s"],
                "peak_mem_mb": speed["peak_rss_mb"], "tokens_out": speed["tokens_out"]}
        ledger.record(self.cfg, f"accel/{name}", metrics, cost, params,
                      answers=[{"qid": q.qid, "correct": c, "text": t}
                               for q, c, t in zip(self.questions, quality.correct, quality.texts)])
        row = {"name": name, "family": family, "metrics": metrics, "params": params, "cost": cost,
               "speed": speed, "quality": quality}
        self.rows.append(row)
        return row

    def _speed_identical(self, speed: dict) -> float | None:
        """Share of the fixed-length speed outputs equal to fp32 batch 1's (lossless serving must give 1.0)."""
        if self.reference_speed is None or speed is self.reference_speed:
            return 1.0
        share = harness.same_answers(speed["texts"], self.reference_speed["texts"])
        return round(share.value, 4) if share.n else None


def _ratio(a, b):
    return round(a / b, 3) if a and b else None


# --------------------------------------------------------------------------- data

def heldout_split(corpus: Sequence, share: float, seed: int) -> tuple[list, list]:
    """(training documents, held-out documents): a seeded split of the corpus by document id.

    The distillation student trains on the first; perplexity is measured on the second, which no variant saw
    in calibration or training.
    """
    docs = sorted(corpus, key=lambda d: d.doc_id)
    random.Random(seed).shuffle(docs)
    n_held = max(1, round(len(docs) * share))
    return docs[n_held:], docs[:n_held]


# --------------------------------------------------------------------------- reading the rows back

def table(cfg):
    """Every variant: speed, latency, memory, size, accuracy with its interval, agreement with fp32."""
    import pandas as pd

    rows = [r for r in ledger.read(cfg.run_dir, lab=cfg.lab) if r["variant"].startswith("accel/")]
    out = []
    for r in rows:
        m, c, p = r["metrics"], r["cost"], r["params"]
        out.append({"variant": r["variant"][len("accel/"):], "family": p["family"], "engine": p["engine"],
                    "batch": p["variant_batch_size"], "tokens/s": m["tokens_per_s"],
                    "speed-up": m["speedup_vs_fp32_b1"], "decode tok/s": m.get("decode_tokens_per_s"),
                    "decode speed-up": m.get("decode_speedup_vs_fp32_b1"),
                    "prefill tok/s": m.get("prefill_tokens_per_s"), "TTFT s": m["ttft_s"],
                    "p50 s": c["latency_p50_s"], "p95 s": c["latency_p95_s"], "peak RSS MB": m["peak_rss_mb"],
                    "weights MB": m["weights_mb"], "accuracy": m["answer_accuracy"], "ci_low": m["ci_low"],
                    "ci_high": m["ci_high"], "n": m["n"], "identical to fp32": m.get("identical_to_fp32"),
                    "perplexity": m.get("perplexity")})
    return pd.DataFrame(out).set_index("variant")


def shown(results):
    """The table with accuracy as '41% [30, 54]' for reading."""
    view = results.copy()
    view["accuracy"] = [f"{a:.0%} [{lo:.0%}, {hi:.0%}]" for a, lo, hi in
                        zip(results["accuracy"], results["ci_low"], results["ci_high"])]
    view["identical to fp32"] = [f"{x:.0%}" if x is not None and not _nan(x) else "" for x in
                                 results["identical to fp32"]]
    return view.drop(columns=["ci_low", "ci_high"])


def _nan(x) -> bool:
    return isinstance(x, float) and math.isnan(x)


def pareto_front(results) -> list[str]:
    """Variants no other variant beats on both accuracy and tokens/s (ties kept)."""
    names = list(results.index)
    front = []
    for name in names:
        a, s = results.loc[name, "accuracy"], results.loc[name, "tokens/s"]
        dominated = any((results.loc[o, "accuracy"] >= a and results.loc[o, "tokens/s"] >= s)
                        and (results.loc[o, "accuracy"] > a or results.loc[o, "tokens/s"] > s) for o in names)
        if not dominated:
            front.append(name)
    return sorted(front, key=lambda n: results.loc[n, "tokens/s"])


def record_front(cfg, results) -> list[str]:
    """The Pareto frontier as a ledger row (`pareto/front`), returned too."""
    front = pareto_front(results)
    ledger.record(cfg, "pareto/front", {"front_size": len(front)}, params={"front": ",".join(front)})
    return front


def plot_pareto(results, ax=None):
    """Accuracy (95% CI) against tokens/s, one point per variant, the frontier drawn."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(10, 5.5))
    colors = dict(zip(FAMILIES, plt.cm.tab10.colors))
    for name, r in results.iterrows():
        ax.errorbar(r["tokens/s"], 100 * r["accuracy"], yerr=[[100 * (r["accuracy"] - r["ci_low"])],
                                                              [100 * (r["ci_high"] - r["accuracy"])]],
                    fmt="o", color=colors.get(r["family"], "grey"), alpha=0.8, capsize=2)
        ax.annotate(name, (r["tokens/s"], 100 * r["accuracy"]), fontsize=7, xytext=(3, 3),
                    textcoords="offset points")
    front = pareto_front(results)
    ax.plot([results.loc[n, "tokens/s"] for n in front], [100 * results.loc[n, "accuracy"] for n in front],
            "--", color="black", lw=1, label="Pareto frontier")
    for family in dict.fromkeys(results["family"]):
        ax.plot([], [], "o", color=colors.get(family, "grey"), label=family)
    ax.set_xscale("log")
    ax.set_xlabel("tokens/s (log scale, higher is faster)")
    ax.set_ylabel("answer accuracy % (95% CI)")
    ax.set_title("Speed against quality: every variant on the same questions")
    ax.legend(fontsize=7, loc="best")
    return ax


def ranking(bench: Bench, max_loss: float = 0.02) -> "object":
    """Variants ranked by speed-up over fp32 batch 1, with the paired accuracy change against fp32 and whether the
    loss stays within `max_loss` (the point estimate, and whether the interval can show it)."""
    import pandas as pd

    ref = bench.reference
    out = []
    for row in bench.rows:
        q = row["quality"]
        comparison = stats.paired_binary(ref.correct, q.correct, names=("fp32", row["name"]))
        within = comparison.diff >= -max_loss
        out.append({"variant": row["name"], "speed-up": row["metrics"]["speedup_vs_fp32_b1"],
                    "decode speed-up": row["metrics"]["decode_speedup_vs_fp32_b1"],
                    "tokens/s": row["metrics"]["tokens_per_s"], "accuracy change (paired)": str(comparison),
                    "diff": comparison.diff, "diff_ci_low": comparison.ci_low,
                    f"loss <= {max_loss:.0%} (point)": within,
                    "loss shown <= bound (interval)": comparison.ci_low >= -max_loss})
    frame = pd.DataFrame(out).set_index("variant").sort_values("speed-up", ascending=False)
    return frame


def fastest_within(rank, max_loss: float = 0.02, *, batch_one: bool = False, bench: Bench | None = None,
                   by: str = "speed-up"):
    """The fastest variant (by `by`: "speed-up" end to end, or "decode speed-up") whose accuracy loss against fp32
    is at most `max_loss` (point estimate); with `batch_one`, among batch-1 variants only (the issue's "decode
    speed-up at batch 1")."""
    key = f"loss <= {max_loss:.0%} (point)"
    ok = rank[rank[key]]
    if batch_one and bench is not None:
        ones = {r["name"] for r in bench.rows if r["params"]["variant_batch_size"] == 1}
        ok = ok[[n in ones for n in ok.index]]
    ok = ok[ok[by].notna()].sort_values(by, ascending=False)
    return None if ok.empty else ok.index[0]


def plot_batching(bench: Bench, ax=None):
    """Tokens/s and the latency each request pays, against batch size, per precision."""
    import matplotlib.pyplot as plt

    rows = [r for r in bench.rows if r["family"] in ("baseline", "batching", "precision")
            and r["params"]["engine"] == "transformers"]
    if ax is None:
        _, ax = plt.subplots(1, 2, figsize=(11, 3.6))
    for dtype in ("fp32", "bf16"):
        mine = sorted((r for r in rows if r["name"].startswith(dtype)), key=lambda r: r["params"]["variant_batch_size"])
        if not mine:
            continue
        sizes = [r["params"]["variant_batch_size"] for r in mine]
        ax[0].plot(sizes, [r["metrics"]["tokens_per_s"] for r in mine], "o-", label=dtype)
        ax[1].plot(sizes, [r["cost"]["latency_p50_s"] for r in mine], "o-", label=dtype)
    for a, title in zip(ax, ("throughput (tokens/s, all requests)", "latency each request waits (s, p50)")):
        a.set_xscale("log", base=2)
        a.set_xlabel("batch size")
        a.set_title(title)
        a.legend()
    return ax


# --------------------------------------------------------------------------- verdicts

def _by_name(bench: Bench) -> dict:
    return {r["name"]: r for r in bench.rows}


def _compare(bench: Bench, a: str, b: str) -> stats.Comparison:
    rows = _by_name(bench)
    return stats.paired_binary(rows[a]["quality"].correct, rows[b]["quality"].correct, names=(a, b))


def takeaways(bench: Bench, acceptance: dict | None = None) -> list[str]:
    """Each published direction with this run's paired comparison and a verdict decided by its interval; the
    verdicts are ledger rows too (`verdict/<b>_vs_<a>`)."""
    rows = _by_name(bench)
    lines = []

    def say(a, b, expected, claim, margin=0.0):
        if a in rows and b in rows:
            comparison = _compare(bench, a, b)
            verdict = stats.verdict(comparison, expected, claim=claim, margin=margin)
            lines.append("- " + str(verdict))
            ledger.record(bench.cfg, f"verdict/{b}_vs_{a}", comparison.metrics("vs"),
                          params={"a": a, "b": b, "expected": expected, "claim": claim, "verdict": verdict.label})

    int4 = next((n for n in ("ort_genai_int4", "llamacpp_q4_1") if n in rows), None)
    if int4:
        say("fp32_b1", int4, "b<a", "4-bit weights cost accuracy at small scale (GPTQ/AWQ report larger losses for "
                                    "small models)")
    for pct in (50, 30):
        say("fp32_b1", f"magnitude_{pct}", "b<a", f"{pct}% unstructured magnitude pruning costs a small model accuracy")
        say("fp32_b1", f"wanda_{pct}", "b<a", f"{pct}% Wanda pruning costs a ~125M model accuracy (Wanda/SparseGPT: "
                                              f"cheap at 7B, costly at 125M)")
        say(f"magnitude_{pct}", f"wanda_{pct}", "b>a", f"Wanda beats magnitude pruning at {pct}% (Sun et al. 2023)")
    say("student_no_teacher", "student_distilled", "b>a", "distillation beats training the same student without "
                                                          "the teacher")
    say("fp32_b1", "student_distilled", "b=a", "a distilled half-depth student keeps ~97% of the teacher's quality "
                                               "(DistilBERT)", margin=0.05)
    for name in ("student_distilled", "magnitude_50", "drop_layers_20"):
        if name in rows:
            lines.append(f"- {name}: {rows[name]['metrics']['speedup_vs_fp32_b1']:.2f}x the tokens/s of fp32 at batch 1")
    if acceptance and "student_distilled" in rows:
        # what theory allows at the measured acceptance and the draft's relative cost per token
        cost = rows["fp32_b1"]["metrics"]["tokens_per_s"] / rows["student_distilled"]["metrics"]["tokens_per_s"]
        rate = acceptance["distilled"]["agreement"]
        k, best = distill.best_draft_length(rate, cost)
        lines.append(f"- Speculative decoding in theory (Leviathan et al. 2023): at acceptance {rate:.0%} and a draft "
                     f"costing {cost:.2f} of a teacher step, the best draft length (k = {k}) gives at most {best:.2f}x; "
                     f"a draft pays only when it is both right and much cheaper than the teacher (c well below 0.5)")
    if acceptance:
        lines.append("- Speculative decoding: draft acceptance " + ", ".join(
            f"{k.replace('_', ' ')} {v['agreement']:.0%} (of {v['positions']} tokens)" for k, v in acceptance.items())
            + "; end-to-end " + ", ".join(f"{n}: {rows[n]['metrics']['speedup_vs_fp32_b1']:.2f}x"
                                          for n in rows if n.startswith("speculative_") or n == "prompt_lookup"))
    return lines


def recommendation(bench: Bench, rank, max_loss: float) -> dict:
    """The fastest variant within the quality bound: overall (end-to-end tokens/s, any batch), at batch 1 end to
    end, and at batch 1 by decode speed alone (prefill excluded), as the lab states them."""
    rows = _by_name(bench)
    out = {}
    for label, batch_one, by in (("overall", False, "speed-up"), ("batch 1", True, "speed-up"),
                                 ("batch 1 decode", True, "decode speed-up")):
        name = fastest_within(rank, max_loss, batch_one=batch_one, bench=bench, by=by)
        if name is None:
            out[label] = None
            continue
        r = rank.loc[name]
        out[label] = {"variant": name, "speed-up": float(r["speed-up"]), "decode speed-up": float(r["decode speed-up"]),
                      "accuracy change": r["accuracy change (paired)"],
                      "loss shown within bound": bool(r["loss shown <= bound (interval)"]),
                      "how": rows[name]["params"]["note"]}
    return out


def record_recommendation(bench: Bench, rec: dict, max_loss: float) -> None:
    """One ledger row per recommendation (so the notebook test and the README can read them)."""
    for label, r in rec.items():
        if r is None:
            continue
        ledger.record(bench.cfg, f"recommend/{label.replace(' ', '_')}",
                      {"speedup_vs_fp32_b1": r["speed-up"], "decode_speedup_vs_fp32_b1": r["decode speed-up"],
                       "max_quality_loss": max_loss,
                       "loss_shown_within_bound": float(r["loss shown within bound"])},
                      params={"variant": r["variant"], "how": r["how"], "accuracy_change": r["accuracy change"]})


def record_serving(bench: Bench, names: Sequence[str], base: str = "rag") -> list[str]:
    """ROI rows (lab 09) for the serving variants worth pricing: what answering the n questions cost on each.

    Tagged `roi_approach = "serving:<name>"` and `roi_base` (labsutil.roi's convention); accuracy, tokens and
    latency come from the quality pass (real answers, stopping at the end of sequence), at the batch size that pass
    used. Returns the variants recorded (names not measured are skipped).
    """
    import numpy as np

    by = _by_name(bench)
    done = []
    for name in dict.fromkeys(names):  # once each, in order
        if name not in by:
            continue
        quality = by[name]["quality"]
        lat = quality.extra["latencies"]
        ledger.record(bench.cfg, f"serving/{name}", quality.accuracy.metrics("answer_accuracy"),
                      cost={"tokens_in": quality.extra["tokens_in"], "tokens_out": quality.extra["tokens_out"],
                            "latency_p50_s": round(float(np.percentile(lat, 50)), 3),
                            "latency_p95_s": round(float(np.percentile(lat, 95)), 3)},
                      params={"roi_approach": f"serving:{name}", "roi_base": base, "device": "cpu",
                              "top_k": bench.cfg.top_k,  # chunks per prompt: fewer than lab 02's reads fewer tokens
                              "batch_size": quality.extra["batch_size"], "engine": by[name]["params"]["engine"]},
                      answers=[{"qid": q.qid, "correct": c, "text": t}
                               for q, c, t in zip(bench.questions, quality.correct, quality.texts)])
        done.append(name)
    return done


def gpu_comparison(cfg, prompts: list[str], batch_size: int = 64) -> dict:
    """vLLM against transformers `generate` at `batch_size` on a CUDA GPU; {'ran': False, 'why': ...} elsewhere."""
    import importlib.util

    import torch

    if not torch.cuda.is_available():
        return {"ran": False, "why": "no CUDA GPU on this machine: the GPU cells were not run"}
    if importlib.util.find_spec("vllm") is None:
        return {"ran": False, "why": "vllm is not installed: pip install -e '.[gpu]'"}
    from ..llm import LLM

    result = {"ran": True, "batch_size": batch_size}
    chosen = harness._cycle(prompts, batch_size)
    for backend in ("transformers", "vllm"):
        llm = LLM(cfg.model, backend=backend, dtype="bfloat16", batch_size=batch_size)
        engine = engines.TorchEngine(llm, batch_size=batch_size, weight_bytes=0)  # the same harness as the CPU rows
        result[backend] = harness.measure_speed(engine, chosen, new_tokens=cfg.speed_tokens, batch_size=batch_size,
                                                repeats=cfg.repeats)
        del llm
        gc.collect()
        torch.cuda.empty_cache()
    result["speedup"] = result["vllm"]["tokens_per_s"] / result["transformers"]["tokens_per_s"]
    return result
