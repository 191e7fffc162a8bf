"""The course's profiles and every lab's parameters, in one place.

A parameter is declared once with its type, its allowed values and its value in
each profile. A notebook's `parameters` cell sets a parameter to `None` to mean
"the profile's value"; `labsutil.config.setup` resolves and validates them.

Profiles (design.md section 5):
- smoke: CI; small slices and few steps, every notebook well under 2 minutes.
- workshop: the default; meaningful results on a 2-core CPU, each lab under 8 minutes.
- extended: a 2-core CPU with time to spare (self-paced learners, teams): the labs whose workshop run is cut
  to fit 8 minutes (05, 07 and 08) train longer and answer more questions here, for narrower intervals;
  every parameter without an `extended` value takes its workshop value.
- gpu: a larger model, the vLLM backend, full evaluation sets, LLM-judged metrics.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PROFILES = ("smoke", "workshop", "extended", "gpu")
FALLBACK_PROFILE = {"extended": "workshop"}  # a profile that declares only what it changes
DEFAULT_PROFILE = "workshop"

DEFAULT_LLM = "smollm2-135m-instruct"
DEFAULT_EMBEDDER = "all-minilm-l6-v2"
# The gpu profile's model comes from the Hugging Face hub: download it once
# (see README, "GPU") since the course runs offline by default.
GPU_LLM = "HuggingFaceTB/SmolLM2-1.7B-Instruct"


@dataclass(frozen=True)
class Param:
    """One parameter: its type, what is allowed, and its value per profile."""

    types: tuple[type, ...]
    default: Any = None  # one value for every profile, or a dict profile -> value
    choices: tuple | None = None
    min: float | None = None
    max: float | None = None
    nullable: bool = False  # None stays None after resolution (e.g. "all questions")
    help: str = ""

    def value_for(self, profile: str) -> Any:
        if isinstance(self.default, dict):
            if profile not in self.default and profile in FALLBACK_PROFILE:
                return self.value_for(FALLBACK_PROFILE[profile])
            return self.default[profile]
        return self.default

    def allowed(self) -> str:
        """What is allowed, in words, for error messages."""
        if self.choices is not None:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        names = "/".join(t.__name__ for t in self.types)
        if self.min is not None and self.max is not None:
            text = f"{names} from {self.min} to {self.max}"
        elif self.min is not None:
            text = f"{names} >= {self.min}"
        elif self.max is not None:
            text = f"{names} <= {self.max}"
        else:
            text = names
        return text + (" or None" if self.nullable else "")


def _p(types, default=None, **kw) -> Param:
    return Param(types=types if isinstance(types, tuple) else (types,), default=default, **kw)


DTYPES = ("auto", "float32", "bfloat16", "float16")
AUTO_DTYPE = ("on a CPU, bfloat16 where it computes bf16 natively (AVX512-BF16 or AMX), float32 elsewhere; "
              "on a GPU, the checkpoint's dtype")

def _bf16_where_native(what: str, unit: str) -> dict[str, Param]:
    """`dtype` auto and a fixed generation batch size for labs 01-07: bf16 answering (and, in the labs that train,
    bf16 mixed-precision training) where the CPU computes bf16 natively is what lets a workshop run answer enough
    questions for its intervals within the time budget (lab 00 measures the gain and the agreement with fp32)."""
    return {
        "dtype": _p(str, {"smoke": "auto", "workshop": "auto", "gpu": "bfloat16"}, choices=DTYPES,
                    help=f"weights dtype for {what}; bfloat16 also trains in bf16 mixed precision (fp32 master "
                         "weights). auto: " + AUTO_DTYPE),
        "batch_size": _p(int, {"smoke": 16, "workshop": 32, "gpu": 64}, min=1, max=1024,
                         help=f"generation batch size (every {unit} is scored at the same one: bf16 answers depend "
                              "on it)"),
    }


BACKEND_CHOICES = ("auto", "transformers", "vllm", "vllm-cpu", "ort-int4", "ort-fp32")


def _engine_where_installed() -> dict[str, Param]:
    """`backend` auto for the RAG labs (02-04), which only generate: vLLM's CPU engine where `make vllm` installed
    it (on lab 02's RAG prompts 4.5x the answers per second of fp32 at batch 8 in bf16, 2x torch's bf16 path,
    answers reproducible; measured), else transformers."""
    return {"backend": _p(str, {"smoke": "auto", "workshop": "auto", "gpu": "vllm"}, choices=BACKEND_CHOICES,
                          help="generation backend; auto: vllm-cpu where `make vllm` installed vLLM's CPU engine, "
                               "else transformers")}


# Parameters every lab has.
COMMON: dict[str, Param] = {
    "profile": _p(str, DEFAULT_PROFILE, choices=PROFILES, help="which profile's values to use"),
    "dataset_dir": _p(str, "../data/contracts", help="a folder keeping the data contract (design.md section 6)"),
    "model": _p(str, {"smoke": DEFAULT_LLM, "workshop": DEFAULT_LLM, "gpu": GPU_LLM},
                help="LLM: a course short name, a Hugging Face id, or a local folder"),
    "embedder": _p(str, DEFAULT_EMBEDDER, help="sentence-transformers model: short name, HF id or folder"),
    "backend": _p(str, {"smoke": "transformers", "workshop": "transformers", "gpu": "vllm"},
                  choices=BACKEND_CHOICES,
                  help="generation backend (auto: vllm-cpu where installed, else transformers; vllm-cpu: vLLM's "
                       "CPU engine from `make vllm`, generation only, no adapters (merge them first), ~15 s to start; "
                       "ort-*: ONNX Runtime GenAI, lab 08's fastest batch-1 route; generation only, one request at "
                       "a time)"),
    "dtype": _p(str, {"smoke": "float32", "workshop": "float32", "gpu": "bfloat16"},
                choices=DTYPES, help="model weights dtype (auto: " + AUTO_DTYPE + ")"),
    "run_dir": _p(str, None, nullable=True,
                  help="where the ledger and plots go; None: $LABS_RUN_DIR or runs/interactive"),
    "seed": _p(int, 0, min=0, max=2**31 - 1, help="seed for every random generator"),
    "n_eval": _p(int, {"smoke": 12, "workshop": 60, "gpu": None}, min=1, nullable=True,
                 help="how many evaluation questions (None: all)"),
    "batch_size": _p(int, {"smoke": 8, "workshop": 8, "gpu": 64}, min=1, max=1024,
                     help="generation batch size"),
    "max_new_tokens": _p(int, {"smoke": 32, "workshop": 48, "gpu": 128}, min=1, max=4096,
                         help="tokens generated per answer"),
}

# Each lab's own knobs, keyed by the two-digit lab number.
LAB_PARAMS: dict[str, dict[str, Param]] = {
    "00": {
        "decode_tokens": _p(int, {"smoke": 16, "workshop": 48, "gpu": 128}, min=4, max=1024,
                            help="tokens decoded per prompt in the throughput measurement"),
        "throughput_batch": _p(int, 8, min=2, max=256, help="batch size compared against batch 1"),
        "bench_n": _p(int, {"smoke": 6, "workshop": 32, "gpu": 64}, min=0, max=1000,
                      help="lab 02 RAG prompts answered per path in the answering bench (0 skips it)"),
    },
    "01": {
        **_bf16_where_native("answering", "technique"),
        # every technique runs on the same examples; these sizes set the whole lab's time
        "n_eval": _p(int, {"smoke": 6, "workshop": 32, "gpu": None}, min=1, nullable=True,
                     help="clauses and questions evaluated per technique (None: the whole test split)"),
        "confirm_n": _p(int, {"smoke": 6, "workshop": 100, "gpu": 0}, min=0, max=100000,
                        help="fresh test clauses on which the headline classification claims are re-measured "
                             "after the main sample chose the best k (0 skips; nothing is left when n_eval is None)"),
        "n_extract": _p(int, {"smoke": 2, "workshop": 6, "gpu": None}, min=1, nullable=True,
                        help="agreements for field extraction per technique (None: the whole test split)"),
        "max_new_tokens": _p(int, {"smoke": 6, "workshop": 16, "gpu": 64}, min=4, max=4096,
                             help="tokens generated for a direct (short) answer"),
        "shots": _p(str, {"smoke": "1", "workshop": "1,3,5", "gpu": "1,3,5"},
                    help="few-shot sizes k for classification and QA, comma-separated ('' for none)"),
        "extract_shots": _p(str, {"smoke": "", "workshop": "1", "gpu": "1,3"},
                            help="few-shot sizes k for extraction (each example is a whole agreement)"),
        "extract_fields": _p(str, {"smoke": "governing_law,termination_notice_days",
                                   "workshop": "agreement_type,party_a,effective_date,governing_law,"
                                               "termination_notice_days",
                                   "gpu": ""},
                             help="fields to extract, comma-separated ('' for every field of the data)"),
        "extract_tokens": _p(int, {"smoke": 32, "workshop": 96, "gpu": 256}, min=16, max=4096,
                             help="tokens generated for a JSON extraction (constrained decoding: twice this, as a cap)"),
        "cot_tokens": _p(int, {"smoke": 20, "workshop": 48, "gpu": 256}, min=8, max=4096,
                         help="tokens generated for chain-of-thought and self-consistency"),
        "sc_samples": _p(int, {"smoke": 3, "workshop": 3, "gpu": 10}, min=2, max=64,
                         help="sampled answers per example in self-consistency (majority vote)"),
        "sc_temperature": _p(float, 0.7, min=0.05, max=2.0, help="sampling temperature of self-consistency"),
        "max_retries": _p(int, 1, min=0, max=5, help="validate-and-retry: extra turns for an invalid JSON reply"),
        "constrained": _p(bool, True, help="run JSON-constrained decoding (lm-format-enforcer, transformers backend)"),
    },
    "02": {
        **_bf16_where_native("answering", "variant"),
        **_engine_where_installed(),
        "n_eval": _p(int, {"smoke": 8, "workshop": 120, "gpu": None}, min=1, nullable=True,
                     help="questions answered per variant, stratified by type (None: the whole test split); "
                          "retrieval metrics always use every test question"),
        "max_new_tokens": _p(int, {"smoke": 32, "workshop": 32, "gpu": 96}, min=4, max=4096,
                             help="tokens generated per answer (a short answer and its [doc_id])"),
        "question_types": _p(str, "single_hop,multi_hop,comparison",
                             help="comma-separated question types evaluated (those absent from the data are skipped)"),
        "chunk_size": _p(int, 500, min=50, max=20000, help="characters per chunk (LangChain recursive splitter)"),
        "chunk_overlap": _p(int, 50, min=0, max=5000, help="characters shared by neighbouring chunks"),
        "top_k": _p(int, 3, min=1, max=50, help="chunks put in the prompt by the main RAG pipeline"),
        "k_values": _p(str, "1,3,5", help="comma-separated k compared against closed book"),
        "sweep_chunk_sizes": _p(str, {"smoke": "250,1000", "workshop": "250,500,1000", "gpu": "250,500,1000,2000"},
                                help="comma-separated chunk sizes of the chunk-size sweep ('' skips it)"),
        "sweep_n_eval": _p(int, {"smoke": 8, "workshop": 48, "gpu": None}, min=1, nullable=True,
                           help="questions answered per chunk size in the sweep (None: n_eval)"),
    },
    "03": {
        **_bf16_where_native("answering", "pipeline"),
        **_engine_where_installed(),
        "confirm_n": _p(int, {"smoke": 3, "workshop": 100, "gpu": 0}, min=0, max=100000,
                        help="fresh test questions (not among n_eval's) on which the combined pipeline and the "
                             "baseline are compared again: the headline (0 skips; none are left when n_eval is None)"),
        "n_eval": _p(int, {"smoke": 3, "workshop": 21, "gpu": None}, min=1, nullable=True,
                     help="questions answered per pipeline, stratified by type with multi-hop over-sampled "
                          "(None: the whole test split); retrieval metrics always use every test question"),
        "max_new_tokens": _p(int, {"smoke": 16, "workshop": 32, "gpu": 96}, min=4, max=4096,
                             help="tokens generated per answer"),
        "question_types": _p(str, "single_hop,multi_hop,comparison",
                             help="comma-separated question types evaluated (those absent from the data are skipped)"),
        "chunk_size": _p(int, 500, min=50, max=20000, help="characters per chunk (the lab-02 baseline's)"),
        "chunk_overlap": _p(int, 50, min=0, max=5000, help="characters shared by neighbouring chunks"),
        "top_k": _p(int, {"smoke": 2, "workshop": 3, "gpu": 3}, min=1, max=50,
                    help="chunks in the prompt (the lab-02 baseline's k; smoke uses 2 to stay fast)"),
        "depth": _p(int, 20, min=2, max=500, help="candidates fetched before fusion, reranking or MMR"),
        "rrf_k": _p(int, 60, min=1, max=1000, help="the k of reciprocal rank fusion (Cormack et al. use 60)"),
        "fusion_depths": _p(str, "10,20,50",
                            help="comma-separated candidate depths per retriever before RRF; the hybrid uses the "
                                 "one with the best recall@5 on the dev split"),
        "n_queries": _p(int, {"smoke": 2, "workshop": 3, "gpu": 4}, min=1, max=10,
                        help="alternative queries written by the LLM in multi-query retrieval"),
        "aux_tokens": _p(int, {"smoke": 24, "workshop": 40, "gpu": 128}, min=8, max=1024,
                         help="tokens the LLM may write for a rewrite, HyDE passage or decomposition"),
        "mmr_lambda": _p(float, 0.5, min=0.0, max=1.0, help="MMR trade-off: 1 = relevance only, 0 = diversity only"),
        "compress_sentences": _p(int, 6, min=1, max=100,
                                 help="sentences kept by contextual compression (from twice top_k chunks)"),
        "child_chars": _p(int, 200, min=20, max=5000, help="size of the small pieces in small-to-big retrieval"),
        "reranker": _p(str, {"smoke": "cross-encoder", "workshop": "cross-encoder", "gpu": "both"},
                       choices=("cross-encoder", "llm", "both"),
                       help="which reranker(s) to measure: a cross-encoder fine-tuned here, the LLM pointwise, or both"),
        "ce_train_pairs": _p(int, {"smoke": 32, "workshop": 160, "gpu": 2000}, min=8, max=100000,
                             help="(question, passage) pairs the cross-encoder is fine-tuned on (train split)"),
        "ce_epochs": _p(int, 1, min=1, max=20, help="cross-encoder fine-tuning epochs"),
        "llm_rerank_depth": _p(int, {"smoke": 5, "workshop": 6, "gpu": 20}, min=2, max=100,
                               help="candidates the LLM pointwise reranker scores per question"),
        "rerank_check_n": _p(int, {"smoke": 8, "workshop": 30, "gpu": None}, min=1, nullable=True,
                             help="dev-split questions on which each reranker's own ranking is checked (None: all)"),
        "injection_n": _p(int, {"smoke": 3, "workshop": 6, "gpu": None}, min=1, nullable=True,
                          help="questions attacked in the prompt-injection test (None: n_eval)"),
        "ragas_llm": _p(bool, {"smoke": False, "workshop": False, "gpu": True},
                        help="also run ragas' LLM-judged metrics (faithfulness, answer relevancy) with the profile's model"),
    },
    "04": {
        **_bf16_where_native("answering", "mode"),
        **_engine_where_installed(),
        "n_eval": _p(int, {"smoke": 2, "workshop": 20, "gpu": None}, min=1, nullable=True,
                     help="questions answered per mode and question type (None: every test question); "
                          "retrieval metrics always use every test question"),
        "max_new_tokens": _p(int, {"smoke": 16, "workshop": 32, "gpu": 96}, min=4, max=4096,
                             help="tokens generated per answer (and per map / reduce step of global search)"),
        "question_types": _p(str, "single_hop,multi_hop,comparison,aggregation,global",
                             help="comma-separated question types evaluated (those absent from the data are skipped)"),
        "chunk_size": _p(int, 500, min=50, max=20000, help="characters per chunk of the vector baseline (lab 02's)"),
        "chunk_overlap": _p(int, 50, min=0, max=5000, help="characters shared by neighbouring chunks"),
        "top_k": _p(int, 3, min=1, max=20, help="documents whose best chunk goes in the prompt, in every mode"),
        "graph_source": _p(str, "rules", choices=("rules", "gold"),
                           help="the graph the retrieval modes use: triples extracted by rules from the text, or "
                                "the gold triples.jsonl (falls back to rules when the dataset has none)"),
        "hops": _p(int, 2, min=1, max=4, help="neighbourhood depth of local search"),
        "ppr_damping": _p(float, 0.5, min=0.05, max=0.95,
                          help="personalised PageRank damping (probability of following an edge; HippoRAG uses 0.5)"),
        "relation_strength": _p(float, 8.0, min=0.0, max=50.0,
                                help="how strongly a walk prefers relations the question talks about (0: all equal)"),
        "global_communities": _p(int, {"smoke": 2, "workshop": 3, "gpu": 5}, min=1, max=50,
                                 help="community summaries mapped per global question"),
        "community_method": _p(str, "louvain", choices=("louvain", "leiden"),
                               help="community detection: Louvain (networkx) or Leiden (needs igraph + leidenalg)"),
        "llm_extract_docs": _p(int, {"smoke": 2, "workshop": 8, "gpu": 40}, min=0, max=100000,
                               help="documents the LLM extracts triples from (0 skips LLM extraction)"),
        "extract_tokens": _p(int, {"smoke": 64, "workshop": 96, "gpu": 256}, min=16, max=4096,
                             help="tokens the LLM may write per document when extracting triples"),
    },
    "05": {
        # Sizing (SmolLM2-135M, 2-core CPU with native bf16, measured 2026-12-01): a LoRA step on 8 fact examples
        # of ~70 tokens takes ~1 s in bf16 mixed precision, on 8 document blocks of 160 tokens ~4 s; scoring one
        # model (60 closed-book answers, ~110 multiple-choice questions, 50 control items) ~15 s at batch 32.
        # The workshop trains 9 models of 10 steps (6 recipes, 3 more methods) and a sweep of 6 runs of 3 steps:
        # ~7 min cold. `extended` trains 20 steps (sweep 5) and scores 100 control items: ~17 min cold.
        **_bf16_where_native("answering", "model"),
        "n_eval": _p(int, None, min=1, nullable=True,
                     help="trained-document test questions evaluated per model (None: all of them; "
                          "min_test_questions sets how many there are)"),
        "max_new_tokens": _p(int, {"smoke": 12, "workshop": 16, "gpu": 32}, min=4, max=4096,
                             help="tokens generated per closed-book answer (the answers are a few words)"),
        "question_types": _p(str, "single_hop",
                             help="comma-separated question types that count as 'about the trained documents' "
                                  "(one fact answers a single-hop question)"),
        "min_test_questions": _p(int, {"smoke": 10, "workshop": 60, "gpu": 60}, min=1, max=100000,
                                 help="train on enough documents that at least this many test questions are about them"),
        "fact_scope": _p(str, {"smoke": "question", "workshop": "question", "gpu": "document"},
                         choices=("question", "document"),
                         help="facts trained: those stating the answer of a test question about the documents "
                              "(~1 per question), or every fact of the documents (~10 per document)"),
        "paraphrase_counts": _p(str, {"smoke": "0", "workshop": "0,1,3,5", "gpu": "0,1,3,5"},
                                help="comma-separated k: facts plus k paraphrases each (0: stated once)"),
        "methods": _p(str, "full,lora,prompt_tuning",
                      help="comma-separated methods compared on the best recipe (full, lora, prompt_tuning)"),
        "lora_ranks": _p(str, {"smoke": "8", "workshop": "8,32", "gpu": "8,64"},
                         help="comma-separated LoRA ranks; the first one also trains every recipe"),
        "lora_alpha_ratio": _p(float, 2.0, min=0.01, max=1000.0,
                               help="LoRA alpha = ratio x rank (scale alpha / r stays constant; Biderman et al. use 2)"),
        "virtual_tokens": _p(int, 20, min=1, max=512, help="soft-prompt length of prompt tuning (Lester et al.)"),
        "train_steps": _p(int, {"smoke": 2, "workshop": 10, "extended": 20, "gpu": 300}, min=1, max=1000000,
                          help="optimizer steps of every training run (the same compute for every recipe and method)"),
        "train_batch_size": _p(int, {"smoke": 2, "workshop": 8, "gpu": 16}, min=1, max=4096,
                               help="training examples per step"),
        "max_length": _p(int, {"smoke": 160, "workshop": 160, "gpu": 256}, min=32, max=8192,
                         help="tokens per training example; raw documents are packed into blocks of this length "
                              "(160 keeps every chat example of the course data whole: the longest has 130)"),
        "lr_full": _p(float, None, min=1e-8, max=1.0, nullable=True,
                      help="learning rate of full fine-tuning (None: the best of the sweep, else the default 5e-5)"),
        "lr_lora": _p(float, None, min=1e-8, max=1.0, nullable=True,
                      help="learning rate of LoRA (None: the best of the sweep, else the default 1e-3)"),
        "lr_prompt_tuning": _p(float, None, min=1e-8, max=10.0, nullable=True,
                               help="learning rate of prompt tuning (None: the best of the sweep, else the default 3e-2)"),
        "lr_sweep": _p(str, {"smoke": "", "workshop": "1,3", "gpu": "0.1,0.3,1,3,10"},
                       help="comma-separated multiples of each method's default learning rate tried on the "
                            "facts-once data; the lowest final training loss wins ('' skips the sweep)"),
        "lr_sweep_steps": _p(int, {"smoke": 2, "workshop": 3, "extended": 5, "gpu": 50}, min=1, max=100000,
                             help="optimizer steps of each sweep run"),
        "control_n": _p(int, {"smoke": 8, "workshop": 50, "extended": 100, "gpu": None}, min=1, nullable=True,
                        help="control-set questions (general knowledge) scored per model for forgetting (None: all)"),
        "merge_prompts": _p(int, {"smoke": 4, "workshop": 16, "gpu": 16}, min=1, max=1000,
                            help="prompts on which merged and unmerged LoRA must give the same greedy answers"),
        "chunk_size": _p(int, 500, min=50, max=20000, help="characters per chunk of the RAG comparison (lab 02's)"),
        "chunk_overlap": _p(int, 50, min=0, max=5000, help="characters shared by neighbouring chunks"),
        "top_k": _p(int, 3, min=1, max=50, help="chunks in the prompt of the RAG comparison (lab 02's k)"),
    },
    "06": {
        # Sizing (SmolLM2-135M, 2-core CPU): a DPO step with LoRA costs ~19 s in fp32, ~11 s in bf16 mixed
        # precision (~6 s since tuning.labelled_scoring), per 4 pairs of ~220 tokens (the policy's forward and
        # backward on chosen and rejected, and the reference's forward). A round = serve + label + train + score the challenger on the held-out set.
        # The workshop runs 3 rounds and 2 side-by-side trainings (KTO, AI judge) on round 1's feedback:
        # measured cold, 5.3 min in bf16 (5 steps of ~6 s, scoring at batch 32; 7.2 min before the LM head
        # scored only the answer tokens, tuning.labelled_scoring), ~13 min in fp32 then (6 steps, batch 8).
        "annotator": _p(str, "simulated", choices=("simulated", "human"),
                        help="who labels: the simulated annotator (unattended) or you, in the widget"),
        "rounds": _p(int, 3, min=1, max=100, help="feedback rounds of the loop"),
        "serve_per_round": _p(int, {"smoke": 4, "workshop": 16, "gpu": 64}, min=1, max=100000,
                              help="train-split questions the champion answers (twice) per round"),
        "n_eval": _p(int, {"smoke": 12, "workshop": 60, "gpu": 200}, min=1, nullable=True,
                        help="frozen held-out test questions scored per model version for the gate (None: all)"),
        "control_n": _p(int, {"smoke": 8, "workshop": 30, "gpu": None}, min=1, nullable=True,
                        help="control-set questions (general knowledge, multiple choice) for the forgetting guard"),
        "confirm_n": _p(int, {"smoke": 6, "workshop": 60, "gpu": None}, min=1, nullable=True,
                        help="confirmation questions (dev split, never seen by the gate) for the final comparison "
                             "with the start (None: all)"),
        "question_types": _p(str, "single_hop",
                             help="comma-separated question types served and held out (data-contract types)"),
        "noise": _p(float, 0.0, min=0.0, max=1.0,
                    help="probability that the simulated annotator flips any one judgement (a careless labeller)"),
        "corrupt_round": _p(int, 2, min=0, max=100,
                            help="the round whose feedback is corrupted (every judgement flipped, edits wrong) to "
                                 "show the gate rejecting it; 0: none"),
        "method": _p(str, "dpo", choices=("dpo", "kto"), help="preference loss of the loop's rounds"),
        "train_steps": _p(int, {"smoke": 2, "workshop": 5, "gpu": 60}, min=1, max=1000000,
                          help="optimizer steps per round (DPO/KTO with LoRA on the champion; the first step "
                               "cannot move the rewards: LoRA starts as the identity)"),
        "train_batch_size": _p(int, {"smoke": 2, "workshop": 4, "gpu": 16}, min=2, max=4096,
                               help="preference examples per step (KTO needs at least 2)"),
        "learning_rate": _p(float, {"smoke": 3e-3, "workshop": 2e-4, "gpu": 1e-4}, min=1e-8, max=1.0,
                            help="learning rate of the LoRA preference training (smoke: large, so that 2 steps "
                                 "change the answers and the corrupted round shows on the held-out set)"),
        "kto_learning_rate": _p(float, None, min=1e-8, max=1.0, nullable=True,
                                help="learning rate of KTO (None: twice learning_rate; at the start KTO's loss moves "
                                     "the log-ratios about a quarter as much per example as DPO's: slope beta/4 on "
                                     "one answer against beta/2 on each of two)"),
        "beta": _p(float, 0.1, min=1e-4, max=10.0, help="DPO/KTO beta: how close the policy stays to the champion"),
        "lora_r": _p(int, 8, min=1, max=1024, help="LoRA rank of each round's adapter"),
        "min_labels": _p(int, {"smoke": 4, "workshop": 16, "gpu": 32}, min=1, max=10**6,
                         help="feedback rows a round needs before it trains (fewer: the cell stops and says so)"),
        "gate_floor": _p(float, {"smoke": 0.0, "workshop": 0.2, "gpu": 0.3}, min=0.0, max=1.0,
                         help="held-out accuracy a challenger must reach (smoke: none, its models are barely trained)"),
        "max_control_drop": _p(float, 0.05, min=0.0, max=1.0,
                               help="control accuracy a challenger may lose (the forgetting guard)"),
        # bf16 where the CPU has it: a DPO step and an answer cost ~1.7x less than in fp32 on such a CPU, which
        # is what keeps 4 trainings and 6 scored versions near the workshop budget (fp32 elsewhere: ~13 min)
        **_bf16_where_native("answering and judging", "version"),
        "top_k": _p(int, 1, min=1, max=20, help="retrieved chunks in each served prompt (lab 02's retrieval)"),
        "context_chars": _p(int, {"smoke": 300, "workshop": 600, "gpu": 600}, min=50, max=20000,
                            help="characters kept of each chunk: preference training costs in proportion to tokens"),
        "chunk_size": _p(int, 500, min=50, max=20000, help="characters per chunk (lab 02's index)"),
        "chunk_overlap": _p(int, 50, min=0, max=5000, help="characters shared by neighbouring chunks"),
        "max_new_tokens": _p(int, {"smoke": 16, "workshop": 24, "gpu": 48}, min=4, max=4096,
                             help="tokens generated per answer"),
        "temperature": _p(float, 0.7, min=0.01, max=5.0,
                          help="sampling temperature of answer B (answer A is greedy)"),
        "compare_kto": _p(bool, True, help="also train KTO on round 1's feedback and compare it with DPO"),
        "compare_ai_judge": _p(bool, {"smoke": False, "workshop": True, "gpu": True},
                               help="also train on the AI judge's round-1 verdicts (RLAIF) and compare; the judge's "
                                    "agreement with the annotator is measured either way"),
    },
    "07": {
        # Sizing (SmolLM2-135M, 2-core CPU with native bf16, measured cold): reading prompts is most of the time,
        # so the workshop indexes 250-character chunks (RAFT rows ~335 tokens, RAG prompts ~250): a RAFT model
        # trains 10 steps of 4 in ~40 s, DSF in ~10 s; 4 models 150-162 s. It scores 18 settings in ~206 s, the
        # controlled ones (3 models x d = 0, 2, 4) on 24 of the 60 questions: 385 and 396 s in all, on a machine
        # where 12 steps and 30 controlled questions took 496 s (446 s on a ~11% faster one). `extended` (lab 02's
        # 500-character chunks, 12 steps, all 60 questions in the controlled evaluation, the quoting variant) ~30 min.
        **_bf16_where_native("answering", "model"),
        "n_eval": _p(int, {"smoke": 3, "workshop": 20, "gpu": None}, min=1, nullable=True,
                     help="test questions per question type, and unanswerable ones (None: all of them)"),
        "question_types": _p(str, "single_hop,multi_hop,comparison",
                             help="comma-separated question types trained and evaluated (types the data lacks are "
                                  "skipped with a note)"),
        "train_n": _p(int, {"smoke": 16, "workshop": 120, "gpu": None}, min=1, nullable=True,
                      help="train-split questions turned into training examples (None: all)"),
        "train_steps": _p(int, {"smoke": 2, "workshop": 10, "extended": 12, "gpu": 300}, min=1, max=1000000,
                          help="optimizer steps of every training run (the same for DSF and every RAFT variant)"),
        "train_batch_size": _p(int, {"smoke": 2, "workshop": 4, "gpu": 16}, min=1, max=4096,
                               help="training examples per step"),
        "learning_rate": _p(float, 1e-3, min=1e-8, max=1.0, help="LoRA learning rate (lab 05's default for LoRA)"),
        "lora_r": _p(int, 8, min=1, max=1024, help="LoRA rank"),
        "max_length": _p(int, 1024, min=64, max=8192,
                         help="tokens per training example (longer rows are left out and counted)"),
        "raft_p": _p(float, 0.6, min=0.0, max=1.0,
                     help="share of training examples whose oracle document is shown (the headline RAFT model)"),
        "p_ablation": _p(str, {"smoke": "", "workshop": "0,1", "gpu": "0,0.2,0.4,0.8,1"},
                         help="other oracle shares trained for the P% table (comma-separated; '' skips)"),
        "train_distractors": _p(int, 2, min=0, max=20, help="hard distractor chunks in each training example"),
        "eval_distractors": _p(str, {"smoke": "0", "workshop": "0,2,4", "gpu": "0,2,4,8"},
                               help="distractor counts of the controlled evaluation (oracle + d distractors)"),
        "robust_n": _p(int, {"smoke": None, "workshop": 8, "extended": None, "gpu": None}, min=1, nullable=True,
                       help="test questions per type in the controlled evaluation, a seeded sample of each type's "
                            "n_eval (None in a profile: all of them; in the workshop pass a value >= n_eval for "
                            "all): its 3 models x 3 distractor counts took two thirds of the scoring time at 60"),
        "quote_variant": _p(bool, {"smoke": False, "workshop": False, "extended": True, "gpu": True},
                            help="also train RAFT with answers that first quote the supporting sentence (in the "
                                 "workshop ~70 s more, measured: one more training run, longer answers)"),
        "top_k": _p(int, 3, min=1, max=20, help="retrieved chunks in the realistic (RAG) evaluation"),
        "context_chars": _p(int, {"smoke": 250, "workshop": None, "gpu": None}, min=50, max=20000, nullable=True,
                            help="characters kept of each chunk in prompts (None in a profile: the whole chunk; a "
                                 "shorter cut saves time but often cuts the answer out: smoke only checks the "
                                 "machinery)"),
        "chunk_size": _p(int, {"smoke": 500, "workshop": 250, "extended": 500, "gpu": 500}, min=50, max=20000,
                         help="characters per chunk (lab 02's index has 500; the workshop indexes 250-character chunks: "
                              "prompts that hold chunks are then ~40% shorter, measured: RAG prompts 408 -> 247 "
                              "tokens, RAFT rows 555 -> 335; smoke reuses lab 02's index)"),
        "chunk_overlap": _p(int, {"smoke": 50, "workshop": 25, "extended": 50, "gpu": 50}, min=0, max=5000,
                            help="characters shared by neighbouring chunks"),
        "max_new_tokens": _p(int, {"smoke": 12, "workshop": 32, "gpu": 32}, min=4, max=4096,
                             help="tokens generated per answer (the base model restates the question first)"),
        "quote_new_tokens": _p(int, {"smoke": 48, "workshop": 64, "gpu": 96}, min=8, max=4096,
                               help="tokens generated per answer by the quoting variant (quote, then answer)"),
    },
    "08": {
        # Sizing (SmolLM2-135M, 2-core CPU, measured): fp32 decodes ~20 tok/s at batch 1 after a RAG prompt, whose
        # prefill (~640 tok/s, compute-bound) is most of a short answer's time: one chunk per prompt (top_k 1)
        # instead of two cuts every quality pass by a third. Quality is measured once per model, speed per
        # variant. The workshop (50 questions, batch sizes up to 32, 2 speed prompts of 24 tokens, pruning at 50% only,
        # 16 calibration texts, 10 distillation steps): see README for its time; `extended` (60 questions, two
        # chunks, batch 64 too, 4 speed prompts of 32 tokens, pruning at 30% and 50%, 32 calibration texts, 40
        # distillation steps) ~19 minutes.
        "n_eval": _p(int, {"smoke": 4, "workshop": 50, "extended": 60, "gpu": 200}, min=1, nullable=True,
                     help="test questions every model answers (lab 02's RAG prompts; None: all)"),
        "heldout_texts": _p(int, {"smoke": 2, "workshop": 4, "gpu": 32}, min=1, max=10000,
                            help="held-out documents (first 256 tokens each) for every model's perplexity"),
        "top_k": _p(int, {"smoke": 1, "workshop": 1, "extended": 2, "gpu": 3}, min=1, max=20,
                    help="retrieved chunks in each prompt (lab 02's pipeline; on a CPU the prompt's prefill is "
                         "most of the time of a short answer: every chunk fewer saves a share of every pass)"),
        "max_new_tokens": _p(int, {"smoke": 8, "workshop": 32, "gpu": 32}, min=4, max=4096,
                             help="tokens generated per answer in the quality measurement"),
        "quality_batch_size": _p(int, {"smoke": 8, "workshop": 32, "gpu": 64}, min=1, max=1024,
                                 help="batch size of the quality measurement of torch models (fp32 answers do not "
                                      "depend on it; bf16 answers do)"),
        "speed_prompts": _p(int, {"smoke": 1, "workshop": 2, "extended": 4, "gpu": 16}, min=1, max=1024,
                            help="prompts decoded per speed run (cycled to fill a batch)"),
        "speed_tokens": _p(int, {"smoke": 4, "workshop": 24, "extended": 32, "gpu": 64}, min=2, max=4096,
                           help="tokens decoded per prompt in the speed runs (fixed length: the same work for all)"),
        "repeats": _p(int, {"smoke": 1, "workshop": 2, "gpu": 3}, min=1, max=20,
                      help="speed runs per variant; the fastest is kept (other load only slows a run)"),
        "batch_sizes": _p(str, {"smoke": "1,2", "workshop": "1,8,32", "extended": "1,8,32,64", "gpu": "1,8,32,64"},
                          help="comma-separated batch sizes of the throughput sweep (transformers backend)"),
        "bf16": _p(str, "auto", choices=("auto", "yes", "no"),
                   help="measure bf16 (auto: only where the CPU computes bf16 natively)"),
        "quant_routes": _p(str, {"smoke": "int8_torchao,ort_int4",
                                 "workshop": "int8_torchao,ort_int4,ort_fp32,llamacpp,vllm_cpu",
                                 "gpu": "int8_torchao,ort_int4,ort_fp32,llamacpp"},
                           help="quantization/engine routes (int8_torchao, ort_int4, ort_fp32, llamacpp, vllm_cpu; a "
                                "route whose package or engine is missing is skipped with a note)"),
        "prune_amounts": _p(str, {"smoke": "0.5", "workshop": "0.5", "extended": "0.3,0.5", "gpu": "0.3,0.5"},
                            help="unstructured pruning shares (comma-separated; '' skips pruning)"),
        "drop_layers": _p(float, 0.2, min=0.0, max=0.9,
                          help="share of decoder layers removed by structured pruning (0 skips it)"),
        "calibration_texts": _p(int, {"smoke": 2, "workshop": 16, "extended": 32, "gpu": 128}, min=1, max=100000,
                                help="training-corpus passages used to calibrate Wanda and the layer choice"),
        "distill_steps": _p(int, {"smoke": 2, "workshop": 10, "extended": 40, "gpu": 1000}, min=0, max=1000000,
                            help="optimizer steps of each student (distilled, and the control without teacher; "
                                 "0 skips distillation)"),
        "distill_batch_size": _p(int, {"smoke": 2, "workshop": 4, "gpu": 16}, min=1, max=4096,
                                 help="text blocks per step"),
        "distill_block_tokens": _p(int, {"smoke": 64, "workshop": 128, "gpu": 512}, min=16, max=8192,
                                   help="tokens per training block of domain text"),
        "distill_learning_rate": _p(float, 3e-4, min=1e-8, max=1.0, help="AdamW learning rate of the students"),
        "distill_alpha": _p(float, 1.0, min=0.0, max=1.0,
                            help="weight of the distillation (KL to the teacher) term; the rest is next-token loss"),
        "prompt_lookup_tokens": _p(int, 10, min=1, max=100,
                                   help="tokens proposed from the prompt per step in prompt-lookup decoding"),
        "heldout_share": _p(float, 0.1, min=0.01, max=0.5,
                            help="share of the corpus held out from calibration and distillation (perplexity text)"),
        "max_quality_loss": _p(float, 0.02, min=0.0, max=1.0,
                               help="accuracy a faster variant may lose against fp32 and still be recommended"),
    },
    "09": {
        # lab 09 loads no model: it reads the run's ledger; the same values serve every profile
        "prices_file": _p(str, None, nullable=True,
                          help="YAML prices file (value, unit, date, source per price); None: the shipped example "
                               "labsutil/roi/prices.yaml"),
        "monthly_queries": _p(int, 100_000, min=1, max=10**12, help="your queries per month"),
        "docs_updated_per_month": _p(float, 10.0, min=0.0, max=10**9,
                                     help="documents of the corpus that change per month (how fast knowledge changes)"),
        "retrain_every_months": _p(float, 3.0, min=0.1, max=120.0,
                                   help="how often a fine-tuned model is retrained in your situation (months)"),
        "low_volume": _p(int, 1_000, min=1, max=10**12, help="queries per month of the low-volume scenario"),
        "high_volume": _p(int, 10_000_000, min=1, max=10**12, help="queries per month of the high-volume scenario"),
        "latency_limit_s": _p(float, 2.0, min=0.001, max=3600.0,
                              help="the strict-latency scenario's limit on p95 latency (seconds a request waits)"),
        "sensitivity": _p(float, 0.5, min=0.05, max=0.95,
                          help="relative change of each price in the sensitivity analysis (0.5: -50% and +50%)"),
    },
}


def lab_params(lab: str) -> dict[str, Param]:
    """COMMON plus the lab's own parameters."""
    return {**COMMON, **LAB_PARAMS.get(lab, {})}
