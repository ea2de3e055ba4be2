"""Model architectures from Hugging Face ``config.json`` fields, and exact parameter counts.

A model is reduced to a list of ``WeightGroup`` records: each says how many parameters one instance holds, how many
instances a layer (or the model) has, how tensor parallelism splits it, and whether weight quantization applies. Every
memory and speed estimate reads these groups, so the parameter count that the tests pin against real checkpoints is
the same arithmetic that sizes the weights on each device.

Supported ``model_type``: llama, mistral, mixtral, qwen2, qwen2_moe, qwen3, qwen3_moe, gemma, gemma2, phi3, minicpm,
yi, deepseek_v2, deepseek_v3 (MLA + MoE), chatglm / glm4 (ChatGLM3, GLM-4), falcon.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from planner.errors import InputError, cut, did_you_mean, shown

SUPPORTED_MODEL_TYPES = (
    "llama", "mistral", "mixtral", "qwen2", "qwen2_moe", "qwen3", "qwen3_moe", "gemma", "gemma2", "phi3",
    "minicpm", "yi", "deepseek_v2", "deepseek_v3", "chatglm", "glm4", "glm", "falcon",
)

# How tensor parallelism treats a weight (vLLM's linear layer kinds):
#   "column": output dim split across TP ranks (q/k/v, gate/up, experts' w1/w3, MLA q_b/kv_b)
#   "row": input dim split (o_proj, down_proj); its bias is replicated
#   "vocab": vocabulary rows split (VocabParallelEmbedding, ParallelLMHead), padded to a multiple of 64
#   "kv": K/V projections: split by KV head, but every rank keeps at least one head (replicated when kv_heads < TP)
#   "replicated": every rank holds all of it (norms, MoE router, MLA q_a/kv_a projections)

VOCAB_PADDING = 64  # vLLM DEFAULT_VOCAB_PADDING_SIZE (vllm/model_executor/layers/vocab_parallel_embedding.py)


@dataclass(frozen=True)
class WeightGroup:
    """``count`` identical weights of ``params_each`` parameters, present once per layer (``per_layer``) or once."""

    name: str
    params_each: int
    count: int = 1
    per_layer: bool = True
    tp_mode: str = "column"
    quantizable: bool = True  # linear weights take the deployment precision; norms, biases, router, embeddings do not
    expert: bool = False  # a routed MoE expert: only the experts a step touches are read during decode
    layers: str = "all"  # "all", "dense" (first_k_dense / non-MoE layers) or "moe"


class QuantizationConfig(dict[str, Any]):
    """A checkpoint's quantization_config: a plain mapping that hashes by its contents, so a ``ModelArch`` holding one
    stays hashable (estimates are cached by architecture) and two checkpoints with different configs differ."""

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(json.dumps(self, sort_keys=True, default=str))


@dataclass(frozen=True)
class ModelArch:
    """The architecture facts every estimator needs. Field names follow Hugging Face configs where one exists."""

    id: str
    name: str
    model_type: str
    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    vocab_size: int
    intermediate_size: int
    max_context: int
    tie_word_embeddings: bool = False
    sliding_window: int | None = None
    sliding_layers: int = 0  # layers that keep only the last ``sliding_window`` tokens of KV
    # MoE
    num_experts: int = 0
    experts_per_token: int = 0
    moe_intermediate_size: int = 0
    moe_layers: int = 0
    # MLA (DeepSeek-V2/V3): the cache holds kv_lora_rank + qk_rope_head_dim per token and layer, shared by all heads
    kv_lora_rank: int = 0
    qk_rope_head_dim: int = 0
    torch_dtype: str = "bfloat16"
    groups: tuple[WeightGroup, ...] = field(default=(), repr=False)
    source: str = ""
    quantization: dict[str, Any] | None = None  # a checkpoint's quantization_config, when read from one

    def __post_init__(self) -> None:
        if self.quantization is not None and not isinstance(self.quantization, QuantizationConfig):
            object.__setattr__(self, "quantization", QuantizationConfig(self.quantization))

    def __hash__(self) -> int:
        """Hashed once (estimates are cached by architecture): the identifying fields, so equal archs hash equal."""
        h = self.__dict__.get("_hash")
        if h is None:
            h = hash((self.id, self.model_type, self.hidden_size, self.num_layers, self.num_heads, self.num_kv_heads,
                      self.intermediate_size, self.vocab_size, self.num_experts, self.max_context, self.quantization))
            object.__setattr__(self, "_hash", h)
        return h

    @property
    def is_moe(self) -> bool:
        return self.num_experts > 0

    @property
    def is_mla(self) -> bool:
        return self.kv_lora_rank > 0

    def layers_of(self, kind: str) -> int:
        if kind == "all":
            return self.num_layers
        if kind == "moe":
            return self.moe_layers
        return self.num_layers - self.moe_layers

    @cached_property
    def params(self) -> int:
        """Exact parameter count of the checkpoint (unique tensors; tied embeddings counted once)."""
        return sum(g.params_each * g.count * (self.layers_of(g.layers) if g.per_layer else 1) for g in self.groups)

    @cached_property
    def active_params(self) -> int:
        """Parameters one token passes through: routed experts count ``experts_per_token`` of ``num_experts``."""
        total = 0
        for g in self.groups:
            n = g.params_each * (self.layers_of(g.layers) if g.per_layer else 1)
            count = min(g.count, self.experts_per_token) if g.expert else g.count
            total += n * count
        return total


def _get(cfg: dict[str, Any], *names: str, default: Any = None) -> Any:
    for n in names:
        if n in cfg and cfg[n] is not None:
            return cfg[n]
    return default


def _need(cfg: dict[str, Any], name: str, *alts: str) -> Any:
    v = _get(cfg, name, *alts)
    if v is None:
        raise InputError(f"config.json: missing field '{name}' needed for model_type '{cfg.get('model_type')}'")
    return v


def arch_from_config(cfg: dict[str, Any], model_id: str = "custom", name: str | None = None, source: str = "") -> ModelArch:
    """Build a ``ModelArch`` from a Hugging Face ``config.json`` dictionary."""
    if not isinstance(cfg, dict):
        raise InputError("config.json: expected a JSON object")
    mt = str(cfg.get("model_type") or "").lower()
    if mt not in SUPPORTED_MODEL_TYPES:
        raise InputError(
            f"config.json: model_type '{mt or '(missing)'}' is not supported; supported: "
            f"{', '.join(SUPPORTED_MODEL_TYPES)}{did_you_mean(mt, SUPPORTED_MODEL_TYPES)}"
        )
    builder = {
        "chatglm": _chatglm, "glm4": _chatglm, "glm": _chatglm,
        "falcon": _falcon,
        "deepseek_v2": _deepseek, "deepseek_v3": _deepseek,
    }.get(mt, _llama_like)
    try:
        arch = builder(cfg, mt, model_id, name or model_id, source)
    except (TypeError, ValueError) as exc:
        raise InputError(f"config.json: a field has the wrong type for model_type '{mt}' ({exc})") from None
    for f_ in ("hidden_size", "num_layers", "num_heads", "num_kv_heads", "head_dim", "vocab_size"):
        v = getattr(arch, f_)
        if not isinstance(v, int) or v <= 0:
            raise InputError(f"config.json: {f_} must be a positive integer, got {v!r}")
    if arch.num_experts and not 1 <= arch.experts_per_token <= arch.num_experts:
        raise InputError(f"config.json: num_experts_per_tok is {arch.experts_per_token}; "
                         f"allowed: 1 to the {arch.num_experts} experts")
    if arch.max_context < 1:
        raise InputError("config.json: max_position_embeddings must be a positive integer, got 0")
    if arch.num_heads % arch.num_kv_heads:
        raise InputError(
            f"config.json: num_attention_heads {arch.num_heads} is not a multiple of num_key_value_heads {arch.num_kv_heads}"
        )
    return arch


CONFIG_INT_CEILING = 2**31  # no size in a real config.json comes near it (vocab ~1e6, context ~1e7, hidden ~1e5)


def _int(x: Any, field_name: str) -> int:
    """A config.json size: an integer in [0, 2**31] (a float such as 4096.0 is accepted); NaN, 1e400, -1 are not."""
    from planner.inputs.numbers import check_number

    return int(check_number(x, f"config.json: {field_name}", 0, CONFIG_INT_CEILING, integral=True))


def _llama_like(cfg: dict[str, Any], mt: str, model_id: str, name: str, source: str) -> ModelArch:
    """Llama family and its relatives: Mistral, Mixtral, Qwen2/2.5/3 (+MoE), Gemma 1/2, Phi-3, MiniCPM, Yi.

    Per layer: q = h x (nh*hd), k = v = h x (nkv*hd), o = (nh*hd) x h; MLP = 3 x h x I (gate, up, down);
    RMSNorms of h (2 per layer; Gemma-2 has 4); Qwen2 adds q/k/v biases, Qwen3 a q/k RMSNorm of hd each.
    MoE layers replace the MLP by E experts of 3 x h x I_e plus a router h x E (Qwen2-MoE adds a shared expert
    and its 1-wide gate). Model: embedding V x h, final norm h, LM head V x h unless tied.
    """
    h = _int(_need(cfg, "hidden_size"), "hidden_size")
    L = _int(_need(cfg, "num_hidden_layers"), "num_hidden_layers")
    nh = _int(_need(cfg, "num_attention_heads"), "num_attention_heads")
    nkv = _int(_get(cfg, "num_key_value_heads", default=nh), "num_key_value_heads")
    hd = _int(_get(cfg, "head_dim", default=h // nh if nh else 0), "head_dim")
    V = _int(_need(cfg, "vocab_size"), "vocab_size")
    inter = _int(_get(cfg, "intermediate_size", default=0), "intermediate_size")
    tied = bool(_get(cfg, "tie_word_embeddings", default=mt in ("gemma", "gemma2")))
    moe = _llama_moe_layout(cfg, L, inter)
    G = _llama_attention_groups(cfg, mt, h, nh, nkv, hd, V, tied) + _llama_mlp_groups(cfg, h, L, inter, moe)
    window, sliding_layers = _llama_sliding_window(cfg, mt, L)
    return ModelArch(
        id=model_id, name=name, model_type=mt, hidden_size=h, num_layers=L, num_heads=nh, num_kv_heads=nkv,
        head_dim=hd, vocab_size=V, intermediate_size=inter,
        max_context=_int(_get(cfg, "max_position_embeddings", "seq_length", default=4096), "max_position_embeddings"),
        tie_word_embeddings=tied, sliding_window=int(window) if window and sliding_layers else None,
        sliding_layers=sliding_layers, num_experts=moe.experts, experts_per_token=moe.per_token,
        moe_intermediate_size=moe.width if moe.experts else 0,
        moe_layers=moe.layers, torch_dtype=str(cfg.get("torch_dtype") or "bfloat16"), groups=tuple(G), source=source,
    )


@dataclass(frozen=True)
class _MoeLayout:
    """A Llama-like config's MoE fields (all 0 for a dense model)."""

    experts: int  # routed experts per MoE layer
    per_token: int  # experts each token is routed to
    width: int  # intermediate size of one expert
    shared_width: int  # intermediate size of the shared expert (Qwen2-MoE), 0 if none
    layers: int  # layers whose MLP is MoE


def _llama_moe_layout(cfg: dict[str, Any], L: int, inter: int) -> _MoeLayout:
    E = _int(_get(cfg, "num_local_experts", "num_experts", "n_routed_experts", default=0), "num_experts")
    k = _int(_get(cfg, "num_experts_per_tok", default=0), "num_experts_per_tok")
    moe_inter = _int(_get(cfg, "moe_intermediate_size", default=inter), "moe_intermediate_size")
    shared_inter = _int(_get(cfg, "shared_expert_intermediate_size", default=0), "shared_expert_intermediate_size")
    moe_layers = 0
    if E:
        step = _int(_get(cfg, "decoder_sparse_step", default=1), "decoder_sparse_step") or 1
        mlp_only = set(cfg.get("mlp_only_layers") or [])
        moe_layers = sum(1 for i in range(L) if i not in mlp_only and (i + 1) % step == 0)
    return _MoeLayout(experts=E, per_token=k, width=moe_inter, shared_width=shared_inter, layers=moe_layers)


def _llama_attention_groups(cfg: dict[str, Any], mt: str, h: int, nh: int, nkv: int, hd: int, V: int,
                            tied: bool) -> list[WeightGroup]:
    """Embedding, final norm, attention and per-layer norms (and the LM head unless tied)."""
    qkv_bias = bool(_get(cfg, "attention_bias", "qkv_bias", default=mt in ("qwen2", "qwen2_moe")))
    o_bias = bool(cfg.get("attention_bias", False)) and mt not in ("qwen2", "qwen2_moe")
    norms_per_layer = 4 if mt == "gemma2" else 2
    qk_norm = mt in ("qwen3", "qwen3_moe")
    G: list[WeightGroup] = [
        WeightGroup("embed_tokens", V * h, per_layer=False, tp_mode="vocab", quantizable=False),
        WeightGroup("norm", h, per_layer=False, tp_mode="replicated", quantizable=False),
        WeightGroup("q_proj", h * nh * hd),
        WeightGroup("k_proj+v_proj", h * nkv * hd, count=2, tp_mode="kv"),
        WeightGroup("o_proj", nh * hd * h, tp_mode="row"),
        WeightGroup("layer_norms", h, count=norms_per_layer, tp_mode="replicated", quantizable=False),
    ]
    if not tied:
        G.append(WeightGroup("lm_head", V * h, per_layer=False, tp_mode="vocab", quantizable=False))
    if qkv_bias:
        G.append(WeightGroup("q_bias", nh * hd, quantizable=False))
        G.append(WeightGroup("kv_bias", nkv * hd, count=2, tp_mode="kv", quantizable=False))
    if o_bias:
        G.append(WeightGroup("o_bias", h, tp_mode="replicated", quantizable=False))
    if qk_norm:
        G.append(WeightGroup("q_norm+k_norm", hd, count=2, tp_mode="replicated", quantizable=False))
    return G


def _llama_mlp_groups(cfg: dict[str, Any], h: int, L: int, inter: int, moe: _MoeLayout) -> list[WeightGroup]:
    """The dense MLP (on every layer, or on the non-MoE layers) and the MoE experts, router and shared expert."""
    mlp_bias = bool(cfg.get("mlp_bias", False))
    E, moe_inter, shared_inter = moe.experts, moe.width, moe.shared_width
    G: list[WeightGroup] = []
    dense_kind = "dense" if E else "all"
    if not E or moe.layers < L:
        G.append(WeightGroup("gate_proj+up_proj", h * inter, count=2, layers=dense_kind))
        G.append(WeightGroup("down_proj", inter * h, tp_mode="row", layers=dense_kind))
        if mlp_bias:
            G.append(WeightGroup("mlp_bias", inter, count=2, quantizable=False, layers=dense_kind))
            G.append(WeightGroup("down_bias", h, tp_mode="replicated", quantizable=False, layers=dense_kind))
    if E:
        G.append(WeightGroup("experts.w1+w3", 2 * h * moe_inter, count=E, expert=True, layers="moe"))
        G.append(WeightGroup("experts.w2", moe_inter * h, count=E, tp_mode="row", expert=True, layers="moe"))
        G.append(WeightGroup("router", h * E, tp_mode="replicated", quantizable=False, layers="moe"))
        if shared_inter:
            G.append(WeightGroup("shared_expert.gate+up", 2 * h * shared_inter, layers="moe"))
            G.append(WeightGroup("shared_expert.down", shared_inter * h, tp_mode="row", layers="moe"))
            G.append(WeightGroup("shared_expert_gate", h, tp_mode="replicated", quantizable=False, layers="moe"))
    return G


def _llama_sliding_window(cfg: dict[str, Any], mt: str, L: int) -> tuple[Any, int]:
    """(window, layers that use it); (None, 0) when the config has no effective sliding window."""
    window = _get(cfg, "sliding_window")
    if window is not None and window is not False:
        window = _int(window, "sliding_window")
    use_sw = cfg.get("use_sliding_window", True)
    sliding_layers = 0
    max_pos = _int(_get(cfg, "max_position_embeddings", default=2**31), "max_position_embeddings")
    if window and use_sw and window < max_pos:
        if mt == "gemma2":
            sliding_layers = (L + 1) // 2  # even layers are local (transformers Gemma2: is_sliding = not layer_idx % 2)
        elif mt in ("qwen2", "qwen2_moe", "qwen3", "qwen3_moe"):
            first_full = _int(_get(cfg, "max_window_layers", default=L), "max_window_layers")
            sliding_layers = max(0, L - first_full)
        else:
            sliding_layers = L
    else:
        window = None
    return window, sliding_layers


def _chatglm(cfg: dict[str, Any], mt: str, model_id: str, name: str, source: str) -> ModelArch:
    """ChatGLM2/3 and GLM-4 (THUDM ``ChatGLMModel``).

    Per layer: fused qkv h x (nh*kvc + 2*g*kvc) with bias when ``add_qkv_bias``; dense (nh*kvc) x h;
    h_to_4h h x 2F (gated); 4h_to_h F x h; two RMSNorms. Model: embedding and an untied output layer of
    padded_vocab x h, final RMSNorm. ``g`` = multi_query_group_num KV groups (GQA).
    """
    h = _int(_need(cfg, "hidden_size"), "hidden_size")
    L = _int(_need(cfg, "num_layers", "num_hidden_layers"), "num_layers")
    nh = _int(_need(cfg, "num_attention_heads"), "num_attention_heads")
    kvc = _int(_get(cfg, "kv_channels", "head_dim", default=h // nh), "kv_channels")
    mqa = bool(_get(cfg, "multi_query_attention", default=True))
    g = _int(_get(cfg, "multi_query_group_num", "num_key_value_heads", default=nh if not mqa else 2), "multi_query_group_num")
    F = _int(_need(cfg, "ffn_hidden_size", "intermediate_size"), "ffn_hidden_size")
    V = _int(_need(cfg, "padded_vocab_size", "vocab_size"), "padded_vocab_size")
    qkv_bias = bool(_get(cfg, "add_qkv_bias", default=True))
    lin_bias = bool(_get(cfg, "add_bias_linear", default=False))
    tied = bool(_get(cfg, "tie_word_embeddings", default=False))
    G = [
        WeightGroup("embedding", V * h, per_layer=False, tp_mode="vocab", quantizable=False),
        WeightGroup("final_layernorm", h, per_layer=False, tp_mode="replicated", quantizable=False),
        WeightGroup("query", h * nh * kvc),
        WeightGroup("key+value", h * g * kvc, count=2, tp_mode="kv"),
        WeightGroup("dense", nh * kvc * h, tp_mode="row"),
        WeightGroup("dense_h_to_4h", h * F, count=2),
        WeightGroup("dense_4h_to_h", F * h, tp_mode="row"),
        WeightGroup("layernorms", h, count=2, tp_mode="replicated", quantizable=False),
    ]
    if not tied:
        G.append(WeightGroup("output_layer", V * h, per_layer=False, tp_mode="vocab", quantizable=False))
    if qkv_bias:
        G.append(WeightGroup("query_bias", nh * kvc, quantizable=False))
        G.append(WeightGroup("kv_bias", g * kvc, count=2, tp_mode="kv", quantizable=False))
    if lin_bias:
        G.append(WeightGroup("dense_bias", h, tp_mode="replicated", quantizable=False))
        G.append(WeightGroup("h_to_4h_bias", F, count=2, quantizable=False))
        G.append(WeightGroup("4h_to_h_bias", h, tp_mode="replicated", quantizable=False))
    return ModelArch(
        id=model_id, name=name, model_type="chatglm", hidden_size=h, num_layers=L, num_heads=nh, num_kv_heads=g,
        head_dim=kvc, vocab_size=V, intermediate_size=F,
        max_context=_int(_get(cfg, "seq_length", "max_position_embeddings", default=8192), "seq_length"),
        tie_word_embeddings=tied, torch_dtype=str(cfg.get("torch_dtype") or "bfloat16"), groups=tuple(G), source=source,
    )


def _falcon(cfg: dict[str, Any], mt: str, model_id: str, name: str, source: str) -> ModelArch:
    """Falcon (7B: multi-query, parallel attention; 40B/180B: ``new_decoder_architecture`` with KV groups).

    Per layer: fused query_key_value h x (nh + 2*nkv)*hd, dense h x h, MLP h x 4h x 2, LayerNorms with weight and
    bias (one with parallel_attn, two with the new decoder architecture). Model: embedding V x h (tied LM head),
    final LayerNorm 2h.
    """
    h = _int(_need(cfg, "hidden_size"), "hidden_size")
    L = _int(_need(cfg, "num_hidden_layers", "n_layer"), "num_hidden_layers")
    nh = _int(_need(cfg, "num_attention_heads", "n_head"), "num_attention_heads")
    hd = h // nh
    new_arch = bool(cfg.get("new_decoder_architecture", False))
    if new_arch:
        nkv = _int(_get(cfg, "num_kv_heads", "num_key_value_heads", default=nh), "num_kv_heads")
    elif cfg.get("multi_query", True):
        nkv = 1
    else:
        nkv = nh
    V = _int(_need(cfg, "vocab_size"), "vocab_size")
    F = _int(_get(cfg, "ffn_hidden_size", default=4 * h), "ffn_hidden_size")
    bias = bool(cfg.get("bias", False))
    n_ln = 2 if new_arch or not cfg.get("parallel_attn", True) else 1
    tied = bool(_get(cfg, "tie_word_embeddings", default=True))
    G = [
        WeightGroup("word_embeddings", V * h, per_layer=False, tp_mode="vocab", quantizable=False),
        WeightGroup("ln_f", 2 * h, per_layer=False, tp_mode="replicated", quantizable=False),
        WeightGroup("query", h * nh * hd),
        WeightGroup("key+value", h * nkv * hd, count=2, tp_mode="kv"),
        WeightGroup("dense", nh * hd * h, tp_mode="row"),
        WeightGroup("dense_h_to_4h", h * F),
        WeightGroup("dense_4h_to_h", F * h, tp_mode="row"),
        WeightGroup("layernorms", 2 * h, count=n_ln, tp_mode="replicated", quantizable=False),
    ]
    if not tied:
        G.append(WeightGroup("lm_head", V * h, per_layer=False, tp_mode="vocab", quantizable=False))
    if bias:
        G.append(WeightGroup("qkv_bias", (nh + 2 * nkv) * hd, quantizable=False))
        G.append(WeightGroup("linear_bias", h, count=2, tp_mode="replicated", quantizable=False))
        G.append(WeightGroup("h_to_4h_bias", F, quantizable=False))
    return ModelArch(
        id=model_id, name=name, model_type="falcon", hidden_size=h, num_layers=L, num_heads=nh, num_kv_heads=nkv,
        head_dim=hd, vocab_size=V, intermediate_size=F,
        max_context=_int(_get(cfg, "max_position_embeddings", default=2048), "max_position_embeddings"),
        tie_word_embeddings=tied, torch_dtype=str(cfg.get("torch_dtype") or "bfloat16"), groups=tuple(G), source=source,
    )


def _deepseek(cfg: dict[str, Any], mt: str, model_id: str, name: str, source: str) -> ModelArch:
    """DeepSeek-V2/V3: multi-head latent attention (MLA) and fine-grained MoE with shared experts.

    Attention per layer: q_a h x r_q, q_a_norm r_q, q_b r_q x nh*(d_nope + d_rope) (or q_proj h x nh*(d_nope + d_rope)
    without q LoRA); kv_a h x (r_kv + d_rope), kv_a_norm r_kv, kv_b r_kv x nh*(d_nope + d_v); o nh*d_v x h.
    MLP: the first ``first_k_dense_replace`` layers dense (3 x h x I); the rest E routed experts and n_shared shared
    experts of 3 x h x I_e, a router h x E (+ E correction biases in V3). The MTP module (V3's layer 61) is not
    loaded for serving and not counted.
    """
    h = _int(_need(cfg, "hidden_size"), "hidden_size")
    L = _int(_need(cfg, "num_hidden_layers"), "num_hidden_layers")
    nh = _int(_need(cfg, "num_attention_heads"), "num_attention_heads")
    V = _int(_need(cfg, "vocab_size"), "vocab_size")
    inter = _int(_need(cfg, "intermediate_size"), "intermediate_size")
    mI = _int(_need(cfg, "moe_intermediate_size"), "moe_intermediate_size")
    E = _int(_need(cfg, "n_routed_experts"), "n_routed_experts")
    n_shared = _int(_get(cfg, "n_shared_experts", default=0), "n_shared_experts")
    k = _int(_need(cfg, "num_experts_per_tok"), "num_experts_per_tok")
    first_dense = _int(_get(cfg, "first_k_dense_replace", default=0), "first_k_dense_replace")
    freq = _int(_get(cfg, "moe_layer_freq", default=1), "moe_layer_freq") or 1
    qr = _get(cfg, "q_lora_rank")
    kvr = _int(_need(cfg, "kv_lora_rank"), "kv_lora_rank")
    rope = _int(_need(cfg, "qk_rope_head_dim"), "qk_rope_head_dim")
    nope = _int(_need(cfg, "qk_nope_head_dim"), "qk_nope_head_dim")
    dv = _int(_need(cfg, "v_head_dim"), "v_head_dim")
    tied = bool(_get(cfg, "tie_word_embeddings", default=False))
    moe_layers = sum(1 for i in range(L) if i >= first_dense and i % freq == 0)
    G = [
        WeightGroup("embed_tokens", V * h, per_layer=False, tp_mode="vocab", quantizable=False),
        WeightGroup("norm", h, per_layer=False, tp_mode="replicated", quantizable=False),
        WeightGroup("kv_a_proj_with_mqa", h * (kvr + rope), tp_mode="replicated"),
        WeightGroup("kv_a_layernorm", kvr, tp_mode="replicated", quantizable=False),
        WeightGroup("kv_b_proj", kvr * nh * (nope + dv)),
        WeightGroup("o_proj", nh * dv * h, tp_mode="row"),
        WeightGroup("layer_norms", h, count=2, tp_mode="replicated", quantizable=False),
        WeightGroup("mlp.gate_up", 2 * h * inter, layers="dense"),
        WeightGroup("mlp.down", inter * h, tp_mode="row", layers="dense"),
        WeightGroup("experts.w1+w3", 2 * h * mI, count=E, expert=True, layers="moe"),
        WeightGroup("experts.w2", mI * h, count=E, tp_mode="row", expert=True, layers="moe"),
        WeightGroup("router", h * E, tp_mode="replicated", quantizable=False, layers="moe"),
    ]
    G += _deepseek_query_groups(h, nh, qr, nope + rope)
    G += _deepseek_moe_extra_groups(cfg, mt, h, mI, E, n_shared)
    if not tied:
        G.append(WeightGroup("lm_head", V * h, per_layer=False, tp_mode="vocab", quantizable=False))
    return ModelArch(
        id=model_id, name=name, model_type=mt, hidden_size=h, num_layers=L, num_heads=nh, num_kv_heads=nh,
        head_dim=nope + rope, vocab_size=V, intermediate_size=inter,
        max_context=_int(_get(cfg, "max_position_embeddings", default=4096), "max_position_embeddings"),
        tie_word_embeddings=tied, num_experts=E, experts_per_token=k, moe_intermediate_size=mI, moe_layers=moe_layers,
        kv_lora_rank=kvr, qk_rope_head_dim=rope, torch_dtype=str(cfg.get("torch_dtype") or "bfloat16"),
        groups=tuple(G), source=source,
    )


def _deepseek_query_groups(h: int, nh: int, q_lora_rank: Any, q_head_dim: int) -> list[WeightGroup]:
    """The query projection: low-rank q_a, its norm and q_b with q LoRA (V2/V3), else one q_proj (V2-Lite)."""
    if not q_lora_rank:
        return [WeightGroup("q_proj", h * nh * q_head_dim)]
    qr = _int(q_lora_rank, "q_lora_rank")
    return [
        WeightGroup("q_a_proj", h * qr, tp_mode="replicated"),
        WeightGroup("q_a_layernorm", qr, tp_mode="replicated", quantizable=False),
        WeightGroup("q_b_proj", qr * nh * q_head_dim),
    ]


def _deepseek_moe_extra_groups(cfg: dict[str, Any], mt: str, h: int, mI: int, E: int, n_shared: int) -> list[WeightGroup]:
    """Shared experts (when any) and V3's per-expert score-correction biases."""
    G: list[WeightGroup] = []
    if n_shared:
        G += [
            WeightGroup("shared_experts.gate_up", 2 * h * mI * n_shared, layers="moe"),
            WeightGroup("shared_experts.down", mI * n_shared * h, tp_mode="row", layers="moe"),
        ]
    if cfg.get("topk_method") == "noaux_tc" or mt == "deepseek_v3":
        G.append(WeightGroup("e_score_correction_bias", E, tp_mode="replicated", quantizable=False, layers="moe"))
    return G


def read_hf_config(path: str | Path) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Read ``config.json`` (a file, or a checkpoint folder holding one).

    Returns the config and, for a local checkpoint folder, ``{"total_size": bytes}`` from
    ``model.safetensors.index.json`` when present (the exact bytes of the stored weights).
    """
    p = Path(path)
    index = None
    if p.is_dir():
        cfg_path = p / "config.json"
        idx = p / "model.safetensors.index.json"
        if idx.exists():
            index = _read_index(idx)
        if not cfg_path.exists():
            raise InputError(f"{p}: checkpoint folder has no config.json")
    else:
        cfg_path = p
    cfg = _read_json(cfg_path, "config.json")
    if not isinstance(cfg, dict):
        raise InputError(f"{cfg_path}: expected a JSON object")
    if "quantization_config" in cfg:
        _check_quantization(cfg["quantization_config"], cfg_path)
    if "text_config" in cfg and isinstance(cfg["text_config"], dict) and "model_type" not in cfg:
        cfg = cfg["text_config"]
    return cfg, index


MAX_CHECKPOINT_BYTES = 2**50  # 1 PiB: the ceiling of a checkpoint's total_size (the largest published are ~1.5 TB)
QUANT_BITS = (2, 3, 4, 8)  # weight bits a quantization_config can declare (AWQ/GPTQ/HQQ)


def _read_json(path: Path, what: str) -> Any:
    """A JSON file through the safe reader; JSON errors with their line, a 5,000-digit number or deep nesting named."""
    from planner.inputs.yaml_source import read_text

    text = read_text(path, what)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from None
    except ValueError:  # an integer of more than 4,300 digits
        raise InputError(f"{path}: invalid JSON: a number of more than 4300 digits") from None
    except RecursionError:
        raise InputError(f"{path}: invalid JSON: nested too deeply") from None


def _read_index(idx: Path) -> dict[str, int] | None:
    """``{"total_size": bytes}`` from ``model.safetensors.index.json`` (None when it states no total)."""
    from planner.inputs.numbers import check_number

    data = _read_json(idx, "safetensors index")
    meta = data.get("metadata", {}) if isinstance(data, dict) else None
    if not isinstance(meta, dict):
        raise InputError(f"{idx}: not a valid model.safetensors.index.json (expected an object with a 'metadata' object)")
    if meta.get("total_size") is None:
        return None
    total = check_number(meta["total_size"], f"{idx}: metadata.total_size", 1, MAX_CHECKPOINT_BYTES, integral=True)
    return {"total_size": int(total)}


def _check_quantization(q: Any, path: Path) -> None:
    """The quantization_config fields the estimators read: quant_method, bits / w_bit, group_size, load_in_*bit."""
    from planner.inputs.numbers import check_number

    where = f"{path}: quantization_config"
    if not isinstance(q, dict):
        raise InputError(f"{where}: expected a JSON object, got {cut(type(q).__name__)}")
    method = q.get("quant_method")
    if method is not None and not isinstance(method, str):
        raise InputError(f"{where}.quant_method: expected a string, got {shown(method)}")
    for key in ("bits", "w_bit"):
        if q.get(key) is not None:
            b = check_number(q[key], f"{where}.{key}", 1, 8, integral=True)
            if b not in QUANT_BITS:
                raise InputError(f"{where}.{key}: {b} bits; allowed: {', '.join(map(str, QUANT_BITS))}")
    g = q.get("group_size", q.get("q_group_size"))
    if g is not None:
        gs = check_number(g, f"{where}.group_size", -1, 65_536, integral=True)
        if gs == 0 or gs < -1:
            raise InputError(f"{where}.group_size: {gs}; allowed: -1 (per channel) or a positive integer")
    for key in ("load_in_4bit", "load_in_8bit"):
        if key in q and not isinstance(q[key], bool):
            raise InputError(f"{where}.{key}: expected true or false, got {shown(q[key])}")


def check_checkpoint_size(arch: ModelArch) -> None:
    """A checkpoint's stated total_size must be a plausible size of its weights: 0.1 to 4.5 bytes per parameter
    (2-bit with scales to fp32 with extra tensors); anything else is a broken index, not a model."""
    total = (arch.quantization or {}).get("safetensors_total_size")
    if not total or not arch.params:
        return
    per_param = total / arch.params
    if not 0.1 <= per_param <= 4.5:
        raise InputError(f"{arch.source}: model.safetensors.index.json: total_size {total} is {per_param:.3g} bytes per "
                         f"parameter for {arch.params:,} parameters; allowed: 0.1 to 4.5 bytes per parameter")
