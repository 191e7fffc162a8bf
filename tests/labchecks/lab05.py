"""Lab 05 (fine-tuning): assertions on the ledger rows the notebook wrote.

Decode speeds (merged vs unmerged LoRA) are measured and shown, not asserted: a busy machine must not fail it.
"""

RATES = ("answer_accuracy", "mc_accuracy", "untrained_mc_accuracy", "control_accuracy", "trainable_share")
INTERVALS = ("mc_accuracy", "untrained_mc_accuracy", "control_accuracy")  # each with X_ci_low / X_ci_high


def _ints(text):
    return [int(x) for x in str(text).replace(" ", "").split(",") if x]


def _strs(text):
    return [x.strip() for x in str(text).split(",") if x.strip()]


def check(rows, run_dir):
    by = {r["variant"]: r for r in rows}
    params = by["base"]["params"]
    ks, ranks, methods = _ints(params["paraphrase_counts"]), _ints(params["lora_ranks"]), _strs(params["methods"])

    # every recipe and every method has a row
    recipes = {"recipe/documents", "recipe/qa", *[f"recipe/facts" + (f"+{k}para" if k else "") for k in ks]}
    method_rows = {f"method/lora_r{r}" for r in ranks if "lora" in methods}
    method_rows |= {f"method/{m}" for m in methods if m != "lora"}
    assert recipes | method_rows | {"base", f"rag_k{params['top_k']}", "lora_merged"} <= set(by), sorted(
        (recipes | method_rows) - set(by))

    # every scored model says in which precision it answered and trained (dtype "auto" depends on the CPU)
    scored = recipes | method_rows | {"base", f"rag_k{params['top_k']}"}
    assert {by[v]["params"]["precision"] for v in scored} <= {"float32", "bfloat16"}
    assert len({by[v]["params"]["precision"] for v in scored}) == 1, "every model scored in one precision"
    for v in recipes | method_rows:
        assert by[v]["params"]["train_bf16"] == (by[v]["params"]["precision"] == "bfloat16"), v

    # metrics in range; every model is scored on the same questions and the control set
    n, control_n = by["base"]["metrics"]["n"], by["base"]["metrics"]["control_accuracy_n"]
    assert n >= 1 and control_n >= 1
    for variant, row in by.items():
        m = row["metrics"]
        for key in RATES:
            if key in m:
                assert m[key] is not None and 0.0 <= m[key] <= 1.0, (variant, key, m[key])
        if variant in recipes | method_rows | {"base"}:
            assert m["ci_low"] <= m["answer_accuracy"] <= m["ci_high"], variant  # Wilson 95% interval
            for key in INTERVALS:
                if key in m:
                    assert m[f"{key}_ci_low"] <= m[key] <= m[f"{key}_ci_high"], (variant, key)
        if variant in recipes | method_rows:
            assert m["n"] == n and m["control_accuracy_n"] == control_n, variant
            assert m["forgetting"] == round(by["base"]["metrics"]["control_accuracy"] - m["control_accuracy"], 4)
            # training numbers are recorded, and the loss fell
            assert row["cost"]["train_seconds"] > 0, variant
            # sampled during the run; a card from before that change reports none rather than a lifetime peak
            assert (row["cost"]["peak_mem_mb"] or 0) > 0 or m["from_cache"], variant
            assert m["size_mb"] > 0 and m["steps"] >= 1 and m["trainable_params"] >= 1, variant
            # the loss on the same probe rows before and after training
            assert m["probe_rows"] >= 1 and m["final_loss"] < m["initial_loss"], (variant, m["initial_loss"],
                                                                                  m["final_loss"])

    # what each method trains: the whole model, an adapter, a soft prompt
    share = {v: by[v]["metrics"]["trainable_share"] for v in method_rows}
    size = {v: by[v]["metrics"]["size_mb"] for v in method_rows}
    lora = f"method/lora_r{ranks[0]}"
    if "method/full" in share:
        assert share["method/full"] == 1.0 and size["method/full"] > size.get(lora, 0)
    state = {v: by[v]["metrics"].get("train_state_mb") for v in method_rows}
    if "method/full" in state and lora in state and None not in (state["method/full"], state[lora]):
        assert state["method/full"] > 10 * state[lora] > 0  # gradients and AdamW moments of 100% vs ~2% of weights
    if "method/prompt_tuning" in share and lora in share:
        assert share["method/prompt_tuning"] < share[lora] < 1.0
        assert size["method/prompt_tuning"] < size[lora]
    if len(ranks) > 1:
        assert by[f"method/lora_r{ranks[0]}"]["metrics"]["trainable_params"] < by[f"method/lora_r{ranks[1]}"][
            "metrics"]["trainable_params"]

    # the learning-rate sweep: one best rate per swept method
    if _strs(params["lr_sweep"]):
        swept = {v.split("/")[1] for v in by if v.startswith("lr_sweep/")}
        assert swept, "lr_sweep is set but no sweep rows were written"
        for method in swept:
            assert sum(by[v]["metrics"]["best"] for v in by if v.startswith(f"lr_sweep/{method}/")) == 1, method

    # merged LoRA answers like the adapter; both decode speeds are recorded
    merged = by["lora_merged"]["metrics"]
    assert merged["same_greedy"] == 1.0, merged
    assert merged["tokens_per_s_merged"] > 0 and merged["tokens_per_s_unmerged"] > 0, merged

    for plot in ("05_accuracy_vs_paraphrases.png", "05_learning_vs_forgetting.png"):
        assert (run_dir / "plots" / plot).is_file(), plot
