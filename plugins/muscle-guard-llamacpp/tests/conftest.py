"""Fixtures for the llama.cpp backend's tests: a tiny random Llama saved both as transformers and as GGUF.

The GGUF is written here with the `gguf` package, tensor by tensor, from the transformers checkpoint (f32,
no quantization), so both runtimes hold the same weights and must agree to float precision. That checks
what the backend adds (tokenization rules, batching, log-likelihood sums, greedy decoding) without
any downloaded model.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

try:
    import muscle_guard_llamacpp  # noqa: F401
except ImportError:  # running from a checkout without `pip install ./plugins/muscle-guard-llamacpp`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def _permute(weight: Any, n_heads: int) -> Any:
    """transformers' rotary layout (halves) → llama.cpp's (interleaved pairs), as convert_hf_to_gguf.py does."""
    return (
        weight.reshape(n_heads, 2, weight.shape[0] // n_heads // 2, *weight.shape[1:])
        .swapaxes(1, 2)
        .reshape(weight.shape)
    )


_LAYER_TENSORS = {
    "input_layernorm": "attn_norm",
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "post_attention_layernorm": "ffn_norm",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}


def write_gguf(hf_dir: Path, out: Path) -> Path:
    """Write the Llama checkpoint in `hf_dir` (with its byte-level BPE tokenizer) as an f32 GGUF file."""
    import gguf
    import numpy as np
    from safetensors.numpy import load_file
    from transformers import AutoConfig, AutoTokenizer

    config: Any = AutoConfig.from_pretrained(hf_dir)
    tokenizer: Any = AutoTokenizer.from_pretrained(hf_dir)
    rope = getattr(config, "rope_parameters", None) or {}
    theta = float(rope.get("rope_theta", getattr(config, "rope_theta", 10000.0)))
    head_dim = config.hidden_size // config.num_attention_heads

    writer = gguf.GGUFWriter(str(out), "llama")
    writer.add_name("tiny-random-llama")
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_rope_freq_base(theta)
    writer.add_rope_dimension_count(head_dim)
    writer.add_vocab_size(len(tokenizer))
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)

    vocab = tokenizer.backend_tokenizer.get_vocab(with_added_tokens=True)
    tokens = [token for token, _ in sorted(vocab.items(), key=lambda item: item[1])]
    special = set(tokenizer.all_special_tokens)
    types = [gguf.TokenType.CONTROL if t in special else gguf.TokenType.NORMAL for t in tokens]
    model = json.loads((hf_dir / "tokenizer.json").read_text(encoding="utf-8"))["model"]
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("gpt-2")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    writer.add_bos_token_id(tokenizer.bos_token_id)
    writer.add_eos_token_id(tokenizer.eos_token_id)
    writer.add_pad_token_id(tokenizer.pad_token_id)
    writer.add_unk_token_id(tokenizer.unk_token_id)
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)

    weights = load_file(str(hf_dir / "model.safetensors"))
    writer.add_tensor("token_embd.weight", weights["model.embed_tokens.weight"].astype(np.float32))
    for layer in range(config.num_hidden_layers):
        for hf_name, gguf_name in _LAYER_TENSORS.items():
            tensor = weights[f"model.layers.{layer}.{hf_name}.weight"].astype(np.float32)
            if gguf_name == "attn_q":
                tensor = _permute(tensor, config.num_attention_heads)
            elif gguf_name == "attn_k":
                tensor = _permute(tensor, config.num_key_value_heads)
            writer.add_tensor(f"blk.{layer}.{gguf_name}.weight", np.ascontiguousarray(tensor))
    writer.add_tensor("output_norm.weight", weights["model.norm.weight"].astype(np.float32))
    writer.add_tensor("output.weight", weights["lm_head.weight"].astype(np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out


@pytest.fixture(scope="session")
def tiny_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(transformers directory, GGUF file) of the same tiny random Llama."""
    pytest.importorskip("gguf", reason="writing the test GGUF needs the gguf package (pip install gguf)")
    pytest.importorskip("torch", reason="the reference side of the tests needs torch and transformers")
    from muscle_guard.testing.tiny_models import build_causal_lm, build_tokenizer

    root = tmp_path_factory.mktemp("tiny-llama")
    tokenizer_dir = build_tokenizer(root / "tokenizer")
    hf_dir = build_causal_lm(root / "hf", tokenizer_dir, seed=7, n_layers=2, hidden=64, n_heads=4, n_kv_heads=2)
    return hf_dir, write_gguf(hf_dir, root / "tiny-llama.f32.gguf")


@pytest.fixture(scope="session")
def tiny_gguf(tiny_pair: tuple[Path, Path]) -> Path:
    return tiny_pair[1]


@pytest.fixture(scope="session")
def hf_reference(tiny_pair: tuple[Path, Path]) -> Callable[[], tuple[Any, Any]]:
    """(model, tokenizer) of the transformers side, loaded on first use."""
    loaded: list[tuple[Any, Any]] = []

    def get() -> tuple[Any, Any]:
        if not loaded:
            from transformers import AutoModelForCausalLM, AutoTokenizer

            model = AutoModelForCausalLM.from_pretrained(tiny_pair[0]).eval()
            loaded.append((model, AutoTokenizer.from_pretrained(tiny_pair[0])))
        return loaded[0]

    return get
