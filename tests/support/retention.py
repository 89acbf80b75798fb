"""A small local lm-eval suite for tests: task YAMLs over JSONL files, no hub.

``ret_mc`` is multiple choice (loglikelihood: acc, acc_norm), ``ret_gen`` generates until a
newline (exact_match): lm-eval's two request kinds, as MMLU/ARC/HellaSwag and IFEval use them.
"""

from __future__ import annotations

import json
from pathlib import Path

MC_ITEMS = 8
GEN_ITEMS = 6


def write_local_suite(root: Path) -> Path:
    """Write the suite under ``root/tasks`` and return that folder (``retention.include_path``)."""
    tasks = root / "tasks"
    tasks.mkdir(parents=True, exist_ok=True)
    with (tasks / "mc.jsonl").open("w") as f:
        for i in range(MC_ITEMS):
            item = {"q": f"What is {i} plus 1?", "choices": [str(i + 1), str(i + 2), str(i)]}
            f.write(json.dumps({**item, "label": 0}) + "\n")
    with (tasks / "gen.jsonl").open("w") as f:
        for i in range(GEN_ITEMS):
            f.write(json.dumps({"q": f"What is {i} plus 2?", "a": str(i + 2)}) + "\n")
    (tasks / "ret_mc.yaml").write_text(
        "task: ret_mc\n"
        "dataset_path: json\n"
        f"dataset_kwargs:\n  data_files:\n    test: {tasks / 'mc.jsonl'}\n"
        "test_split: test\n"
        "output_type: multiple_choice\n"
        'doc_to_text: "Question: {{q}}\\nAnswer:"\n'
        'doc_to_choice: "{{choices}}"\n'
        "doc_to_target: label\n"
        "metric_list:\n"
        "  - {metric: acc, aggregation: mean, higher_is_better: true}\n"
        "  - {metric: acc_norm, aggregation: mean, higher_is_better: true}\n"
    )
    (tasks / "ret_gen.yaml").write_text(
        "task: ret_gen\n"
        "dataset_path: json\n"
        f"dataset_kwargs:\n  data_files:\n    test: {tasks / 'gen.jsonl'}\n"
        "test_split: test\n"
        "output_type: generate_until\n"
        'doc_to_text: "Question: {{q}}\\nAnswer:"\n'
        "doc_to_target: a\n"
        "generation_kwargs:\n"
        '  until: ["\\n"]\n'
        "  max_gen_toks: 8\n"
        "  do_sample: false\n"
        "metric_list:\n"
        "  - {metric: exact_match, aggregation: mean, higher_is_better: true}\n"
    )
    return tasks


def suite_overrides(tasks: Path) -> list[str]:
    """``python -m ptb`` overrides that run the local suite."""
    return [
        "retention=local",
        f"retention.include_path=[{tasks}]",
        "retention.tasks=[{name: ret_mc, shots: 1, limit: 5, metric: acc}, "
        "{name: ret_gen, shots: 0, limit: 4}]",
        "retention.batch_size=4",
    ]
