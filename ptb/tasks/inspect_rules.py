"""The original harness's scoring rules (``protocol=paper``), re-implemented from its sources.

PostTrainBench (``main@9082063``) scores GSM8K, AIME, GPQA, HumanEval and BFCL through
inspect_evals tasks and inspect_ai scorers against a vLLM server (vLLM 0.11.0, inspect_evals at
``06001a83`` = PyPI ``inspect-evals==0.3.106``, ``inspect-ai==0.3.172``). Each function here
reproduces one rule of that stack exactly, bugs included; the source each one was read from is
named in its docstring, and ``tests/parity/`` checks them case by case against the real
inspect code. ptb's own corrected rules (``protocol=strict``) live in ``ptb.tasks.answers``.

The prompt texts those tasks use belong to inspect_evals / inspect_ai and are not copied here:
``inspect_text`` reads them from the installed packages' files (without importing inspect),
at the pinned versions. ``scripts/setup.sh`` installs both packages with ``--no-deps``.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import string
from functools import cache
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

INSPECT_VERSIONS = {"inspect_evals": "0.3.106", "inspect_ai": "0.3.172"}
"""The versions the original's evaluation image resolves to (``containers/vllm_debug.def``)."""
DISTRIBUTIONS = {"inspect_evals": "inspect-evals", "inspect_ai": "inspect-ai"}


class InspectNotAvailable(RuntimeError):
    """inspect_evals / inspect_ai (whose files define the paper's prompts) are not installed at
    the pinned versions; the message names the fix."""


# --- texts from the installed packages ---------------------------------------------------------


def package_dir(package: str) -> Path:
    """The installed ``package``'s folder, found without importing it; its version checked."""
    pin = INSPECT_VERSIONS[package]
    fix = (
        f"`bash scripts/setup.sh` installs it (or: pip install --no-deps "
        f"{DISTRIBUTIONS[package]}=={pin})"
    )
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise InspectNotAvailable(
            f"{DISTRIBUTIONS[package]}=={pin} is not installed; protocol=paper reads the "
            f"original harness's prompt templates from it: {fix}"
        )
    try:
        version = metadata.version(DISTRIBUTIONS[package])
    except metadata.PackageNotFoundError:
        version = "unknown"
    if version != pin:
        raise InspectNotAvailable(
            f"{DISTRIBUTIONS[package]} {version} is installed, protocol=paper needs {pin} (the "
            f"original harness's version; its templates may differ in others): {fix}"
        )
    return Path(next(iter(spec.submodule_search_locations)))


@cache
def inspect_text(package: str, relpath: str, name: str) -> str:
    """The string constant ``name`` of ``<package>/<relpath>`` (a literal, optionally followed
    by ``.strip()`` as inspect writes its templates), read with ``ast``: nothing is imported."""
    path = package_dir(package) / relpath
    if not path.is_file():
        raise InspectNotAvailable(f"{path} is missing from the installed {package}")
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        if not (isinstance(node, ast.Assign | ast.AnnAssign)):
            continue
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        if not any(isinstance(t, ast.Name) and t.id == name for t in targets):
            continue
        value = node.value
        strip = False
        if (
            isinstance(value, ast.Call)
            and isinstance(value.func, ast.Attribute)
            and value.func.attr == "strip"
            and not value.args
        ):
            strip, value = True, value.func.value
        if isinstance(value, ast.Constant) and isinstance(value.value, str | int | float):
            text = str(value.value)
            return text.strip() if strip else text
        raise InspectNotAvailable(f"{path}: {name} is not a string literal")
    raise InspectNotAvailable(f"{path} defines no {name}")


@cache
def _module_file(package: str, relpath: str) -> ModuleType:
    """One standalone file of an installed package, executed on its own (its imports are the
    standard library's only): inspect_ai's Unicode number parser."""
    path = package_dir(package) / relpath
    spec = importlib.util.spec_from_file_location(f"_ptb_{package}_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise InspectNotAvailable(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- <think> ----------------------------------------------------------------------------------

THINK = re.compile(r"<think([^>]*)>(.*?)</think>", re.DOTALL)


def completion(output: str) -> str:
    """What inspect scores (``state.output.completion``) for a reply vLLM returns as content.

    ``inspect_ai/model/_reasoning.py:parse_content_with_reasoning`` removes the *first* closed
    ``<think…>…</think>`` and strips the rest; ``_openai.py:chat_message_assistant_from_openai``
    then keeps ``remaining_content or msg_content``: when nothing is left, the whole reply
    (think block included) is scored. An unclosed ``<think>`` is left in place."""
    match = THINK.search(output)
    if not match:
        return output
    start, end = match.span()
    return (output[:start] + output[end:]).strip() or output


# --- match(numeric=True), location="end" ----------------------------------------------------

_FRACTIONS = {
    "½": 0.5,
    "⅓": 1 / 3,
    "⅔": 2 / 3,
    "¼": 0.25,
    "¾": 0.75,
    "⅕": 0.2,
    "⅖": 0.4,
    "⅗": 0.6,
    "⅘": 0.8,
    "⅙": 1 / 6,
    "⅚": 5 / 6,
    "⅐": 1 / 7,
    "⅛": 0.125,
    "⅜": 0.375,
    "⅝": 0.625,
    "⅞": 0.875,
    "⅑": 1 / 9,
    "⅒": 0.1,
}
_SUPERSCRIPTS = "⁰¹²³⁴⁵⁶⁷⁸⁹"


def strip_punctuation(s: str) -> str:
    """``inspect_ai/_util/text.py:strip_punctuation``."""
    return s.strip(string.whitespace + string.punctuation)


def strip_numeric_punctuation(s: str) -> str:
    """``inspect_ai/_util/text.py:strip_numeric_punctuation``: drops ``$ , £ € * _`` and a
    ``.`` not followed by a digit."""
    stripped = re.sub(r"[$,£,€,*,_]", "", s)
    return re.sub(r"\.(?=\s|$|\D)", "", stripped)


def str_to_float(s: str) -> float:
    """``inspect_ai/_util/text.py:str_to_float``: the leading number of ``s``, with Unicode
    fractions and superscript exponents."""
    if not s:
        raise ValueError("Input string is empty.")
    if len(s) == 1 and s in _FRACTIONS:
        return _FRACTIONS[s]
    base_part = ""
    fraction_char = None
    exponent_part = ""
    for i, char in enumerate(s):
        if char in _FRACTIONS:
            if fraction_char is not None:
                raise ValueError(f"Multiple fraction characters in '{s}'")
            fraction_char = char
        elif char in _SUPERSCRIPTS:
            exponent_part = s[i:]
            break
        else:
            base_part += char
    base_value = 0.0
    if base_part:
        match = re.match(r"^([+-]?\d+(?:\.\d+)?)", base_part)
        if match is None:
            raise ValueError(f"Value could not be parsed as a float: {s}")
        base_value = float(match.group(1))
    if fraction_char:
        value = _FRACTIONS[fraction_char]
        base_value = base_value - value if base_value < 0 else base_value + value
    elif not base_part:
        base_value = 1.0
    if exponent_part:
        try:
            exponent = int(exponent_part.translate(str.maketrans(_SUPERSCRIPTS, "0123456789")))
        except ValueError:
            raise ValueError(f"Invalid exponent in '{s}'") from None
        return float(base_value**exponent)
    return base_value


def normalize_number(number: str, precision: int = 5) -> str:
    """``inspect_ai/scorer/_common.py:normalize_number``: a numeric word as ``format(x, ".5g")``
    (so 123456 → ``1.2346e+05``), anything else unchanged."""
    if number.replace(".", "").isnumeric():
        try:
            num = str_to_float(number)
        except ValueError:
            num = _module_file("inspect_ai", "scorer/_unicode.py").unicode_number_to_float(number)
        return format(num, f".{precision}g")
    return number


def match_end_numeric(value: str, target: str) -> tuple[str, bool]:
    """``inspect_ai/scorer/_common.py:match_str`` as ``match(numeric=True)`` calls it
    (location ``end``, case ignored): for a target of digits only, the last whitespace-separated
    word of the reply that is all digits (and dots) after the numeric punctuation is removed,
    normalised, must *end with* the normalised target (so 170 counts for 70; ``-5`` is not a
    number word). Any other target (negative, decimal, with a comma) is compared as text: the
    reply, stripped of surrounding punctuation, must end with it."""
    v = value.strip().casefold()
    t = target.strip().casefold()
    answer = value.strip()
    if t.isnumeric():
        v = strip_numeric_punctuation(v)
        t = normalize_number(strip_numeric_punctuation(t))
        words = re.split(r"\s+", v)
        words.reverse()
        number = next((w for w in words if w.replace(".", "").isnumeric()), words[0])
        v = normalize_number(number)
        answer = v
    else:
        v = strip_punctuation(v)
        t = strip_punctuation(t)
    return answer, v.endswith(t)


def remove_boxed(answer: str) -> str:
    """``inspect_evals/aime2025/aime2025.py:remove_boxed_from_ans`` (greedy: from the first
    ``\\boxed{`` to the last ``}`` of the reply)."""
    return re.sub(r"\\boxed\{(.+)\}", r"\1", answer)


# --- multiple choice --------------------------------------------------------------------------


def answer_character(index: int) -> str:
    """``inspect_ai/_util/answer.py:answer_character``."""
    return chr(ord("A") + index) if index < 26 else str(index - 25)


def choice_letter(completion_text: str, n_choices: int) -> str | None:
    """The letter inspect's ``multiple_choice`` solver reads from a reply
    (``inspect_ai/solver/_multiple_choice.py:parse_answers``, one correct answer): the first
    line starting ``ANSWER:`` (any case) followed by letters, digits, spaces or commas up to the
    end of the line or a full stop; failing that, the first ``ANSWER:`` anywhere followed by
    such text. The text, stripped of spaces and a trailing ``.``, must be exactly one of the
    capital letters offered, else there is no answer (and the item scores 0)."""
    match = re.search(
        r"(?i)^ANSWER\s*:\s*([A-Za-z\d ,]+)\s*(?:$|\n|\.)", completion_text, flags=re.MULTILINE
    )
    if match is None:
        match = re.search(r"(?i)ANSWER\s*:\s*([A-Za-z\d ,]+)(?:[^\w]|\n|$|\.)", completion_text)
    if match is None:
        return None
    matched = match.group(1).strip().rstrip(".")
    allowed = {answer_character(i) for i in range(n_choices)}
    return matched if matched in allowed else None


# --- HumanEval --------------------------------------------------------------------------------


def find_code(completion_text: str) -> str:
    """``inspect_evals/humaneval/humaneval.py:find_code``: the first ```` ```python ```` block,
    else the first bare ```` ``` ```` block, cut after its first ``":\\n    "`` (when there is
    none, ``find`` gives -1 and the block loses its first character); no block: the reply."""
    blocks = re.findall(r"```python\n(.*?)```", completion_text, re.DOTALL) + re.findall(
        r"```\n(.*?)```", completion_text, re.DOTALL
    )
    if not blocks:
        return completion_text
    code = str(blocks[0])
    return code[code.find(":\n    ") + 2 :]


def humaneval_program(prompt: str, code: str, test: str, entry_point: str) -> str:
    """The program inspect_evals' ``verify`` runs with ``python -c``."""
    return "".join([prompt, code, "\n", test, "\n", f"check({entry_point})"])


# --- BFCL: vLLM's hermes tool parser, inspect's argument parsing, == -------------------------

HERMES_CALL = re.compile(r"<tool_call>(.*?)</tool_call>|<tool_call>(.*)", re.DOTALL)


def hermes_tool_calls(output: str) -> list[tuple[str, str]] | None:
    """vLLM 0.11.0 ``Hermes2ProToolParser.extract_tool_calls`` (non-streaming): None when the
    reply has no ``<tool_call>``; else every ``<tool_call>…</tool_call>`` (or an unclosed last
    one) decoded as JSON with ``name`` and ``arguments`` → ``(name, json.dumps(arguments))``.
    Any block that fails (bad JSON, a key missing, not an object) drops *every* call."""
    if "<tool_call>" not in output:
        return None
    try:
        calls = []
        for closed, unclosed in HERMES_CALL.findall(output):
            obj = json.loads(closed if closed else unclosed)
            name = obj["name"]
            if not isinstance(name, str):  # pydantic's FunctionCall(name: str) refuses it
                raise TypeError("function name is not a string")
            calls.append((name, json.dumps(obj["arguments"], ensure_ascii=False)))
    except Exception:
        return None
    return calls


def inspect_arguments(function: str, arguments: str, tools: list[dict[str, Any]]) -> dict[str, Any]:
    """``inspect_ai/model/_call_tools.py:parse_tool_call``: a JSON object as a dict; anything
    else (a list, a string, a number) is YAML-loaded into the *first* parameter of the named
    tool, or ``{}`` when no tool has that name."""
    import yaml

    text = (arguments or "").strip()
    if text.startswith("{"):
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError:
            return {}
        return loaded if isinstance(loaded, dict) else {}
    tool = next(
        (
            t
            for t in tools
            if t.get("name") == function and t.get("parameters", {}).get("properties")
        ),
        None,
    )
    if tool is None:
        return {}
    first = next(iter(tool["parameters"]["properties"]))
    try:
        return {first: yaml.safe_load(text)}
    except yaml.YAMLError:
        return {first: text}


def bfcl_target(ground_truth: str) -> dict[str, Any]:
    """``inspect_evals/bfcl/bfcl.py:parse_target`` then the JSON round trip of
    ``record_to_sample`` (tuples become lists): ``{"function", "arguments"}``. An argument that
    is not a literal is left out, as there."""
    body = ast.parse(ground_truth, mode="single").body[0]
    if not (
        isinstance(body, ast.Expr)
        and isinstance(body.value, ast.Call)
        and isinstance(body.value.func, ast.Name)
    ):
        raise ValueError(f"not a plain call: {ground_truth!r}")
    arguments = {}
    for kw in body.value.keywords:
        try:
            arguments[kw.arg] = ast.literal_eval(kw.value)
        except (ValueError, SyntaxError):
            continue
    parsed: dict[str, Any] = json.loads(
        json.dumps({"function": body.value.func.id, "arguments": arguments})
    )
    return parsed


def bfcl_correct(
    output: str, ground_truth: str, tools: list[dict[str, Any]]
) -> tuple[bool, list[dict[str, Any]] | None, str | None]:
    """``inspect_evals/bfcl/bfcl.py:bfcl_scorer`` on the calls vLLM's hermes parser returns:
    exactly one call, its function name and argument dict ``==`` the target's (Python
    equality: ``20.0 == 20``, ``"Cairo" != "cairo"``). Returns (correct, calls, reason)."""
    parsed = hermes_tool_calls(output)
    if not parsed:
        return False, None, "no tool call (hermes parser)"
    calls = [{"function": n, "arguments": inspect_arguments(n, a, tools)} for n, a in parsed]
    if len(calls) != 1:
        return False, calls, f"{len(calls)} tool calls, expected exactly 1"
    target = bfcl_target(ground_truth)
    ok = calls[0]["arguments"] == target["arguments"] and calls[0]["function"] == target["function"]
    return ok, calls, None if ok else f"expected {target}"
