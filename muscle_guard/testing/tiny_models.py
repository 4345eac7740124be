"""Tiny random transformers/peft models for tests: a byte-level BPE tokenizer, a Llama causal LM, a Bert
classifier and LoRA adapters whose B weights are non-zero (so they really change outputs).

Every builder is deterministic in its `seed`, runs in well under a few seconds on a CPU and writes a
normal model directory (safetensors + tokenizer files) that `muscle-guard` loads like a real model.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, ParamSpec, TypeVar

from muscle_guard.backends.hf.quiet import quiet_transformers

BOS, EOS, PAD, UNK = "<s>", "</s>", "<pad>", "<unk>"
SPECIAL_TOKENS = (BOS, EOS, PAD, UNK)
Task = Literal["causal", "classify"]
P = ParamSpec("P")
R = TypeVar("R")

# Enough English to give prompts and answers single tokens; unknown words fall back to bytes (byte-level
# BPE), so any text tokenizes without <unk>.
_WORDS_TEXT = """
the a an and or not is are was were be been it this that these those of to in on at for with by from
as yes no true false maybe positive negative neutral good bad great terrible fine question answer
context choice option label text sentence review movie film book food service story world people
what which who when where why how do does did can could will would should may might must one two three
four five six seven eight nine ten zero plus minus times equals number sum total result red green
blue yellow black white cat dog bird fish horse cow sheep apple banana orange grape lemon water fire
earth air sun moon star sky sea river mountain city country king queen man woman child boy girl happy
sad angry calm fast slow big small hot cold new old first last left right up down out sarcasm
sarcastic literal paris london rome berlin madrid capital france england italy germany spain
"""
DEFAULT_WORDS: tuple[str, ...] = (*_WORDS_TEXT.split(), *"0123456789", *".,:;?!'\"()-+=*/")


def _words_corpus(words: Sequence[str]) -> Iterator[str]:
    # Each word alone and after a space, so both "yes" and " yes" become single tokens.
    for word in words:
        yield word
        yield " " + word
        yield "Answer: " + word


# A chat template in the shape of real ones (Llama, SmolLM2): the BOS text first, one turn per message, the
# assistant's turn opened on request.
TINY_CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant:{% endif %}"
)


def build_tokenizer(
    out_dir: str | Path,
    vocab_words: Sequence[str] | None = None,
    vocab_size: int = 1024,
    chat_template: str | None = None,
) -> Path:
    """Train a tiny byte-level BPE tokenizer (GPT-2 style: spaces belong to the following word).

    Words of `vocab_words` (default: DEFAULT_WORDS) become single tokens where the vocabulary size
    allows. Pre-tokenization splits at word boundaries, so `tok(context + " yes")` equals
    `tok(context) + tok(" yes")`, the lm-eval convention for continuations. BOS is prepended by default
    (like Llama); decoding is lossless. `chat_template` (e.g. TINY_CHAT_TEMPLATE) is saved with it.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer_cls: Any = PreTrainedTokenizerFast  # untyped in transformers 5

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    words = list(vocab_words) if vocab_words is not None else list(DEFAULT_WORDS)
    tokenizer = Tokenizer(models.BPE(unk_token=UNK))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=1,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_words_corpus(words), trainer=trainer)
    bos_id = tokenizer.token_to_id(BOS)
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, bos_id)]
    )
    fast = tokenizer_cls(tokenizer_object=tokenizer, bos_token=BOS, eos_token=EOS, pad_token=PAD, unk_token=UNK)
    if chat_template is not None:
        fast.chat_template = chat_template
    fast.save_pretrained(str(out))
    return out


def _quietly(func: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with quiet_transformers():
            return func(*args, **kwargs)

    return wrapper


@contextmanager
def _seeded(seed: int) -> Iterator[None]:
    # Seed a private RNG state so building a model never perturbs the caller's random stream.
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def _special_ids(tokenizer_dir: Path) -> tuple[Any, dict[str, Any]]:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    ids = {"bos_token_id": tok.bos_token_id, "eos_token_id": tok.eos_token_id, "pad_token_id": tok.pad_token_id}
    return tok, ids


@_quietly
def build_causal_lm(
    out_dir: str | Path,
    tokenizer_dir: str | Path,
    seed: int,
    n_layers: int = 2,
    hidden: int = 32,
    n_heads: int = 4,
    n_kv_heads: int = 2,
    intermediate: int = 64,
    max_positions: int = 512,
    init_std: float = 0.2,
    vocab_size: int | None = None,
) -> Path:
    """A tiny random LlamaForCausalLM saved (safetensors) with the tokenizer files.

    `init_std` is larger than Llama's 0.02 so that the random model has peaked, varied predictions
    (distinct argmaxes, no near-ties) that tests can tell apart. `vocab_size` (default: the tokenizer's)
    may be larger than the tokenizer, for logits as wide as a real model's (Gemma-3: 262,144).
    """
    from transformers import LlamaConfig, LlamaForCausalLM

    out = Path(out_dir)
    tok, ids = _special_ids(Path(tokenizer_dir))
    config_cls: Any = LlamaConfig
    config = config_cls(
        vocab_size=vocab_size or len(tok),
        hidden_size=hidden,
        intermediate_size=intermediate,
        num_hidden_layers=n_layers,
        num_attention_heads=n_heads,
        num_key_value_heads=n_kv_heads,
        max_position_embeddings=max_positions,
        initializer_range=init_std,
        tie_word_embeddings=False,
        **ids,
    )
    with _seeded(seed):
        model: Any = LlamaForCausalLM(config)
    model.eval()
    model.save_pretrained(str(out))
    tok.save_pretrained(str(out))
    return out


@_quietly
def build_classifier(
    out_dir: str | Path,
    tokenizer_dir: str | Path,
    seed: int,
    num_labels: int = 2,
    n_layers: int = 2,
    hidden: int = 32,
    n_heads: int = 4,
    intermediate: int = 64,
    max_positions: int = 512,
    init_std: float = 0.2,
) -> Path:
    """A tiny random BertForSequenceClassification saved (safetensors) with the tokenizer files."""
    from transformers import BertConfig, BertForSequenceClassification

    out = Path(out_dir)
    tok, ids = _special_ids(Path(tokenizer_dir))
    config_cls: Any = BertConfig
    config = config_cls(
        vocab_size=len(tok),
        hidden_size=hidden,
        num_hidden_layers=n_layers,
        num_attention_heads=n_heads,
        intermediate_size=intermediate,
        max_position_embeddings=max_positions,
        num_labels=num_labels,
        initializer_range=init_std,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        pad_token_id=ids["pad_token_id"],
    )
    with _seeded(seed):
        model: Any = BertForSequenceClassification(config)
    model.eval()
    model.save_pretrained(str(out))
    tok.save_pretrained(str(out))
    return out


_TARGETS = {"llama": ["q_proj", "v_proj"], "bert": ["query", "value"]}


def _task_of(base_dir: Path) -> Task:
    config = json.loads((base_dir / "config.json").read_text(encoding="utf-8"))
    archs = config.get("architectures") or []
    return "classify" if any(a.endswith("ForSequenceClassification") for a in archs) else "causal"


@_quietly
def add_lora_adapter(
    base_dir: str | Path,
    out_dir: str | Path,
    seed: int,
    task: Task | None = None,
    r: int = 4,
    train_on: Sequence[tuple[str, str]] | Sequence[tuple[str, int]] | None = None,
    randomize: bool = True,
    b_std: float = 0.5,
    target_modules: Sequence[str] | None = None,
    steps: int = 20,
    num_labels: int | None = None,
) -> Path:
    """A PEFT LoRA adapter on `base_dir`, saved with `save_pretrained` (records the base path).

    `randomize=True` gives the LoRA B matrices (peft inits them to zero: a no-op adapter) random values
    so the adapter changes outputs; `randomize=False` keeps peft's no-op init, for testing that backends
    reject it. For classifiers peft's SEQ_CLS task puts the head (`classifier`/`score`) in
    `modules_to_save`; `randomize` re-randomises it too.
    `train_on` (optional) trains the adapter `steps` steps on (prompt, continuation) pairs (causal) or
    (text, label) pairs (classify), via `train_lora`. `task="classify"` on a causal LM base gives a
    decoder classifier (…ForSequenceClassification) whose new head (`num_labels` rows) the adapter saves.
    """
    import torch
    from peft import LoraConfig, TaskType, get_peft_model
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    base = Path(base_dir).resolve()
    out = Path(out_dir)
    kind = task or _task_of(base)
    loader: Any = AutoModelForSequenceClassification if kind == "classify" else AutoModelForCausalLM
    extra = {"num_labels": num_labels} if num_labels is not None and kind == "classify" else {}
    with _seeded(seed):  # a head new to the base is initialised here
        model = loader.from_pretrained(str(base), dtype=torch.float32, **extra)
    model_type = model.config.model_type
    config = LoraConfig(
        r=r,
        lora_alpha=2 * r,
        lora_dropout=0.0,
        target_modules=list(target_modules or _TARGETS.get(model_type, ["q_proj", "v_proj"])),
        task_type=TaskType.SEQ_CLS if kind == "classify" else TaskType.CAUSAL_LM,
    )
    with _seeded(seed):
        peft_model = get_peft_model(model, config)
        if randomize:
            with torch.no_grad():
                for name, param in peft_model.named_parameters():
                    if "lora_B" in name or "modules_to_save" in name:
                        param.normal_(0.0, b_std)
    if train_on:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(base))
        train_lora(peft_model, tokenizer, train_on, kind, steps=steps, seed=seed)
    peft_model.save_pretrained(str(out))
    return out


def train_lora(
    peft_model: Any,
    tokenizer: Any,
    examples: Sequence[tuple[str, str]] | Sequence[tuple[str, int]],
    task: Task,
    steps: int = 30,
    lr: float = 1e-2,
    seed: int = 0,
) -> list[float]:
    """Train the trainable (LoRA) parameters a few full-batch Adam steps; returns the loss per step.

    Causal: maximise log p(continuation | prompt) (loss on continuation tokens only). Classify:
    cross-entropy on the labels. Small and deterministic, meant for learnable synthetic tasks in tests.
    """
    import torch

    params = [p for p in peft_model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=lr)
    batch = _training_batch(tokenizer, examples, task)
    losses: list[float] = []
    peft_model.train()
    with _seeded(seed):
        for _ in range(steps):
            optimizer.zero_grad()
            out = peft_model(**batch)
            out.loss.backward()
            optimizer.step()
            losses.append(float(out.loss.detach()))
    peft_model.eval()
    return losses


def _training_batch(tokenizer: Any, examples: Sequence[tuple[str, Any]], task: Task) -> dict[str, Any]:
    import torch

    if task == "classify":
        enc = tokenizer([str(t) for t, _ in examples], padding=True, return_tensors="pt")
        enc["labels"] = torch.tensor([int(label) for _, label in examples])
        return dict(enc)
    rows: list[list[int]] = []
    labels: list[list[int]] = []
    for prompt, continuation in examples:
        ctx = tokenizer(str(prompt))["input_ids"]
        cont = tokenizer(str(continuation), add_special_tokens=False)["input_ids"]
        rows.append(ctx + cont)
        labels.append([-100] * len(ctx) + cont)
    width = max(len(r) for r in rows)
    pad = tokenizer.pad_token_id
    ids = torch.tensor([r + [pad] * (width - len(r)) for r in rows])
    mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])
    lab = torch.tensor([r + [-100] * (width - len(r)) for r in labels])
    return {"input_ids": ids, "attention_mask": mask, "labels": lab}
