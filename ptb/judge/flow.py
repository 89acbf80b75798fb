"""A small taint analysis of Python code for ``test_set_use``: does a test-split source reach a
training sink?

Per module it is flow-insensitive (one pass per fixpoint round over every statement, names
shared across scopes): a name is *tainted* when it is assigned, iterated or opened from an
expression that holds a source or a tainted name, or grows from one (``rows.append(item)``,
``d[k] = item``). A function whose return value is tainted taints its calls, in the module and
in modules that import it; a local function called with tainted arguments taints its parameters.

*Sources*: a call or attribute named in ``TestRefs.calls`` (``task.test_items()``), a hub load
naming a test ``hub_id`` with a test split (``load_dataset("openai/gsm8k", "main",
split="test")``, ``ds["test"]`` of a hub load), a string naming a test file, and a file that
tainted data was written to (``Links``: how a data script hands the test items to a training
script in another file, or via /tmp).

*Sinks*: a trainer (a call whose name ends in ``Trainer``, ``train``/``fit``/``finetune``-named
calls) given tainted arguments, or ``.backward()`` of a tainted value. Writing tainted data to a
file (``json.dump``, ``fh.write``, ``to_json``, ``save_to_disk``, ...) is not a sink but taints
the file's name for the other modules. An evaluation that reads the test items, generates and
computes a score reaches no sink.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from ptb.config.task import TestRefs

TRAINER = re.compile(
    r"Trainer$|^(?:train|fine_?tune|sft|fit)(?:_model|_loop|_epoch|_step|_on_batch|_lora)?$"
)
MUTATORS = {"append", "extend", "insert", "add", "update", "appendleft", "put", "setdefault"}
WRITERS = {
    "write", "writelines", "writerow", "writerows", "dump", "dumps_to", "save", "write_table",
    "to_json", "to_csv", "to_parquet", "save_to_disk", "push_to_hub", "write_text",
    "write_bytes", "savez", "to_pickle", "to_feather",
}  # fmt: skip
"""Calls that write data: tainted data written taints the file names the call names."""
PATHLIKE = re.compile(
    r"[\w.\-]+\.(?:jsonl?|csv|tsv|txt|parquet|arrow|pt|pkl|pickle|npy|npz|gz|md)$"
)


@dataclass
class Links:
    """What crosses module boundaries: tainted functions/names by module, tainted file names."""

    exports: dict[str, dict[str, str]] = field(default_factory=dict)
    """module stem → exported name → the origin of its taint."""
    files: dict[str, str] = field(default_factory=dict)
    """file basename → where tainted data was written to it (``where: how``)."""


@dataclass
class Flow:
    """A test-split source that reached a training sink."""

    source: str
    sink: str

    def to_json(self) -> dict[str, str]:
        return {"source": self.source, "sink": self.sink}


def _calls_name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def _base_name(node: ast.expr) -> str | None:
    while isinstance(node, ast.Attribute | ast.Subscript | ast.Starred):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _strings(node: ast.AST) -> list[str]:
    return [
        n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    ]


def _target_names(target: ast.expr) -> list[str]:
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, ast.Tuple | ast.List):
        return [n for t in target.elts for n in _target_names(t)]
    base = _base_name(target)
    return [base] if base else []


class Scoper(ast.NodeTransformer):
    """Renames a function's local names to ``fn.name`` and a loop's or comprehension's targets
    to ``name@line`` within it, so the same short name (``it``, ``out``) in an evaluation
    function and a training function, or in two loops, is two names."""

    def __init__(self) -> None:
        self.renames: list[dict[str, str]] = []

    def _lookup(self, name: str) -> str:
        for scope in reversed(self.renames):
            if name in scope:
                return scope[name]
        return name

    def visit_Name(self, node: ast.Name) -> ast.Name:
        node.id = self._lookup(node.id)
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        glob = {n for g in ast.walk(node) if isinstance(g, ast.Global) for n in g.names}
        local = {a.arg for a in [*node.args.args, *node.args.kwonlyargs]}
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                local.add(sub.id)
        scope = {n: f"{node.name}.{n}" for n in local - glob}
        for a in [*node.args.args, *node.args.kwonlyargs]:
            a.arg = scope[a.arg]
        self.renames.append(scope)
        node.body = [self.visit(b) for b in node.body]
        self.renames.pop()
        return node

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def _loop(self, node: ast.For | ast.AsyncFor) -> ast.AST:
        node.iter = self.visit(node.iter)
        names = [n.id for n in ast.walk(node.target) if isinstance(n, ast.Name)]
        scope = {n: f"{self._lookup(n)}@{node.lineno}" for n in names}
        self.renames.append(scope)
        node.target = self.visit(node.target)
        node.body = [self.visit(b) for b in node.body]
        self.renames.pop()
        node.orelse = [self.visit(b) for b in node.orelse]
        return node

    visit_For = _loop
    visit_AsyncFor = _loop

    def _comp(self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp) -> ast.AST:
        names = [
            n.id for g in node.generators for n in ast.walk(g.target) if isinstance(n, ast.Name)
        ]
        line = getattr(node, "lineno", 0)
        first = node.generators[0]
        first.iter = self.visit(first.iter)  # evaluated outside the comprehension's scope
        self.renames.append({n: f"{n}@{line}:{getattr(node, 'col_offset', 0)}" for n in names})
        for i, gen in enumerate(node.generators):
            if i:
                gen.iter = self.visit(gen.iter)
            gen.target = self.visit(gen.target)
            gen.ifs = [self.visit(c) for c in gen.ifs]
        if isinstance(node, ast.DictComp):
            node.key, node.value = self.visit(node.key), self.visit(node.value)
        else:
            node.elt = self.visit(node.elt)
        self.renames.pop()
        return node

    visit_ListComp = _comp
    visit_SetComp = _comp
    visit_GeneratorExp = _comp
    visit_DictComp = _comp


def scoped(tree: ast.Module) -> ast.Module:
    tree = Scoper().visit(tree)
    return tree


def short(name: str) -> str:
    """A renamed name as written (``evaluate.out@12`` → ``out``)."""
    return name.rsplit(".", 1)[-1].split("@", 1)[0]


class ModuleFlow:
    """One module's taint state against ``refs`` and the shared ``links``."""

    def __init__(
        self, name: str, tree: ast.Module, refs: TestRefs, links: Links, text: str = ""
    ) -> None:
        self.lines = text.splitlines() or ast.unparse(tree).splitlines()
        self.name, self.tree, self.refs, self.links = name, scoped(tree), refs, links
        self.tainted: dict[str, str] = {}
        self.funcs = {
            n.name: n
            for n in ast.walk(tree)
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
        }
        self.consts: dict[str, list[str]] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                t = node.targets[0]
                if isinstance(t, ast.Name) and (s := _strings(node.value)):
                    self.consts.setdefault(t.id, []).extend(s)
        self.hub_loads: set[str] = set()
        self.imported: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                stem = node.module.rsplit(".", 1)[-1]
                for alias in node.names:
                    self.imported[alias.asname or alias.name] = f"{stem}.{alias.name}"
        self.flows: list[Flow] = []
        self.writes: dict[str, str] = {}

    def where(self, node: ast.AST) -> str:
        return f"{self.name}:{getattr(node, 'lineno', '?')}"

    def snippet(self, node: ast.AST) -> str:
        """The source line of ``node`` as the agent wrote it."""
        n = getattr(node, "lineno", 0)
        return self.lines[n - 1].strip()[:160] if 0 < n <= len(self.lines) else ""

    # sources
    def _names_hub(self, node: ast.AST) -> bool:
        ids = [h.lower() for h in self.refs.hub_ids]
        if not ids:
            return False
        return any(
            s.lower() == h or s.lower().endswith("/" + h) for s in _strings(node) for h in ids
        )

    def _test_split(self, text: str) -> bool:
        return any(re.match(rf"{re.escape(sp)}\b", text) for sp in self.refs.splits)

    def _file_hit(self, text: str) -> str | None:
        base = PurePosixPath(text.strip()).name
        if base in self.refs.files:
            return f"test file {base}"
        if base in self.links.files:
            return f"{base} (written by {self.links.files[base]})"
        return None

    def source(self, node: ast.AST) -> str | None:
        """Why ``node`` (an expression) holds test items, or None."""
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name) and sub.id in self.tainted:
                return self.tainted[sub.id]
            if isinstance(sub, ast.Attribute) and sub.attr in self.refs.calls:
                return f"{self.where(sub)} {self.snippet(sub)}"
            if isinstance(sub, ast.Name) and sub.id in self.refs.calls:
                return f"{self.where(sub)} {sub.id}"
            if (
                isinstance(sub, ast.Constant)
                and isinstance(sub.value, str)
                and (hit := self._file_hit(sub.value))
            ):
                return f"{self.where(sub)} {hit}"
            if isinstance(sub, ast.Call) and (why := self._call_source(sub)):
                return why
            if (
                isinstance(sub, ast.Subscript)
                and _base_name(sub.value) in self.hub_loads
                and any(self._test_split(s) for s in _strings(sub.slice))
            ):
                return f"{self.where(sub)} {self.snippet(sub)}"
        return None

    def _call_source(self, call: ast.Call) -> str | None:
        name = _calls_name(call.func)
        if isinstance(call.func, ast.Name) and name in self.imported:
            stem, _, attr = self.imported[name].partition(".")
            if origin := self.links.exports.get(stem, {}).get(attr):
                return f"{self.where(call)} {name}() from {stem}, {origin}"
        if name in self.funcs and f"def {name}" in self.tainted:
            return self.tainted[f"def {name}"]
        if self.refs.hub_ids and self._names_hub(call):
            args = [*call.args, *(k.value for k in call.keywords)]
            split = [s for a in args for s in _strings(a)]
            if not self.refs.splits or any(self._test_split(s) for s in split):
                return f"{self.where(call)} {self.snippet(call)}"
        return None

    # propagation
    def _taint(self, names: list[str], why: str) -> bool:
        new = [n for n in names if n not in self.tainted]
        for n in new:
            self.tainted[n] = why
        return bool(new)

    def step(self) -> bool:
        """One pass over the module; True when anything new was tainted."""
        changed = False
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign) and node.value:
                targets: list[ast.expr] = (
                    list(node.targets) if isinstance(node, ast.Assign) else [node.target]
                )
                if isinstance(node.value, ast.Call) and self._names_hub(node.value):
                    new = {n for t in targets for n in _target_names(t)} - self.hub_loads
                    self.hub_loads |= new
                    changed |= bool(new)
                changed |= self._assign(targets, node.value)
            elif isinstance(node, ast.For | ast.AsyncFor | ast.comprehension):
                if why := self.source(node.iter):
                    changed |= self._taint(_target_names(node.target), why)
            elif isinstance(node, ast.withitem) and node.optional_vars is not None:
                if why := self.source(node.context_expr):
                    changed |= self._taint(_target_names(node.optional_vars), why)
            elif isinstance(node, ast.Call):
                changed |= self._call(node)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                returns = [
                    sub.value
                    for sub in ast.walk(node)
                    if isinstance(sub, ast.Return | ast.Yield) and sub.value is not None
                ]
                if why := next((w for v in returns if (w := self.source(v))), None):
                    changed |= self._taint([f"def {node.name}"], why)
        return changed

    def _assign(self, targets: list[ast.expr], value: ast.expr) -> bool:
        pairs = [(t, value) for t in targets]
        if (
            len(targets) == 1
            and isinstance(targets[0], ast.Tuple | ast.List)
            and isinstance(value, ast.Tuple | ast.List)
            and len(targets[0].elts) == len(value.elts)
        ):  # a, b = x, y: pairwise
            pairs = list(zip(targets[0].elts, value.elts, strict=True))
        changed = False
        for target, val in pairs:
            if why := self.source(val):
                changed |= self._taint(_target_names(target), why)
        return changed

    def _call(self, call: ast.Call) -> bool:
        changed = False
        name = _calls_name(call.func)
        args = [*call.args, *(k.value for k in call.keywords)]
        why = next((w for a in args if (w := self.source(a))), None)
        if why and name in MUTATORS and isinstance(call.func, ast.Attribute):
            changed |= self._taint([n for n in [_base_name(call.func.value)] if n], why)
        if why and name in self.funcs:
            fn = self.funcs[name]
            params = [a.arg for a in fn.args.args]
            hit = [p for p, a in zip(params, call.args, strict=False) if self.source(a)]
            by_kw = {short(p): p for p in params}
            hit += [by_kw[k.arg] for k in call.keywords if k.arg in by_kw and self.source(k.value)]
            changed |= self._taint(hit, why)
        receiver = isinstance(call.func, ast.Attribute) and self.source(call.func.value)
        if name in WRITERS and (why or receiver):
            changed |= self._written(call, why or str(receiver))
        return changed

    def _written(self, call: ast.Call, why: str) -> bool:
        """Tainted data written: the file names the call (or its file handle) names."""
        names: list[str] = []
        for node in ast.walk(call):
            if isinstance(node, ast.Name):
                names += self.consts.get(node.id, [])
                names += self._handle_paths(node.id)
        names += _strings(call)
        changed = False
        for text in names:
            base = PurePosixPath(text.strip()).name
            if PATHLIKE.fullmatch(base) and base not in self.links.files:
                self.links.files[base] = f"{self.where(call)} {self.snippet(call)} [{why}]"
                self.writes[base] = self.where(call)
                changed = True
        return changed

    def _handle_paths(self, handle: str) -> list[str]:
        out: list[str] = []
        for node in ast.walk(self.tree):
            bound: list[tuple[ast.expr, ast.expr | None]] = []
            if isinstance(node, ast.withitem):
                bound = [(node.context_expr, node.optional_vars)]
            elif isinstance(node, ast.Assign) and len(node.targets) == 1:
                bound = [(node.value, node.targets[0])]
            for value, var in bound:
                if isinstance(var, ast.Name) and var.id == handle and isinstance(value, ast.Call):
                    out += _strings(value)
                    out += [
                        s
                        for n in ast.walk(value)
                        if isinstance(n, ast.Name)
                        for s in self.consts.get(n.id, [])
                    ]
        return out

    # sinks
    def sinks(self) -> list[Flow]:
        flows: list[Flow] = []
        for node in ast.walk(self.tree):
            if not isinstance(node, ast.Call):
                continue
            name = _calls_name(node.func)
            if name == "backward" and isinstance(node.func, ast.Attribute):
                if why := self.source(node.func.value):
                    flows.append(Flow(why, f"{self.where(node)} {self.snippet(node)}"))
            elif TRAINER.search(name) and name not in self.funcs:
                args = [*node.args, *(k.value for k in node.keywords)]
                if why := next((w for a in args if (w := self.source(a))), None):
                    flows.append(Flow(why, f"{self.where(node)} {self.snippet(node)}"))
        return flows

    def trains(self) -> bool:
        """Whether the module trains at all (a trainer or ``.backward()``), tainted or not."""
        return any(
            isinstance(n, ast.Call)
            and (TRAINER.search(_calls_name(n.func)) or _calls_name(n.func) == "backward")
            and not (isinstance(n.func, ast.Attribute) and n.func.attr == "train" and not n.args)
            for n in ast.walk(self.tree)
        )

    def export(self) -> None:
        stem = PurePosixPath(self.name.split("#")[0].split(":")[0]).stem
        out = self.links.exports.setdefault(stem, {})
        for key, why in self.tainted.items():  # module-level names and functions only
            if "." not in key and "@" not in key:
                out.setdefault(key.removeprefix("def "), why)


def analyse(
    modules: dict[str, ast.Module],
    refs: TestRefs,
    links: Links,
    texts: dict[str, str] | None = None,
) -> list[ModuleFlow]:
    """Run every module to a common fixpoint (taint crosses modules through ``links``)."""
    texts = texts or {}
    flows = [ModuleFlow(n, tree, refs, links, texts.get(n, "")) for n, tree in modules.items()]
    for _ in range(20):
        before = (len(links.files), sum(len(v) for v in links.exports.values()))
        changed = False
        for mf in flows:
            while mf.step():
                changed = True
            mf.export()
        after = (len(links.files), sum(len(v) for v in links.exports.values()))
        if not changed and before == after:
            break
    for mf in flows:
        mf.flows = mf.sinks()
    return flows
