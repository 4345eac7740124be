"""Which compatibility loss `fix` trains with, and whether it can: `--strategy` resolved against the task and tokenizers.

Token-level strategies (muscle, kd-old, old-correct, focal, ensemble) compare the two teachers' next-token distributions
with the student's, so old and new must share the tokenizer. Choice-level and sequence-level distillation are
vocabulary-agnostic, and so is `ce`: plain fine-tuning without teachers, the baseline to compare with. For a
classifier the "tokens" are the class logits: every strategy works on them per instance, whatever the
tokenizers (they only need the same classes).

`--level choice` applies any of the four losses to each multiple-choice instance's distribution over its
choices (softmax of the choices' summed log-likelihoods) instead of to next-token distributions: the loss is
the same formula, the "tokens" are the choices, as for a classifier. That works across tokenizers;
`--strategy choice` is MUSCLE at that level.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

from muscle_guard.core.errors import FixError
from muscle_guard.core.suite import Shape


class Strategy(str, Enum):
    MUSCLE = "muscle"  # the paper's Eq. 1: old teacher where the student is wrong, new where it is right
    KD_OLD = "kd-old"  # distil the old model everywhere (ablation)
    OLD_CORRECT = "old-correct"  # old where the old model is right, new elsewhere (ablation)
    FOCAL = "focal"  # positive-congruent focal distillation: CE + λ·mean((α + β·1[old right])·KD)
    ENSEMBLE = "ensemble"  # distil the mix w·p_old + (1 − w)·p_new of both teachers everywhere
    CHOICE = "choice"  # MUSCLE over choices' log-likelihoods / class logits, per instance
    SEQUENCE = "sequence"  # CE on the old model's right outputs, the reference elsewhere
    CE = "ce"  # plain fine-tuning, no teachers: the baseline the others are compared with
    AUTO = "auto"

    @property
    def token_level(self) -> bool:
        return self in TOKEN_LEVEL

    @property
    def every_position(self) -> bool:
        """At the token level, whether the loss counts every context and answer token (the paper's MUSCLE, as its
        Eq. 1 is written) or the answer's tokens only (every other strategy: the gate judges the answer)."""
        return self is Strategy.MUSCLE


class Level(str, Enum):
    """What the loss compares for multiple-choice data: next-token distributions or the choices' distribution."""

    AUTO = "auto"  # token when the tokenizers match; `--strategy auto|choice` go to choice when they differ
    TOKEN = "token"
    CHOICE = "choice"


TOKEN_LEVEL = frozenset({Strategy.MUSCLE, Strategy.KD_OLD, Strategy.OLD_CORRECT, Strategy.FOCAL, Strategy.ENSEMBLE})
STRATEGY_HELP = (
    "muscle (the paper's loss) | kd-old | old-correct | focal | ensemble (distil the old+new mix, see "
    "--ensemble-weight) | choice (vocabulary-agnostic, multiple "
    "choice and classification) | sequence (vocabulary-agnostic, generation) | ce (plain fine-tuning on the "
    "ground truth, no teachers: a baseline) | auto (muscle when old and new share the tokenizer, else choice or "
    "sequence)"
)
LEVEL_HELP = (
    "For multiple choice: token (compare next-token distributions; old and new must share the tokenizer) | choice "
    "(compare each instance's distribution over its choices; any tokenizers; `--strategy choice` = muscle at this "
    "level) | auto (token, or choice for --strategy choice, and for auto and the default across tokenizers)"
)


@dataclass(frozen=True)
class TokenizerFacts:
    """What decides whether two models' token distributions are comparable."""

    vocab: Mapping[str, int]
    special_ids: Mapping[str, int | None]
    logits_size: int  # the LM head's output size (can exceed the vocabulary: padded embeddings)


def tokenizer_difference(old: TokenizerFacts, new: TokenizerFacts) -> str | None:
    """None when the tokenizers are interchangeable, else one line saying how they differ."""
    if old.vocab != new.vocab:
        only_old = len(set(old.vocab) - set(new.vocab))
        only_new = len(set(new.vocab) - set(old.vocab))
        moved = sum(1 for tok, i in old.vocab.items() if tok in new.vocab and new.vocab[tok] != i)
        return (
            f"vocabularies differ (old {len(old.vocab)} tokens, new {len(new.vocab)}; {only_old} only in old, "
            f"{only_new} only in new, {moved} with different ids)"
        )
    for name in sorted(set(old.special_ids) | set(new.special_ids)):
        if old.special_ids.get(name) != new.special_ids.get(name):
            return (
                f"special token {name} differs (old id {old.special_ids.get(name)}, new id {new.special_ids.get(name)})"
            )
    if old.logits_size != new.logits_size:
        return f"output sizes differ (old {old.logits_size} logits, new {new.logits_size})"
    return None


@dataclass(frozen=True)
class Resolved:
    """The strategy `fix` trains with and why (printed, and recorded in muscle_fix.json)."""

    strategy: Strategy
    reason: str
    choice_level: bool = False  # the loss compares distributions over each instance's choices, not tokens


def resolve_strategy(
    requested: Strategy, shape: Shape, difference: str | None, level: Level = Level.AUTO, default: bool = False
) -> Resolved:
    """Check `requested` (and `level`) against the task shape and the tokenizers (`difference` from
    tokenizer_difference). `default`: the strategy is fix's default ensemble, not one the user named, so across
    tokenizers `--level auto` takes the choice level on multiple choice, and generation takes sequence-level
    distillation, instead of refusing.

    Raises FixError when the combination cannot work, naming what would.
    """
    classify = shape is Shape.CLASSIFY
    generative = shape.is_generative
    vocab_free = Strategy.SEQUENCE if generative else Strategy.CHOICE
    if level is Level.CHOICE and generative:
        raise FixError(f"--level choice needs multiple-choice or classification data; this is {shape.value}")
    if requested is Strategy.CHOICE and level is Level.TOKEN and shape is Shape.MULTIPLE_CHOICE:
        raise FixError("--strategy choice is MUSCLE at the choice level; drop --level token or use --strategy muscle")
    if requested is Strategy.AUTO:
        if difference is None and (level is not Level.CHOICE or classify):
            why = "class logits" if classify else "tokens"
            return Resolved(Strategy.MUSCLE, f"old and new share the tokenizer: token-level MUSCLE over {why}")
        if difference is None:
            return Resolved(
                Strategy.CHOICE, "as requested by --level choice: MUSCLE over each instance's choices", True
            )
        if level is Level.TOKEN and shape is Shape.MULTIPLE_CHOICE:
            raise FixError(f"--level token needs the same tokenizer for old and new, but {difference}")
        how = "the old model's right outputs as text" if generative else "per-instance distributions over the choices"
        if classify:
            how = "per-instance distributions over the class logits"
        return Resolved(
            vocab_free,
            f"tokenizers differ ({difference}): {vocab_free.value}-level distillation on {how}",
            vocab_free is Strategy.CHOICE and not classify,
        )
    if requested is Strategy.CE:
        over = level is Level.CHOICE and not classify
        where = " over each instance's choices" if over else ""
        return Resolved(
            requested, f"plain fine-tuning: cross-entropy on the ground truth{where}, no teachers (a baseline)", over
        )
    if requested is Strategy.CHOICE and generative:
        raise FixError(
            f"--strategy choice needs multiple-choice or classification data; this is {shape.value}: use sequence"
        )
    if requested is Strategy.SEQUENCE and not generative:
        raise FixError(f"--strategy sequence needs generation data; this is {shape.value}: use choice")
    if classify:
        how = "the default" if default else "as requested"
        return Resolved(requested, f"{how}, over the class logits of each instance")
    if requested is Strategy.CHOICE:
        return Resolved(requested, "as requested: MUSCLE over each instance's choices (vocabulary-agnostic)", True)
    if requested.token_level and level is Level.CHOICE:
        return Resolved(
            requested, "as requested, over each instance's distribution over its choices (vocabulary-agnostic)", True
        )
    if default and level is Level.AUTO and difference is not None and shape is Shape.MULTIPLE_CHOICE:
        return Resolved(
            requested,
            f"the default across tokenizers ({difference}): over each instance's distribution over its choices",
            True,
        )
    if default and difference is not None and generative:
        return Resolved(
            Strategy.SEQUENCE,
            f"the default across tokenizers on generation ({difference}): sequence-level distillation, the old "
            "model's right outputs as text (the ensemble mixes next-token distributions, which needs one vocabulary)",
        )
    if requested.token_level and difference is not None:
        also = " or --level choice" if not generative else ""
        raise FixError(
            f"--strategy {requested.value} is token-level and needs the same tokenizer for old and new, but "
            f"{difference}; use --strategy {vocab_free.value} (vocabulary-agnostic) or auto{also}"
        )
    if requested.token_level:
        how = "the default" if default else "as requested"
        return Resolved(requested, f"{how}, token level (old and new share the tokenizer)")
    return Resolved(requested, "as requested (vocabulary-agnostic)")
