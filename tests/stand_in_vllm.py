"""A stand-in for `labsutil/vllm_worker.py` (tests of labsutil.vllm_cpu without the 3 GB engine).

Run as `python stand_in_vllm.py <worker path> --model ... --dtype ...` (the worker path is ignored). It speaks
the worker's protocol: a ready line, then per request line one reply line whose choices say "n=<prompt
length>" and carry i + 1 token ids for the i-th prompt. It appends its arguments and environment on start, and
every request, to $STAND_IN_LOG (JSON lines). With $STAND_IN_FAIL set it writes that text to stderr and exits 3
before it is ready; a request with max_tokens 0 gets an error reply.
"""
import json
import os
import sys

log = os.environ["STAND_IN_LOG"]


def write(entry: dict) -> None:
    with open(log, "a") as f:
        f.write(json.dumps(entry) + "\n")


if os.environ.get("STAND_IN_FAIL"):
    print(os.environ["STAND_IN_FAIL"], file=sys.stderr, flush=True)
    sys.exit(3)
write({"argv": sys.argv[2:], "env": {k: v for k, v in os.environ.items() if k.startswith(("VLLM_", "HF_"))}})
print(json.dumps({"ready": True, "seconds": 0.0}), flush=True)
for line in sys.stdin:
    request = json.loads(line)
    write({"request": request})
    if request["max_tokens"] == 0:
        reply = {"error": "ValueError: max_tokens must be at least 1"}
    else:
        reply = {"choices": [{"text": f" n={len(ids)}", "finish_reason": "stop", "token_ids": [7] * (i + 1)}
                             for i, ids in enumerate(request["prompts"])]}
    print(json.dumps(reply), flush=True)
