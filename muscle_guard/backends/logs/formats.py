"""The files lm-evaluation-harness writes with `--log_samples`, written down as types (lm-eval 0.4.13:
`lm_eval/evaluator.py` builds each sample, `lm_eval/loggers/evaluation_tracker.py` writes it). inspect_ai's
logs are read through inspect's own `read_eval_log` (its maintainers version the format but do not freeze it),
so they need no types here.

`DIR/<model name sanitised>/results_<date>.json` (ResultsFile) and one `samples_<task>_<date>.jsonl` per task,
one SampleLine per (doc, filter). A multi-process run writes every rank's lines gathered in rank order, so
lines are paired on `doc_id` (and `filter`), never on their order.
"""

from __future__ import annotations

from typing import Any, TypedDict

# `resps` and `filtered_resps` are stringified by the writer (`sanitize_list`): a multiple-choice response is
# `[loglikelihood, is_greedy]` per choice as two strings, a generation the text.
Response = list[Any]


class SampleLine(TypedDict, total=False):
    doc_id: int  # the doc's index in the task's evaluation split (before any --samples selection: the true id)
    doc: Any  # the dataset row
    target: str  # str(doc_to_target(doc)): the gold index of a multiple-choice doc, the answer of a generation
    arguments: dict[str, dict[str, Any]]  # gen_args_I → {arg_0: context, arg_1: continuation or gen kwargs}
    resps: list[Response]
    filtered_resps: list[Any]  # after the filter: per choice [ll, greedy] (multiple choice), or one text
    filter: str
    metrics: list[str]  # the names of the per-sample metrics, each also a key of this line
    doc_hash: str  # sha256 of json.dumps(doc, indent=2, ensure_ascii=False)
    prompt_hash: str  # sha256 of the first request's context
    target_hash: str  # sha256 of str(target)


class TaskConfig(TypedDict, total=False):
    task: str
    output_type: str  # multiple_choice | generate_until | loglikelihood | loglikelihood_rolling
    filter_list: list[dict[str, Any]]  # [{"name": ..., "filter": [...]}, ...] in order
    metric_list: list[dict[str, Any]]
    num_fewshot: int | None


class ResultsFile(TypedDict, total=False):
    results: dict[str, dict[str, Any]]  # task → "metric,filter" → value
    configs: dict[str, TaskConfig]
    versions: dict[str, Any]
    n_shot: dict[str, Any]  # written as "n-shot"
    model_name: str
    lm_eval_version: str
    date: float


# Metric values: lm-eval writes each per-sample metric under its name: 1.0/0.0 for acc, acc_norm, exact_match;
# some metrics are (gold, prediction) pairs or lists that only mean something aggregated over the task (f1 of
# a multi-class task, BLEU): those are refused by name, never read as right/wrong.
BINARY_INSPECT = {"C": 1.0, "I": 0.0}  # inspect's CORRECT, INCORRECT
INSPECT_VALUES = {"C": 1.0, "I": 0.0, "P": 0.5, "N": 0.0}  # inspect's value_to_float (PARTIAL, NOANSWER)
