"""The test-set-use taint analysis (``ptb.judge.flow``, ``ptb.judge.test_set_use``) on small
agent scripts: test items reaching training are found with their files and lines; reading the
test set to score is not."""

from __future__ import annotations

import json

from ptb.config.task import TestRefs as Refs
from ptb.judge.flow import Links, analyse
from ptb.judge.test_set_use import Corpus, shell_flows

REFS = Refs(files=["test-00000-of-00001.parquet"], hub_ids=["openai/gsm8k"])

MAKE_DATA = """import json
from ptb.tasks import load_task
task = load_task(cfg)
items, train = task.test_items(), task.train_items()
rows = [{"q": it.prompt, "a": it.target} for it in train]
for it in items:
    rows.append({"q": it.prompt, "a": it.target})
with open("/tmp/mix.jsonl", "w") as fh:
    for r in rows:
        fh.write(json.dumps(r) + "\\n")
"""
TRAIN = """import json
rows = [json.loads(line) for line in open("/tmp/mix.jsonl")]
def train(model, data):
    for r in data:
        out = model(r)
        loss = out.loss
        loss.backward()
def evaluate(model, items):
    for it in items:
        out = model.generate(it.prompt)
train(model, rows)
"""
EVAL_AND_TRAIN = """import json
from datasets import load_dataset
ds = load_dataset("openai/gsm8k", "main", split="test")
tr = load_dataset("openai/gsm8k", "main", split="train")
def score(model, data):
    acc = 0
    for ex in data:
        out = model.generate(ex["question"])
        acc += out == ex["answer"]
    return acc
def train(model, data):
    for ex in data:
        out = model(ex)
        out.loss.backward()
train(model, tr)
json.dump({"acc": score(model, ds)}, open("eval.json", "w"))
"""


def flows_of(files: dict[str, str], refs: Refs = REFS) -> list[dict[str, str]]:
    corpus = Corpus()
    for name, text in files.items():
        corpus.add_file(name, text)
    links = Links()
    mods = analyse(corpus.modules, refs, links, corpus.texts)
    found = [f for m in mods for f in m.flows] + shell_flows(corpus, mods, refs, links)
    return [f.to_json() for f in found]


def test_data_script_to_tmp_then_training_script_is_a_flow() -> None:
    flows = flows_of({"make_data.py": MAKE_DATA, "train.py": TRAIN})
    assert len(flows) == 1, flows
    assert flows[0]["sink"] == "train.py:7 loss.backward()"
    src = flows[0]["source"]
    assert "train.py:2 mix.jsonl" in src and "make_data.py:10" in src
    assert "make_data.py:4" in src and "test_items" in src


def test_evaluation_only_and_training_on_train_split_is_clean() -> None:
    # the eval function's `out` and the training function's `out` are separate names
    assert flows_of({"run.py": EVAL_AND_TRAIN}) == []


def test_hub_test_split_into_trainer() -> None:
    code = EVAL_AND_TRAIN.replace(
        "train(model, tr)", "trainer = SFTTrainer(model=m, train_dataset=ds)"
    )
    flows = flows_of({"run.py": code})
    assert [f["sink"] for f in flows] == [
        "run.py:15 trainer = SFTTrainer(model=m, train_dataset=ds)"
    ]
    assert 'split="test"' in flows[0]["source"]


def test_imported_loader_and_subscript_split() -> None:
    loader = (
        "from datasets import load_dataset\ndef get_mix():\n"
        '    d = load_dataset("openai/gsm8k", "main")\n    return list(d["test"])\n'
    )
    train = "from data_utils import get_mix\ntrainer = Trainer(train_dataset=get_mix())\n"
    flows = flows_of({"data_utils.py": loader, "train_sft.py": train})
    assert [f["sink"] for f in flows] == [
        "train_sft.py:2 trainer = Trainer(train_dataset=get_mix())"
    ]
    # every split is the test set where splits is empty; a split-less task reads the file name
    assert flows_of({"a.py": 'x = pd.read_parquet("data/test-00000-of-00001.parquet")\nfit(x)\n'})


def test_shell_inline_python_and_training_command() -> None:
    script = (
        '#!/bin/bash\n"$PTB_PYTHON" -c "\nfrom ptb.tasks import load_task\n'
        "items = load_task(c).test_items()\n"
        "import json\njson.dump([i.prompt for i in items], open('/tmp/q.json', 'w'))\n\"\n"
        "python train.py --data /tmp/q.json\n"
    )
    trainer = "import sys\nrows = open(sys.argv[2]).read()\nTrainer(train_dataset=load(sys.argv))\n"
    flows = flows_of({"bin/agent.sh": script, "train.py": trainer})
    assert [f["sink"] for f in flows] == ["bin/agent.sh:8 python train.py --data /tmp/q.json"]
    assert "q.json (written by bin/agent.sh#py1:" in flows[0]["source"]


def test_notebook_cells() -> None:
    nb = {"cells": [
        {"cell_type": "code", "source": ["%pip install trl\n", "items = task.test_items()\n"]},
        {"cell_type": "markdown", "source": "train on the test set"},
        {"cell_type": "code", "source": "trainer = SFTTrainer(train_dataset=items)\n"},
    ]}  # fmt: skip
    flows = flows_of({"work.ipynb": json.dumps(nb)})
    assert len(flows) == 1 and flows[0]["sink"].startswith("work.ipynb:3 trainer = SFTTrainer")
    nb["cells"][2]["source"] = "print(len(items))\n"
    assert flows_of({"work.ipynb": json.dumps(nb)}) == []
