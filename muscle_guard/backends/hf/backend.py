"""HFBackend: batched multiple choice, generation and classification over one loaded transformers model."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from muscle_guard.backends.hf.batching import BatchSizer, run_batches
from muscle_guard.backends.hf.fingerprint import FileHasher, combine
from muscle_guard.backends.hf.generation import EncodedPrompt, Generator, encode_prompts
from muscle_guard.backends.hf.loading import LoadedModel, ModelPlan, load_tokenizer, model_identity, plan_model
from muscle_guard.backends.hf.scoring import ChoiceScorer, EncodedChoices, encode_requests
from muscle_guard.backends.hf.shared import acquire, activate, release
from muscle_guard.core.backend import ChoiceRequest, GenerateRequest, ModelInfo, RunOptions
from muscle_guard.core.errors import BackendError, InputTooLong, MuscleGuardError
from muscle_guard.core.modelref import ModelRef
from muscle_guard.core.progress import progress_bar
from muscle_guard.core.versions import compute_stack

if TYPE_CHECKING:
    import torch

T = TypeVar("T")
R = TypeVar("R")

# Probe texts for the adapter check: varied enough that any real LoRA update shows in the logits.
PROBE_TEXTS = (
    "The quick brown fox jumps over the lazy dog.",
    "Question: what is two plus two? Answer:",
    "This movie was great, I loved every minute of it!",
)


class HFBackend:
    """A Backend over a transformers model (+ LoRA adapter). Results follow the order of requests.

    The model loads on the first request, not before: the fingerprint and the description come from the
    files (`ModelPlan`), so a gate whose predictions are all cached reads no weights. Loading also checks that
    an adapter changes the base's outputs.

    `options.batch_size` counts sequences per forward pass (for multiple choice: prompts, each computed once;
    their continuations are chunked with the same row limit); None sizes batches automatically by rows and
    tokens. Either way a batch ends where an item is under half its longest, the continuation pass holds at
    most a fixed budget of full-vocabulary logits, and an out-of-memory error halves the limits and retries. `options.extra["hash_cache_dir"]` keeps the weight hashes of the fingerprint between runs.
    `identity` maps file groups (base, adapter, tokenizer) to content digests, see `model_identity`.
    """

    def __init__(
        self,
        ref: ModelRef,
        options: RunOptions,
        plan: ModelPlan,
        identity: dict[str, str],
        loaded: LoadedModel | None = None,
    ) -> None:
        self.ref = ref
        self.options = options
        self.plan = plan
        self._loaded = loaded
        self._closed = False
        self._load_error: MuscleGuardError | None = None
        self._tokenizer: Any = None  # loaded alone, for rendering chat templates without the weights
        self.sizer = BatchSizer(plan.device_name, options.batch_size)
        # The software is part of the identity: a muscle-guard, torch or transformers upgrade recomputes predictions.
        software = compute_stack()
        fingerprint = combine({**identity, "dtype": plan.dtype_name, "task": plan.task, "software": software})
        files = plan.files
        details: dict[str, Any] = {
            "base": str(files.base_dir),
            "adapter": str(files.adapter_dir) if files.adapter_dir is not None else None,
            "dtype": plan.dtype_name,
            "device": plan.device_name,
            "task": plan.task,
            "tokenizer_fingerprint": identity["tokenizer"][:32],
            "software": software,
        }
        if plan.task == "classify":
            details["num_labels"] = int(loaded.model.config.num_labels) if loaded is not None else plan.num_labels
        self._info = ModelInfo(ref=ref.raw, kind="hf", fingerprint=fingerprint, details=details)

    @classmethod
    def load(cls, ref: ModelRef, options: RunOptions) -> HFBackend:
        """A backend for `ref`, its files vetted and hashed; the weights load on the first request."""
        plan = plan_model(ref, options)
        hasher = FileHasher(options.extra.get("hash_cache_dir"))
        identity = model_identity(plan.files, hasher)
        hasher.save()
        return cls(ref, options, plan, identity)

    @property
    def loaded(self) -> LoadedModel | None:
        """The model, loaded now if it was not yet; None once closed."""
        if self._closed:
            return None
        if self._load_error is not None:  # a model that failed to load fails every later request the same way
            raise self._load_error
        if self._loaded is None:
            try:
                self._loaded = self._load()
            except MuscleGuardError as exc:
                self._load_error = exc
                raise
        return self._loaded

    def _load(self) -> LoadedModel:
        # Adapters on a base another backend of this process has loaded share that base (see shared.py).
        loaded = acquire(self.ref, self.options, self.plan)
        try:
            if loaded.has_adapter:
                activate(loaded)
                check_adapter_changes_outputs(loaded)
            if loaded.task == "classify" and int(loaded.model.config.num_labels) != self.plan.num_labels:
                raise BackendError(
                    f"{self.ref.raw}: the loaded classifier has {loaded.model.config.num_labels} classes where its "
                    f"files declare {self.plan.num_labels}; check config.json's id2label and the adapter's head"
                )
        except MuscleGuardError:
            release(loaded, self.options, self.plan)
            raise
        return loaded

    def render_chat(self, messages: Sequence[dict[str, str]]) -> str:
        """`messages` through the tokenizer's chat template, the assistant's turn opened (reads no weights)."""
        if self._loaded is not None:
            tokenizer = self._loaded.tokenizer
        else:
            if self._tokenizer is None:
                self._tokenizer = load_tokenizer(self.plan.files, self.options)
            tokenizer = self._tokenizer
        if not getattr(tokenizer, "chat_template", None):
            raise BackendError(
                f"{self.ref.raw}: its tokenizer ({self.plan.files.tokenizer_dir}) has no chat template; set this "
                "model's prompt format to 'none' or a template containing {prompt}"
            )
        try:
            text = tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)
        except Exception as exc:  # jinja2 raises its own errors from inside the template (e.g. no system role)
            raise BackendError(f"{self.ref.raw}: its chat template refused the prompt ({exc})") from None
        return str(text)

    @property
    def is_loaded(self) -> bool:
        return self._loaded is not None

    @property
    def info(self) -> ModelInfo:
        return self._info

    @property
    def batch_size(self) -> int:
        """Rows per forward pass now (it shrinks after out-of-memory errors)."""
        return self.sizer.rows

    def _model(self, task: str, what: str) -> LoadedModel:
        if self._closed:
            raise BackendError(f"{self.ref.raw}: backend already closed")
        if self.plan.task != task:  # known from the files: a wrong suite shape loads nothing
            kind = "a sequence classifier" if self.plan.task == "classify" else "a causal language model"
            raise BackendError(f"{self.ref.raw} is {kind}; it cannot {what}")
        loaded = self.loaded
        assert loaded is not None
        activate(loaded)  # its adapter, where several share one base
        return loaded

    def score_choices(self, requests: Sequence[ChoiceRequest]) -> list[tuple[float, ...]]:
        loaded = self._model("causal", "score multiple-choice continuations (use a classify suite)")
        items = encode_requests(loaded.tokenizer, requests, loaded.max_length)
        scorer = ChoiceScorer(loaded.model, loaded.tokenizer.pad_token_id, loaded.device, self.sizer)

        def rows(item: EncodedChoices) -> int:
            return 1  # the prompt pass runs one row per instance; continuations are chunked on their own

        def length(item: EncodedChoices) -> int:
            return item.length

        return self._run(items, scorer.score, rows, length, lambda item: item.index, "scoring choices")

    def generate(self, requests: Sequence[GenerateRequest]) -> list[str]:
        loaded = self._model("causal", "generate text (use a classify suite)")
        prompts = encode_prompts(loaded.tokenizer, requests, loaded.max_length)
        generator = Generator(loaded.model, loaded.tokenizer, loaded.device)
        groups: dict[tuple[int, tuple[str, ...]], list[EncodedPrompt]] = {}
        for prompt in prompts:
            groups.setdefault(prompt.group, []).append(prompt)
        results: list[str] = [""] * len(prompts)
        for group in groups.values():
            texts = self._run(
                group,
                generator.generate,
                lambda p: 1,
                lambda p: len(p.ids) + p.max_new_tokens,
                lambda p: p.index,
                "generating",
            )
            for prompt, text in zip(group, texts, strict=True):
                results[prompt.index] = text
        return results

    def classify(self, texts: Sequence[str]) -> list[tuple[float, ...]]:
        loaded = self._model("classify", "classify texts (use a multiple-choice or generation suite)")
        encoded = loaded.tokenizer(list(texts))["input_ids"] if texts else []
        items = list(enumerate(tuple(ids) for ids in encoded))
        for index, ids in items:
            if len(ids) > loaded.max_length:
                raise InputTooLong(
                    f"a text is {len(ids)} tokens, more than the model's {loaded.max_length}; shorten it", index
                )

        def run(batch: Sequence[tuple[int, tuple[int, ...]]]) -> list[tuple[float, ...]]:
            return classify_batch(loaded, [ids for _, ids in batch])

        return self._run(items, run, lambda item: 1, lambda item: len(item[1]), lambda item: item[0], "classifying")

    def _run(
        self,
        items: list[T],
        run: Callable[[Sequence[T]], list[R]],
        rows: Callable[[T], int],
        length: Callable[[T], int],
        index: Callable[[T], int],
        what: str,
    ) -> list[R]:
        """Length-sorted (longest first), batched, OOM-safe pass; results in the order of `items`."""
        import torch

        order = sorted(items, key=lambda item: (-length(item), index(item)))
        show = self.options.progress and len(order) > self.sizer.rows
        with torch.inference_mode(), progress_bar(f"{self.ref.display}: {what}", len(order), show) as bar:
            results = run_batches(order, self.sizer, run, rows, length, bar.advance, what)
        by_index = {index(item): result for item, result in zip(order, results, strict=True)}
        return [by_index[index(item)] for item in items]

    def close(self) -> None:
        self._closed = True
        if self._loaded is not None:
            loaded, self._loaded = self._loaded, None
            release(loaded, self.options, self.plan)


def classify_batch(loaded: LoadedModel, batch: Sequence[Sequence[int]]) -> list[tuple[float, ...]]:
    """Class probabilities (softmax over the head's logits, in float32) of right-padded token ids."""
    import torch

    width = max(len(ids) for ids in batch)
    ids = torch.full((len(batch), width), loaded.tokenizer.pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, seq in enumerate(batch):
        ids[row, : len(seq)] = torch.tensor(seq)
        mask[row, : len(seq)] = 1
    logits = loaded.model(input_ids=ids.to(loaded.device), attention_mask=mask.to(loaded.device)).logits
    probs: list[list[float]] = logits.float().softmax(-1).tolist()
    return [tuple(p) for p in probs]


def _probe_logits(loaded: LoadedModel) -> torch.Tensor:
    batch = loaded.tokenizer(list(PROBE_TEXTS), padding=True, return_tensors="pt").to(loaded.device)
    logits: torch.Tensor = loaded.model(**batch).logits
    return logits.float() * batch["attention_mask"][..., None] if logits.dim() == 3 else logits.float()


def check_adapter_changes_outputs(loaded: LoadedModel) -> None:
    """Refuse an adapter that leaves the base's outputs unchanged (a no-op, so a meaningless comparison)."""
    import torch

    with torch.inference_mode():
        adapted = _probe_logits(loaded)
        with loaded.model.disable_adapter():
            plain = _probe_logits(loaded)
    if torch.equal(adapted, plain):
        raise BackendError(
            f"adapter {loaded.adapter_path} does not change the outputs of base {loaded.base_path} "
            "(LoRA B weights are zero? wrong target modules?); check how the adapter was trained and saved"
        )
