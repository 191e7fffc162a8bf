"""Lab 08 (inference acceleration): assertions on the ledger rows the notebook wrote."""


def _names(text):
    return [x.strip() for x in str(text).split(",") if x.strip()]


def check(rows, run_dir):
    by = {r["variant"]: r for r in rows}
    accel = {v[len("accel/"):]: r for v, r in by.items() if v.startswith("accel/")}
    params = accel["fp32_b1"]["params"]

    # every variant the parameters ask for is present (a route whose package is missing may be skipped)
    sizes = sorted({1, *(int(x) for x in _names(params["batch_sizes"]))})
    needed = {f"fp32_b{b}" for b in sizes} | {"torchao_int8", "student_untrained", "prompt_lookup",
                                               "speculative_untrained_draft"}
    for amount in _names(params["prune_amounts"]):
        pct = round(100 * float(amount))
        needed |= {f"magnitude_{pct}", f"wanda_{pct}"}
    if params["drop_layers"] > 0:
        needed.add(f"drop_layers_{round(100 * params['drop_layers'])}")
    if params["distill_steps"] > 0:
        needed |= {"student_distilled", "student_no_teacher", "speculative_distilled_draft"}
    assert needed <= set(accel), sorted(needed - set(accel))
    assert len(accel) >= 8, len(accel)

    # each with speed and quality, in range; the same questions for all
    n = accel["fp32_b1"]["metrics"]["n"]
    for name, row in accel.items():
        m, c = row["metrics"], row["cost"]
        assert m["tokens_per_s"] > 0 and m["ttft_s"] > 0 and m["weights_mb"] > 0, name
        assert 0 <= c["latency_p50_s"] <= c["latency_p95_s"], (name, c)
        assert 0.0 <= m["answer_accuracy"] <= 1.0 and m["ci_low"] <= m["answer_accuracy"] <= m["ci_high"], name
        assert m["n"] == n, (name, m["n"], n)
        assert 0.0 <= m["identical_to_fp32"] <= 1.0, name
    assert accel["fp32_b1"]["metrics"]["speedup_vs_fp32_b1"] == 1.0
    assert accel["fp32_b1"]["metrics"]["identical_to_fp32"] == 1.0
    # greedy fp32 answers do not depend on the batch: every fp32 batch size shares the reference answers
    assert all(accel[f"fp32_b{b}"]["metrics"]["identical_to_fp32"] == 1.0 for b in sizes)
    # unstructured pruning zeroes what it says; a student has half the teacher's layers
    for name, row in accel.items():
        if name.startswith(("magnitude_", "wanda_")):
            assert abs(row["metrics"]["sparsity"] - int(name.split("_")[1]) / 100) < 0.01, name
    for name in ("speculative_untrained_draft", "speculative_distilled_draft"):
        if name in accel:
            assert 0.0 <= accel[name]["metrics"]["acceptance"] <= 1.0, name

    # the Pareto frontier the lab drew is non-empty, holds only undominated variants and every other one is
    # dominated by a member (re-computed here from the rows)
    front = _names(by["pareto/front"]["params"]["front"])
    assert front and set(front) <= set(accel)

    def point(v):
        return accel[v]["metrics"]["answer_accuracy"], accel[v]["metrics"]["tokens_per_s"]

    def dominates(a, b):
        (qa, sa), (qb, sb) = point(a), point(b)
        return qa >= qb and sa >= sb and (qa > qb or sa > sb)

    assert not any(dominates(o, f) for f in front for o in accel), front
    assert all(any(dominates(f, v) for f in front) for v in set(accel) - set(front))

    # the recommended (fastest within the bound) variant is within its stated bound, and is measured
    rec = by["recommend/overall"]
    chosen = accel[rec["params"]["variant"]]["metrics"]
    bound = rec["metrics"]["max_quality_loss"]
    assert chosen["answer_accuracy"] >= accel["fp32_b1"]["metrics"]["answer_accuracy"] - bound - 1e-9
    assert rec["metrics"]["speedup_vs_fp32_b1"] == chosen["speedup_vs_fp32_b1"]

    # the serving variants priced by the ROI lab: tagged, with the tokens and latency of the n answers
    serving = {v: r for v, r in by.items() if v.startswith("serving/")}
    assert rec["params"]["variant"] in {v[len("serving/"):] for v in serving}
    for v, r in serving.items():
        assert r["params"]["roi_approach"] == "serving:" + v[len("serving/"):] and r["params"]["roi_base"]
        assert r["metrics"]["n"] == n and r["cost"]["tokens_in"] > 0 and r["cost"]["latency_p50_s"] > 0, v

    # verdicts were decided (or declared undecidable) and recorded
    verdicts = [r for v, r in by.items() if v.startswith("verdict/")]
    assert verdicts and all(r["params"]["verdict"] in ("agrees", "disagrees", "cannot be decided") for r in verdicts)
