"""The vLLM CPU engine's side of `labsutil.vllm_cpu`: run by the Python of `.venv-vllm`, not imported by labsutil.

    .venv-vllm/bin/python labsutil/vllm_worker.py --model DIR --dtype bfloat16 --memory-fraction 0.25

It loads vLLM's offline `LLM` once, writes one JSON line {"ready": true, "seconds": ...} and then answers one
JSON line per request read from stdin: {"prompts": [[token ids], ...], "max_tokens", "temperature", "top_p",
"seed", "min_tokens"} -> {"choices": [{"text", "token_ids", "finish_reason"}, ...]} in the prompts' order, or
{"error": "..."}. vLLM's own logs go to stderr (the parent keeps them in a file).

Why the offline `LLM`, with its engine core in this process (VLLM_ENABLE_V1_MULTIPROCESSING=0, set by the
parent), and not vLLM's HTTP server: `LLM.generate` then queues every prompt before the first step, so the same
prompts go into the same batches on every run and bf16 answers reproduce exactly. Through the server, or with
the engine core in a process of its own, the engine can start stepping while prompts still arrive: measured,
bf16 answers (and a lab's metrics) then changed between two runs. It also needs no port.
"""
import argparse
import json
import os
import sys
import time


def _protocol_stream():
    """A private copy of stdout for the JSON lines; fd 1 then points at stderr, where vLLM's logs go."""
    stream = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    return stream


def _answer(llm, request: dict) -> dict:
    from vllm import SamplingParams
    from vllm.inputs import TokensPrompt

    greedy = request["temperature"] <= 0
    params = SamplingParams(max_tokens=request["max_tokens"], temperature=request["temperature"],
                            top_p=1.0 if greedy else request["top_p"], seed=request.get("seed"),
                            min_tokens=request.get("min_tokens") or 0, skip_special_tokens=True)
    outputs = llm.generate([TokensPrompt(prompt_token_ids=ids) for ids in request["prompts"]], params,
                           use_tqdm=False)
    return {"choices": [{"text": o.outputs[0].text, "token_ids": list(o.outputs[0].token_ids),
                         "finish_reason": o.outputs[0].finish_reason} for o in outputs]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--dtype", required=True)
    parser.add_argument("--memory-fraction", type=float, default=0.25)
    args = parser.parse_args()
    protocol = _protocol_stream()
    start = time.perf_counter()
    from vllm import LLM

    # eager: starts in ~15 s instead of ~60 (no compile) at ~10% of the answering speed; no prefix cache: a
    # rerun of the same prompts must do the same work (honest timings); the KV cache takes memory_fraction of
    # the memory vLLM sees (its default, 0.92, fails beside a notebook)
    llm = LLM(model=args.model, dtype=args.dtype, seed=0, enforce_eager=True, enable_prefix_caching=False,
              gpu_memory_utilization=args.memory_fraction)
    protocol.write(json.dumps({"ready": True, "seconds": round(time.perf_counter() - start, 2)}) + "\n")
    for line in sys.stdin:
        try:
            reply = _answer(llm, json.loads(line))
        except Exception as err:  # the parent raises it with the log's end
            reply = {"error": f"{type(err).__name__}: {err}"}
        protocol.write(json.dumps(reply) + "\n")


if __name__ == "__main__":
    main()
