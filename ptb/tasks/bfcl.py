"""BFCL exec_simple (100 items): one request, its function's schema, exactly one call back.

Data ships in the ``bfcl-eval`` package (``bfcl_eval/data/unused_datasets/question`` and
``possible_answer``): each item's ground truth is one Python call string such as
``calc_binomial_probability(n=20, k=5, p=0.6)``. The model gets the function as a tool through
its chat template (``tools=``) and answers with a call.

``protocol=paper`` is the original harness (inspect_evals' ``bfcl`` task behind vLLM's ``hermes``
tool parser; ``ptb.tasks.inspect_rules``): only ``<tool_call>{"name": …, "arguments": {…}}
</tool_call>`` blocks count, anywhere in the reply (inside ``<think>`` too); one malformed block
drops every call; exactly one call; its name and argument dict must be Python-``==`` to the
target's (``20.0 == 20``; ``"Cairo" != "cairo"``).

``protocol=strict``: the call is parsed leniently (``<tool_call>{json}</tool_call>``, a bare JSON
object, ``parameters`` for ``arguments``, stringified arguments, or Python call syntax; after the
last ``</think>``) and scored by bfcl-eval's own AST checker: right function name, every required
argument, no unexpected one, each value equal to the target's (strings case- and
space-insensitive, types strict).
"""

from __future__ import annotations

import ast
import json
import re
import sys
import types
from functools import cached_property
from typing import Any

from ptb.tasks import inspect_rules as paper
from ptb.tasks.answers import for_protocol, strip_thinking
from ptb.tasks.base import Grade, Item, Task
from ptb.tasks.data import load

CHECKER_MODEL = "ptb"
"""Model name given to the checker: ptb keeps function names as they are (no '.' → '_')."""

JSON_TYPES = {"dict": "object", "float": "number", "tuple": "array", "any": "string"}
"""BFCL's Python-flavoured type names → JSON Schema, for the tool list given to the template."""


def call_from_source(source: str) -> tuple[str, dict[str, Any]]:
    """``f(a=1, b=[2])`` → (``f``, ``{"a": 1, "b": [2]}``); values must be literals."""
    node = ast.parse(source.strip(), mode="eval").body
    if not isinstance(node, ast.Call):
        raise ValueError(f"not a call: {source!r}")
    name = ast.unparse(node.func)
    if node.args:
        raise ValueError(f"positional arguments in {source!r}")
    return name, {kw.arg: ast.literal_eval(kw.value) for kw in node.keywords if kw.arg}


def possible_answer(source: str, function: dict[str, Any]) -> dict[str, dict[str, list[Any]]]:
    """The checker's answer format (each argument → list of accepted values) for one call, the
    values in the types the function's schema declares (tuples as lists, ``10`` as ``10.0`` for
    a float), as the checker compares them with parsed JSON."""
    name, args = call_from_source(source)
    props = function.get("parameters", {}).get("properties", {})
    return {name: {k: [_as_declared(v, props.get(k, {}))] for k, v in args.items()}}


def _as_declared(value: Any, schema: dict[str, Any]) -> Any:
    kind = schema.get("type")
    if isinstance(value, tuple | list):
        items = schema.get("items", {})
        return [_as_declared(v, items) for v in value]
    if kind == "float" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, dict):
        props = schema.get("properties", {})
        return {k: _as_declared(v, props.get(k, {})) for k, v in value.items()}
    return value


def to_json_schema(schema: Any) -> Any:
    """A BFCL function description with JSON Schema types (``dict`` → ``object``, ...)."""
    if isinstance(schema, dict):
        out = {k: to_json_schema(v) for k, v in schema.items()}
        if isinstance(out.get("type"), str):
            out["type"] = JSON_TYPES.get(out["type"], out["type"])
        return out
    if isinstance(schema, list):
        return [to_json_schema(v) for v in schema]
    return schema


TOOL_CALL = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.DOTALL)


def parse_calls(output: str) -> list[dict[str, Any]]:
    """The calls in a reply, as ``[{name: {arg: value}}]`` (the checker's model-output format)."""
    text = strip_thinking(output)
    calls = [c for c in (_json_call(m) for m in TOOL_CALL.findall(text)) if c]
    if calls:
        return calls
    decoder = json.JSONDecoder()
    for match in re.finditer(r"[\[{]", text):
        try:
            obj, _ = decoder.raw_decode(text[match.start() :])
        except json.JSONDecodeError:
            continue
        objs = obj if isinstance(obj, list) else [obj]
        found = [c for c in (_json_call(o) for o in objs) if c]
        if found:
            return found
    return _python_calls(text)


def _json_call(obj: Any) -> dict[str, Any] | None:
    if isinstance(obj, str):
        try:
            obj = json.loads(obj)
        except json.JSONDecodeError:
            return None
    if not isinstance(obj, dict) or not isinstance(obj.get("name"), str):
        return None
    args = obj.get("arguments", obj.get("parameters", {}))
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except json.JSONDecodeError:
            return None
    return {obj["name"]: args} if isinstance(args, dict) else None


def _python_calls(text: str) -> list[dict[str, Any]]:
    """``[f(a=1)]`` or ``f(a=1)`` somewhere in the text (the BFCL prompt-style answer)."""
    for line in reversed(text.strip().splitlines()):
        candidate = line.strip().strip("`").strip()
        if candidate.startswith("[") and candidate.endswith("]"):
            candidate = candidate[1:-1]
        try:
            name, args = call_from_source(candidate)
        except (SyntaxError, ValueError):
            continue
        return [{name: args}]
    return []


def _checker() -> Any:
    """bfcl-eval's ``ast_checker``. Its module imports the vendor-model registry, which needs
    every vendor SDK; a stand-in registry (one entry: ptb, no name rewriting) avoids that."""
    name = "bfcl_eval.constants.model_config"
    if name not in sys.modules:
        stub = types.ModuleType(name)

        class _Mapping(dict[str, Any]):
            def __missing__(self, key: str) -> Any:
                return types.SimpleNamespace(underscore_to_dot=False)

        stub.MODEL_CONFIG_MAPPING = _Mapping()  # type: ignore[attr-defined]
        sys.modules[name] = stub
    from bfcl_eval.eval_checker.ast_eval.ast_checker import ast_checker

    return ast_checker


class BFCL(Task):
    @cached_property
    def _test(self) -> list[Item]:
        answers = {row["id"]: row["ground_truth"] for row in load(self.cfg.data["answers"])}
        items = []
        for row in load(self.cfg.data["test"]):
            turns = row["question"][0]
            truth = answers[row["id"]]
            if len(truth) != 1:
                raise ValueError(f"{row['id']}: expected one ground-truth call, got {len(truth)}")
            answer = possible_answer(truth[0], row["function"][0])
            name, args = next(iter(answer.items()))
            args = {k: v[0] for k, v in args.items()}
            items.append(
                Item(
                    row["id"],
                    turns[-1]["content"],
                    json.dumps({"name": name, "arguments": args}),
                    {
                        "messages": turns,
                        "functions": row["function"],
                        "ground_truth": truth[0],
                        "category": row["id"].rsplit("_", 1)[0],
                    },
                )
            )
        return items

    def test_items(self) -> list[Item]:
        return self._test

    def tools(self, item: Item) -> list[dict[str, Any]]:
        return [{"type": "function", "function": to_json_schema(f)} for f in item.meta["functions"]]

    def oracle_output(self, item: Item) -> str:
        return f"<tool_call>\n{item.target}\n</tool_call>"

    def grade(self, item: Item, output: str) -> Grade:
        ok, got, reason = paper.bfcl_correct(
            output, item.meta["ground_truth"], item.meta["functions"]
        )
        scores = {
            "paper": Grade(float(ok), got, reason),
            "strict": self._grade_strict(item, output),
        }
        return for_protocol(scores, self.protocol)

    def _grade_strict(self, item: Item, output: str) -> Grade:
        from bfcl_eval.constants.enums import Language

        calls = parse_calls(output)
        if not calls:
            return Grade(0.0, None, "no function call found")
        result = _checker()(
            item.meta["functions"],
            calls,
            [possible_answer(item.meta["ground_truth"], item.meta["functions"][0])],
            Language.PYTHON,
            "simple",
            CHECKER_MODEL,
        )
        ok = bool(result["valid"])
        detail = None if ok else "; ".join(map(str, result.get("error", []))) or "invalid"
        return Grade(1.0 if ok else 0.0, calls, detail)
