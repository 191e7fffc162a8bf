"""Pruning: unstructured (magnitude, Wanda) and structured (whole decoder layers removed).

- **Magnitude**: the smallest |w| of each Linear layer of the decoder set to zero, through torch's own
  `torch.nn.utils.prune.l1_unstructured` (made permanent with `prune.remove`).
- **Wanda** (Sun et al. 2023, "A Simple and Effective Pruning Approach for LLMs"): score |w_ij| * ||x_j||_2, the
  weight times the norm of its input feature over calibration text, and drop the lowest scores *per output row*.
  Written by hand to teach it (20 lines); a unit test checks it against torch's pruning where the two must agree
  (uniform activations: Wanda is per-row magnitude pruning).
- **Layers removed** (as ShortGPT, Men et al. 2024): the decoder layers that change their input least on
  calibration text (lowest 1 - cosine(input, output)) are deleted. Dense kernels then do less work: this is the
  variant that gets faster. Zeros left by unstructured pruning do not speed up dense matrix kernels.

Embeddings and the (tied) output head are never pruned. Every function returns a pruned copy.
"""
from __future__ import annotations

import copy
from typing import Sequence


def decoder_linears(model) -> list[tuple[str, object]]:
    """(name, module) of every Linear inside the decoder layers (attention and MLP projections)."""
    import torch

    return [(name, module) for name, module in model.named_modules()
            if isinstance(module, torch.nn.Linear) and ".layers." in f".{name}"]


def sparsity(model) -> float:
    """Share of exact zeros among the decoder Linear weights."""
    zeros = total = 0
    for _, module in decoder_linears(model):
        zeros += int((module.weight == 0).sum())
        total += module.weight.numel()
    return zeros / total if total else 0.0


def magnitude(model, amount: float):
    """Unstructured magnitude pruning of each decoder Linear (its `amount` smallest |w| set to zero)."""
    from torch.nn.utils import prune

    _check_amount(amount)
    pruned = copy.deepcopy(model)
    for _, module in decoder_linears(pruned):
        prune.l1_unstructured(module, name="weight", amount=amount)
        prune.remove(module, "weight")
    return pruned


def input_norms(model, tokenizer, texts: Sequence[str], max_tokens: int = 256) -> dict[str, "object"]:
    """||x_j||_2 of every input feature of every decoder Linear over the calibration texts (Wanda's statistic)."""
    import torch

    sums: dict[str, torch.Tensor] = {}
    hooks = []
    for name, module in decoder_linears(model):
        def hook(_module, inputs, _output, name=name):
            x = inputs[0].detach().float().reshape(-1, inputs[0].shape[-1])
            sums[name] = sums.get(name, 0) + (x * x).sum(dim=0)
        hooks.append(module.register_forward_hook(hook))
    try:
        with torch.inference_mode():
            for text in texts:
                ids = tokenizer(text, return_tensors="pt", truncation=True, max_length=max_tokens)["input_ids"]
                model(input_ids=ids)
    finally:
        for h in hooks:
            h.remove()
    return {name: total.sqrt() for name, total in sums.items()}


def wanda_mask(weight, norms, amount: float):
    """A boolean keep-mask: per output row, the `amount` share of lowest |w| * ||x|| is dropped."""
    import torch

    scores = weight.abs().float() * norms.float().unsqueeze(0)
    drop = int(weight.shape[1] * amount)
    keep = torch.ones_like(weight, dtype=torch.bool)
    if drop:
        lowest = torch.topk(scores, drop, dim=1, largest=False).indices
        keep.scatter_(1, lowest, False)
    return keep


def wanda(model, tokenizer, texts: Sequence[str], amount: float, norms: dict | None = None):
    """Wanda pruning of each decoder Linear; `norms` from `input_norms` (computed here when not given)."""
    import torch

    _check_amount(amount)
    norms = norms or input_norms(model, tokenizer, texts)
    pruned = copy.deepcopy(model)
    with torch.no_grad():
        for name, module in decoder_linears(pruned):
            module.weight.mul_(wanda_mask(module.weight, norms[name], amount).to(module.weight.dtype))
    return pruned


def layer_influence(model, tokenizer, texts: Sequence[str], max_tokens: int = 256) -> list[float]:
    """1 - mean cosine(input, output) of each decoder layer's hidden states over the texts (ShortGPT's BI)."""
    import torch

    totals = None
    with torch.inference_mode():
        for text in texts:
            ids = tokenizer(text, return_tensors="pt", truncation=True, max_length=max_tokens)["input_ids"]
            hidden = model(input_ids=ids, output_hidden_states=True).hidden_states  # embeddings, then each layer
            cos = [torch.nn.functional.cosine_similarity(hidden[i].float(), hidden[i + 1].float(), dim=-1).mean()
                   for i in range(len(hidden) - 1)]
            values = torch.stack(cos)
            totals = values if totals is None else totals + values
    return [1.0 - float(v) / len(texts) for v in totals]


def keep_layers(model, keep: Sequence[int]):
    """A copy with only the decoder layers `keep` (in order); the config and the KV-cache indices follow."""
    import torch

    pruned = copy.deepcopy(model)
    layers = pruned.model.layers
    kept = torch.nn.ModuleList([layers[i] for i in keep])
    for new_index, layer in enumerate(kept):
        if hasattr(layer, "self_attn") and hasattr(layer.self_attn, "layer_idx"):
            layer.self_attn.layer_idx = new_index
    pruned.model.layers = kept
    pruned.config.num_hidden_layers = len(kept)
    layer_types = getattr(pruned.config, "layer_types", None)
    if layer_types:
        pruned.config.layer_types = [layer_types[i] for i in keep]
    return pruned


def drop_layers(model, tokenizer, texts: Sequence[str], fraction: float) -> tuple[object, list[int]]:
    """(pruned copy, removed layer indices): the `fraction` of layers with the lowest influence removed."""
    _check_amount(fraction)
    influence = layer_influence(model, tokenizer, texts)
    n_drop = int(round(len(influence) * fraction))
    removed = sorted(sorted(range(len(influence)), key=influence.__getitem__)[:n_drop])
    keep = [i for i in range(len(influence)) if i not in removed]
    return keep_layers(model, keep), removed


def _check_amount(amount: float) -> None:
    if not 0.0 <= amount < 1.0:
        raise ValueError(f"the pruned share must be in [0, 1), got {amount!r}")
