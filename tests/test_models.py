"""The model library: exact parameter counts from configs, pinned against the real checkpoints."""

from __future__ import annotations

import json

import pytest

from planner.errors import InputError
from planner.inputs.library import get_model, library, load_hf_model

# Exact parameter counts of the real checkpoints. Source: docs/sources.md: model-configs (params_exact; 25 of them agree
# with the transformers model classes counted on the meta device, several with a safetensors total_size), which names
# the origin of each. Qwen3-0.6B: HF model card / config (0.6B; 596,049,920 computed).
EXPECTED = {
    "llama-2-7b": 6_738_415_616, "llama-2-13b": 13_015_864_320, "llama-2-70b": 68_976_648_192,
    "llama-3-8b": 8_030_261_248, "llama-3-70b": 70_553_706_496, "llama-3.1-405b": 405_853_388_800,
    "llama-3.2-1b": 1_235_814_400, "llama-3.2-3b": 3_212_749_824, "mistral-7b-v0.1": 7_241_732_096,
    "mixtral-8x7b-v0.1": 46_702_792_704, "mixtral-8x22b-v0.1": 140_620_634_112, "qwen2-7b": 7_615_616_512,
    "qwen2.5-7b": 7_615_616_512, "qwen2.5-14b": 14_770_033_664, "qwen2.5-32b": 32_763_876_352,
    "qwen2.5-72b": 72_706_203_648, "qwen3-8b": 8_190_735_360, "qwen3-30b-a3b": 30_532_122_624,
    "gemma-2-9b": 9_241_705_984, "gemma-2-27b": 27_227_128_320, "phi-3-mini-4k-instruct": 3_821_079_552,
    "chatglm3-6b": 6_243_584_000, "glm-4-9b": 9_399_951_360, "minicpm-2b-sft-bf16": 2_724_880_896,
    "deepseek-v3": 671_026_419_200, "deepseek-v2-lite": 15_706_484_224, "falcon-7b": 6_921_720_704,
    "yi-34b": 34_388_917_248,
}
# Active parameters per token of the MoE models (same source, params_active_per_token).
ACTIVE = {"mixtral-8x7b-v0.1": 12_879_925_248, "mixtral-8x22b-v0.1": 39_152_031_744, "qwen3-30b-a3b": 3_353_032_704,
          "deepseek-v3": 37_552_297_472, "deepseek-v2-lite": 2_661_150_208}


@pytest.mark.parametrize("model_id,params", sorted(EXPECTED.items()))
def test_exact_parameter_count(model_id, params):
    assert get_model(model_id).params == params


@pytest.mark.parametrize("model_id,active", sorted(ACTIVE.items()))
def test_exact_active_parameters_of_moe(model_id, active):
    assert get_model(model_id).active_params == active


def test_all_28_shared_models_are_in_the_library_under_lowercased_names():
    assert len(EXPECTED) == 28
    for mid in EXPECTED:
        assert mid in library()


def test_derived_ids_share_their_architecture_and_carry_their_context():
    assert get_model("llama-3.1-8b").params == get_model("llama-3-8b").params
    assert get_model("llama-3.1-8b").max_context == 131072
    assert get_model("llama-3.1-70b").max_context == 131072
    assert get_model("deepseek-r1-distill-qwen-7b").params == get_model("qwen2.5-7b").params
    assert get_model("deepseek-r1-distill-llama-70b").params == get_model("llama-3-70b").params
    assert get_model("deepseek-r1-distill-qwen-14b").params == EXPECTED["qwen2.5-14b"]
    assert get_model("deepseek-r1-distill-qwen-32b").params == EXPECTED["qwen2.5-32b"]
    assert get_model("deepseek-r1-distill-llama-8b").params == EXPECTED["llama-3-8b"]


def test_aliases_and_did_you_mean():
    assert get_model("Meta-Llama-3-8B").id == "llama-3-8b"
    assert get_model("meta-llama/Llama-2-70b-hf").id == "llama-2-70b"
    with pytest.raises(InputError, match="did you mean 'llama-3-8b'"):
        get_model("llama-3-8")


def test_hf_config_file_gives_the_same_count(tmp_path):
    for mid in ("qwen2.5-7b", "deepseek-v2-lite", "chatglm3-6b", "gemma-2-9b", "falcon-7b", "mixtral-8x7b-v0.1"):
        cfg = dict(library()[mid].config)
        p = tmp_path / f"{mid}.json"
        p.write_text(json.dumps(cfg))
        assert load_hf_model(p).params == EXPECTED[mid]


def test_checkpoint_folder_reads_quantization_and_total_size(tmp_path):
    cfg = dict(library()["llama-3-8b"].config)
    cfg["quantization_config"] = {"quant_method": "awq", "bits": 4, "group_size": 128}
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"metadata": {"total_size": 5_730_000_000}, "weight_map": {}}))
    a = load_hf_model(tmp_path)
    assert a.quantization["quant_method"] == "awq"
    assert a.quantization["safetensors_total_size"] == 5_730_000_000


def test_unsupported_architecture_is_one_clear_error(tmp_path):
    p = tmp_path / "config.json"
    p.write_text(json.dumps({"model_type": "mamba", "hidden_size": 768}))
    with pytest.raises(InputError, match="model_type 'mamba' is not supported"):
        load_hf_model(p)


def test_checkpoint_quantization_sets_precision_and_exact_bytes(tmp_path):
    """A local AWQ checkpoint: its quantization_config makes INT4 the default precision, its group size is used, and
    the stored total_size (a synthetic figure here) replaces the computed weight bytes; TP keeps the computed split."""
    from planner.estimate.memory import default_precision, estimate_memory
    from planner.inputs.catalog import load_catalog

    cfg = dict(library()["llama-3-8b"].config)
    cfg["quantization_config"] = {"quant_method": "awq", "bits": 4, "group_size": 64}
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    g = load_catalog().get("rtx-4090")
    a = load_hf_model(tmp_path)
    assert default_precision(a) == "int4"
    computed = estimate_memory(a, g, precision="int4").weights_total_bytes
    g128 = estimate_memory(get_model("llama-3-8b"), g, precision="int4").weights_total_bytes
    assert computed > g128  # group 64 stores twice the scales of group 128
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"metadata": {"total_size": computed + 10_000_000}}))
    b = load_hf_model(tmp_path)
    e1 = estimate_memory(b, g, precision="int4")
    assert e1.weights_total_bytes == computed + 10_000_000
    e2 = estimate_memory(b, load_catalog().get("a100-80gb-sxm"), precision="int4", tp=2)
    assert abs(2 * e2.per_device.weights_bytes - e1.weights_total_bytes) < 0.02 * e1.weights_total_bytes
    assert estimate_memory(b, g, precision="bf16").weights_total_bytes == estimate_memory(get_model("llama-3-8b"), g, precision="bf16").weights_total_bytes


def test_qwen2_moe_gemma_and_falcon_40b_style_configs(tmp_path):
    """Architectures outside the library: Qwen1.5-MoE-A2.7B (qwen2_moe with a shared expert) counts to its published
    14.3B; Gemma-7B (gemma, head_dim 256, tied) to 8.54B; Falcon-40B (new decoder architecture, 8 KV groups)."""
    from planner.inputs.architectures import arch_from_config

    qmoe = arch_from_config({"model_type": "qwen2_moe", "hidden_size": 2048, "intermediate_size": 5632,
                             "moe_intermediate_size": 1408, "shared_expert_intermediate_size": 5632, "num_experts": 60,
                             "num_experts_per_tok": 4, "num_hidden_layers": 24, "num_attention_heads": 16,
                             "num_key_value_heads": 16, "vocab_size": 151936, "tie_word_embeddings": False,
                             "max_position_embeddings": 8192, "decoder_sparse_step": 1, "mlp_only_layers": []})
    assert round(qmoe.params / 1e9, 1) == 14.3  # Qwen/Qwen1.5-MoE-A2.7B model card: 14.3B total
    assert round(qmoe.active_params / 1e9, 1) == 2.7  # ... 2.7B activated
    gemma = arch_from_config({"model_type": "gemma", "hidden_size": 3072, "intermediate_size": 24576,
                              "num_hidden_layers": 28, "num_attention_heads": 16, "num_key_value_heads": 16,
                              "head_dim": 256, "vocab_size": 256000, "max_position_embeddings": 8192})
    assert round(gemma.params / 1e9, 2) == 8.54  # google/gemma-7b: 8.54B parameters
    f = arch_from_config({"model_type": "falcon", "hidden_size": 8192, "num_hidden_layers": 60, "num_attention_heads": 128,
                          "num_kv_heads": 8, "new_decoder_architecture": True, "vocab_size": 65024, "parallel_attn": True})
    # tiiuae/falcon-40b's page shows 41.8B: it counts the tied LM head (65024 x 8192 = 0.53B) a second time, as
    # model_configs.yaml notes for Falcon-7B; unique parameters are 41.30B
    assert round(f.params / 1e9, 2) == 41.30
    assert round((f.params + 65024 * 8192) / 1e9, 1) == 41.8
