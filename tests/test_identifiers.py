"""Names from outside erpgen reach SQL text only as the dialect quotes them (issue 19).

Two halves:
- a lint over erpgen's source: SQL text may be formatted only from erpgen's own names (literals, module
  constants, its schema's names) and from what the quoting helpers return (erpgen.sinks.names.quote or
  qualified, SQLAlchemy's quote_identifier, psycopg's sql.Identifier); any other value in SQL text (a
  database name, a name read back from the server, a parameter whose callers pass such a name) fails;
- loads into databases whose names hold what SQL quoting has to get right, on every server: generate,
  --replace, --resume after a kill, validate, verify and report, and no other database touched.
"""

from __future__ import annotations

import ast
import contextlib
import itertools
import os
import re
import secrets
import signal
import subprocess
import sys
import textwrap
import time
from collections import defaultdict
from pathlib import Path

import pytest
from sqlalchemy import event, inspect, text
from sqlalchemy.engine import URL, Engine

from erpgen.database import connect
from erpgen.sinks.mysql import SCRATCH_PREFIX, load_lock, resume_database
from erpgen.sinks.names import like_prefix, quote
from erpgen.sinks.postgres import STAGE_PREFIX
from erpgen.urls import parse

from .conftest import REPO, named_database
from .helpers import assert_one_clean_line, wait_for

# -- the lint -------------------------------------------------------------------------------------------

# Calls whose first argument (or the keyword argument of SQL_KEYWORDS) is SQL text.
SQL_TAKERS = {"exec_driver_sql", "execute", "executemany", "executescript", "mogrify", "text", "copy",
              "literal_column", "DDL", "read_sql", "read_sql_query"}  # fmt: skip
SQL_KEYWORDS = {"statement", "sql", "query", "operation"}
# The quoting helpers: their result is safe in SQL text, whatever name they were given. erpgen's own
# (only as imported from QUOTING_MODULE), SQLAlchemy's identifier preparer, psycopg.sql's.
QUOTING_MODULE, OUR_QUOTERS = "erpgen.sinks.names", {"quote", "qualified"}
THEIR_QUOTERS = {"quote_identifier", "Identifier", "Literal"}
# Calls that return a number (or a bool), whatever their arguments.
NUMERIC = {"int", "float", "len", "bool", "round", "abs", "sum", "range", "isinstance", "count"}
# Calls and attributes that give hex digits (a random token, a hash), whatever they were given.
HEX = {"hex", "hexdigest", "token_hex"}
# Builtins whose result holds only what their arguments hold.
PASS_BUILTINS = {"str", "tuple", "list", "sorted", "reversed", "set", "frozenset", "next", "min", "max",
                 "iter", "zip", "enumerate", "dict", "filter"}  # fmt: skip
# Methods (of str, psycopg's sql.SQL; and of dict) whose result holds only what their receiver and arguments hold.
TEXT_METHODS = {"join", "format", "replace", "lower", "upper", "strip", "lstrip", "rstrip", "split",
                "removeprefix", "removesuffix", "ljust", "rjust", "zfill", "SQL"}  # fmt: skip
PASS_METHODS = TEXT_METHODS | {"items", "keys", "values", "get"}  # and of a dict's
# Methods that put their arguments into their receiver (a list, a set, a dict).
FILLERS = {"append", "extend", "add", "update", "insert", "setdefault"}
# A module constant (UPPER_CASE) is erpgen's own: a literal, or its schema's metadata.
CONSTANT = re.compile(r"^_*[A-Z][A-Z0-9_]*$")


def _terminal(func: ast.expr) -> str | None:
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None


class _Scope:
    """A function (or a module): its parameters, the bindings of its local names, what it returns."""

    def __init__(self, node: ast.AST, parent: _Scope | None, path: str, receiver: str | None = None,
                 cls: ast.ClassDef | None = None):  # fmt: skip
        self.node, self.parent, self.path, self.receiver, self.cls = node, parent, path, receiver, cls
        self.params: dict[str, ast.expr | None] = {}  # name -> default
        self.bindings: dict[str, list[tuple[str, ast.expr | None, tuple]]] = defaultdict(list)
        self.returns: list[tuple[ast.expr, tuple]] = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            a = node.args
            positional = a.posonlyargs + a.args
            defaults = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
            self.positional = [p.arg for p in positional]
            self.params = dict(zip(self.positional, defaults, strict=True))
            self.params.update({p.arg: d for p, d in zip(a.kwonlyargs, a.kw_defaults, strict=True)})
            for extra in (a.vararg, a.kwarg):
                if extra is not None:
                    self.bindings[extra.arg].append(("opaque", None, ()))


class Lint:
    """Which SQL text in a set of modules is formatted from a value that is neither erpgen's own nor quoted.

    Trust flows as values do: a local name is as trusted as everything bound to it, a parameter as the
    arguments of every call to its function found in the modules (none found, or the function passed
    around as a value: not trusted), an attribute of self (or of a name bound to an instance of one of
    the modules' classes) as everything assigned to any `self.<that attribute>`, an attribute of any
    other object as that object, a call to a function of the modules as what it returns, any other call
    not at all. Functions and attributes are matched by name, so a match too many only makes the lint
    stricter."""

    def __init__(self, sources: dict[str, str]):
        self.scopes: list[_Scope] = []
        self.defs: dict[str, list[_Scope]] = defaultdict(list)  # read with .get(): no key made
        self.classes: dict[str, list[ast.ClassDef]] = defaultdict(list)
        # (family of classes, attribute) -> what is assigned to self.<attribute> in them
        self.attrs: dict[tuple[str, str], list[tuple[_Scope, str, ast.expr | None, tuple]]] = defaultdict(
            list
        )
        self.family: dict[str, str] = {}  # class name -> its family's: classes related by inheritance
        self.calls: list[tuple[ast.Call, _Scope, tuple]] = []
        self.passed: list[tuple[ast.expr, _Scope]] = []  # the arguments of every call
        self.busy: set[tuple[int, str]] = set()  # the local names being resolved
        self.context: dict[int, dict[str, bool]] = {}  # functions being followed: what their call passes
        self.reason = ""  # why the expression last found untrusted is
        self._assigned: list[tuple[ast.ClassDef, str, tuple]] = []
        self._following = 0  # how many parameters _ours is following through their call sites
        self._ours_known: dict[tuple[str, int], set[str]] = {}  # (name, id(scope)) -> _ours, asked afresh
        for path, source in sources.items():
            module = ast.parse(source, path)
            self._walk_scope(_Scope(module, None, path), module.body)
        for name, classes in self.classes.items():
            for cls in classes:
                for base in cls.bases:
                    if _terminal(base) in self.classes:
                        self._union(name, _terminal(base))
        for cls, attr, source in self._assigned:
            self.attrs[(self._find(cls.name), attr)].append(source)
        self.escaped = {_terminal(a) for a, scope in self.passed if self._is_function(a, scope)}
        self.sites = self._call_sites()
        self._solve()

    # -- reading the modules ------------------------------------------------------------------------------
    def _walk_scope(self, scope: _Scope, body) -> None:
        self.scopes.append(scope)
        for stmt in body if isinstance(body, list) else [body]:
            self._visit(stmt, scope, ())

    def _bind(self, target: ast.expr, scope: _Scope, kind: str, value, comps: tuple) -> None:
        if isinstance(target, ast.Name):
            scope.bindings[target.id].append((kind, value, comps))
        elif isinstance(target, (ast.Tuple, ast.List)):
            pairs = (  # a, b = x, y: each from its own
                kind == "value" and isinstance(value, (ast.Tuple, ast.List)) and len(value.elts) == len(target.elts)
                and not any(isinstance(e, ast.Starred) for e in [*target.elts, *value.elts])
            )  # fmt: skip
            for i, elt in enumerate(target.elts):
                self._bind(elt, scope, kind, value.elts[i] if pairs else value, comps)
        elif isinstance(target, ast.Starred):
            self._bind(target.value, scope, kind, value, comps)
        elif isinstance(target, ast.Subscript):  # d[k] = v: d holds k and v too
            self._bind(
                target.value,
                scope,
                kind,
                ast.Tuple([target.slice, value]) if kind == "value" else value,
                comps,
            )
        elif isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
            if target.value.id == scope.receiver and scope.cls is not None:
                self._assigned.append((scope.cls, target.attr, (scope, kind, value, comps)))

    def _visit(self, node: ast.AST, scope: _Scope, comps: tuple) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            for default in [*node.args.defaults, *[d for d in node.args.kw_defaults if d is not None]]:
                self._visit(default, scope, comps)
            if not isinstance(node, ast.Lambda):
                scope.bindings[node.name].append(("def", node, ()))
                for deco in node.decorator_list:
                    self._visit(deco, scope, comps)
            self._function(node, scope, None)
            return
        if isinstance(node, ast.ClassDef):
            scope.bindings[node.name].append(("def", node, ()))
            self.classes[node.name].append(node)
            for stmt in node.body:
                if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    static = any(_terminal(d) == "staticmethod" for d in stmt.decorator_list)
                    receiver = None if static or not stmt.args.args else stmt.args.args[0].arg
                    self._function(stmt, scope, receiver, node)
                elif isinstance(stmt, (ast.Assign, ast.AnnAssign)):  # class attributes
                    targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                    for t in targets:
                        if isinstance(t, ast.Name):
                            self._assigned.append((node, t.id, (scope, "value", stmt.value, comps)))
                    if stmt.value is not None:
                        self._visit(stmt.value, scope, comps)
            return
        if isinstance(node, ast.Assign):
            for t in node.targets:
                self._bind(t, scope, "value", node.value, comps)
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign, ast.NamedExpr)) and node.value is not None:
            self._bind(node.target, scope, "value", node.value, comps)
        elif isinstance(node, (ast.For, ast.AsyncFor)):
            self._bind(node.target, scope, "iter", node.iter, comps)
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                if item.optional_vars is not None:
                    self._bind(item.optional_vars, scope, "value", item.context_expr, comps)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            scope.bindings[node.name].append(("opaque", None, ()))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                module = node.module if isinstance(node, ast.ImportFrom) else alias.name
                ours = (module or "").startswith("erpgen") or getattr(node, "level", 0)
                scope.bindings[(alias.asname or alias.name).split(".")[0]].append(
                    ("def" if ours else "import", node, ())
                )
        elif isinstance(node, (ast.Return, ast.Yield, ast.YieldFrom)) and node.value is not None:
            scope.returns.append((node.value, comps))
        elif isinstance(node, ast.Call):
            if isinstance(node.func, ast.Attribute) and node.func.attr in FILLERS:  # xs.append(x): xs holds x
                filled = [*node.args, *(k.value for k in node.keywords)]
                self._bind(node.func.value, scope, "value", ast.Tuple(filled), comps)
            self.calls.append((node, scope, comps))
            self.passed += [(a, scope) for a in [*node.args, *(k.value for k in node.keywords)]]
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            inner = (*comps, node)
            for i, gen in enumerate(node.generators):
                self._visit(gen.iter, scope, comps if i == 0 else inner)
                for cond in gen.ifs:
                    self._visit(cond, scope, inner)
            for part in (node.key, node.value) if isinstance(node, ast.DictComp) else (node.elt,):
                self._visit(part, scope, inner)
            return
        for child in ast.iter_child_nodes(node):
            self._visit(child, scope, comps)

    def _function(self, node, parent: _Scope, receiver: str | None, cls: ast.ClassDef | None = None) -> None:
        scope = _Scope(node, parent, parent.path, receiver, cls)
        if not isinstance(node, ast.Lambda):
            self.defs[node.name].append(scope)
        self._walk_scope(scope, node.body)

    def _find(self, name: str) -> str:
        while self.family.get(name, name) != name:
            name = self.family[name]
        return name

    def _union(self, a: str, b: str) -> None:
        self.family[self._find(a)] = self._find(b)

    def _lookup(self, name: str, scope: _Scope) -> _Scope | None:
        """The scope that binds `name` as seen from `scope`."""
        s: _Scope | None = scope
        while s is not None and name != s.receiver and name not in s.params and name not in s.bindings:
            s = s.parent
        return s

    def _is_function(self, e: ast.expr, scope: _Scope) -> bool:
        """Whether `e` names a function of the modules (passed as a value, it may be called from anywhere)."""
        if isinstance(e, ast.Attribute):
            return bool(self._methods(e.attr, self._ours(e.value, scope)))
        if not isinstance(e, ast.Name) or e.id not in self.defs:
            return False
        s = self._lookup(e.id, scope)
        return s is not None and any(kind == "def" for kind, _, _ in s.bindings.get(e.id, []))

    def _ours(self, receiver: ast.expr, scope: _Scope) -> set[str]:
        """The families of classes `receiver` is an instance of, if it is self, super(), or a name bound
        only to instances of the modules' classes; else none."""
        # Asked afresh (no parameter of its own being followed), the answer for a name in a scope is fixed
        # once the call sites are known: kept, since _solve asks the same questions on every round and
        # following parameters through their call sites is costly (a minute over erpgen's sources).
        # Asked while following, the answer may depend on what is being followed, so it is not kept.
        fresh = isinstance(receiver, ast.Name) and not self._following and hasattr(self, "sites")
        if fresh and (receiver.id, id(scope)) in self._ours_known:
            return set(self._ours_known[(receiver.id, id(scope))])
        found = self._ours_uncached(receiver, scope)
        if fresh:
            self._ours_known[(receiver.id, id(scope))] = set(found)
        return found

    def _ours_uncached(self, receiver: ast.expr, scope: _Scope) -> set[str]:
        if isinstance(receiver, ast.Call) and _terminal(receiver.func) == "super":
            receiver = ast.Name("self")
        elif isinstance(receiver, ast.Call) and _terminal(receiver.func) in self.classes:
            return {self._find(_terminal(receiver.func))}
        if not isinstance(receiver, ast.Name) or (s := self._lookup(receiver.id, scope)) is None:
            return set()
        if receiver.id == s.receiver:
            return {self._find(s.cls.name)} if s.cls is not None else set()
        if receiver.id in s.params:  # ours if every call passes one of ours
            key = (id(s.node), receiver.id)
            if key in self.busy or not hasattr(self, "sites"):
                return set()
            self.busy.add(key)
            self._following += 1
            try:
                found = [self._ours(arg, caller) if arg is not None else set()
                         for arg, caller, _, _ in self.sites.get(key, [])]  # fmt: skip
                return set().union(*found) if found and all(found) else set()
            finally:
                self._following -= 1
                self.busy.discard(key)
        bound = [self._ours(v, s) if k == "value" else set() for k, v, _ in s.bindings.get(receiver.id, [])]
        return set().union(*bound) if bound and all(bound) else set()

    def _methods(self, name: str, families: set[str]) -> list[_Scope]:
        return [
            s for s in self.defs.get(name, []) if s.cls is not None and self._find(s.cls.name) in families
        ]

    # -- trust ---------------------------------------------------------------------------------------------
    def _solve(self) -> None:
        """The greatest fixpoint: everything starts trusted and loses trust until nothing changes."""
        self.param_ok: dict[tuple[int, str], bool] = {}
        self.param_why: dict[tuple[int, str], str] = {}
        self.return_ok: dict[int, bool] = {}
        self.attr_ok: dict[str, bool] = {}
        while True:
            params, why = self._param_trust()
            returns = {id(s.node): all(self.ok(v, s, c) for v, c in s.returns) for s in self.scopes}
            attrs = {
                name: all(self._source_ok(kind, value, scope, comps) for scope, kind, value, comps in srcs)
                for name, srcs in self.attrs.items()
            }
            if (params, returns, attrs) == (self.param_ok, self.return_ok, self.attr_ok):
                return
            self.param_ok, self.param_why, self.return_ok, self.attr_ok = params, why, returns, attrs

    def _functions(self, func: ast.expr) -> list[_Scope]:
        """The functions a call of `func` may reach: x.f() a method or a module's function, f() a
        function (of a module, or nested in another)."""
        if isinstance(func, ast.Attribute):
            return [s for s in self.defs.get(func.attr, []) if s.cls is not None or s.parent.parent is None]
        return [s for s in self.defs.get(_terminal(func), []) if s.cls is None]

    def _callees(self, call: ast.Call) -> list[tuple[_Scope, int]]:
        """Every function the call may reach, with how many of its leading parameters the call skips."""
        found = [(s, 1 if s.receiver else 0) for s in self._functions(call.func)]
        for cls in self.classes.get(_terminal(call.func), []):
            found += [(s, 1) for s in self._inits(cls)]
        return found

    def _inits(self, cls: ast.ClassDef, seen=()) -> list[_Scope]:
        own = [s for s in self.defs["__init__"] if s.node in cls.body]
        if own or cls.name in seen:
            return own
        return [s for b in cls.bases for base in self.classes.get(_terminal(b), []) for s in
                self._inits(base, (*seen, cls.name))]  # fmt: skip

    def _call_sites(self) -> dict[tuple[int, str], list[tuple[ast.expr | None, _Scope, tuple, int]]]:
        """For each parameter, what every call found passes it (None: something unknown, *args or **kw)."""
        sites: dict[tuple[int, str], list] = defaultdict(list)
        for call, scope, comps in self.calls:
            for callee, skip in self._callees(call):
                passed: dict[str, ast.expr | None] = {}
                if any(isinstance(a, ast.Starred) for a in call.args) or any(
                    k.arg is None for k in call.keywords
                ):
                    passed = dict.fromkeys(callee.params)
                for i, arg in enumerate(call.args):
                    if skip + i < len(callee.positional):
                        passed[callee.positional[skip + i]] = arg
                passed.update({k.arg: k.value for k in call.keywords if k.arg in callee.params})
                for p, arg in passed.items():
                    sites[(id(callee.node), p)].append((arg, scope, comps, call.lineno))
        for s in self.scopes:  # a function called from elsewhere, or passed around as a value
            if getattr(s.node, "name", None) in self.escaped or not any(
                (id(s.node), p) in sites for p in s.params
            ):
                for p in s.params:
                    sites[(id(s.node), p)].append((None, s, (), 0))
        return sites

    def _param_trust(self) -> tuple[dict[tuple[int, str], bool], dict[tuple[int, str], str]]:
        trust: dict[tuple[int, str], bool] = {}
        why: dict[tuple[int, str], str] = {}
        for key, sites in self.sites.items():
            trust[key] = True
            for arg, scope, comps, line in sites:
                if arg is None:
                    trust[key], why[key] = False, "is called from elsewhere, or passed around as a value"
                    break
                if not self.ok(arg, scope, (), self._env(comps, scope)):
                    trust[key], why[key] = (
                        False,
                        f"is passed {ast.unparse(arg)[:60]!r} at {scope.path}:{line}",
                    )
                    break
        for s in self.scopes:
            for p, default in s.params.items():
                if default is not None and s.parent is not None and not self.ok(default, s.parent):
                    key = (id(s.node), p)
                    trust[key], why[key] = False, f"defaults to {ast.unparse(default)!r}"
        return trust, why

    def _env(self, comps: tuple, scope: _Scope, env: dict | None = None) -> dict[str, bool]:
        """The trust of the names that the comprehensions around an expression bind."""
        env = dict(env or {})
        for comp in comps:
            for gen in comp.generators:
                ok = self.ok(gen.iter, scope, (), env)
                for t in ast.walk(gen.target):
                    if isinstance(t, ast.Name):
                        env[t.id] = ok
        return env

    def _source_ok(self, kind: str, value, scope: _Scope, comps: tuple) -> bool:
        if kind == "def":  # a function, a class or a module of erpgen's, or a name imported from one
            return True
        if kind == "import":
            self.reason = f"{ast.unparse(value)!r} brings a value from outside erpgen"
            return False
        if kind == "opaque":
            self.reason = "it is bound by an except clause, *args or **kwargs"
            return False
        return self.ok(value, scope, (), self._env(comps, scope))

    def _name_ok(self, name: str, scope: _Scope) -> bool:
        s = self._lookup(name, scope)
        if s is None:
            if CONSTANT.match(name):
                return True
            self.reason = f"{name} is neither bound here nor a module constant"
            return False
        if name == s.receiver:
            return True
        if name in s.params:
            key = (id(s.node), name)
            given = self.context.get(id(s.node), {})
            if name in given:  # what the call being followed passes
                if not given[name]:
                    self.reason = f"parameter {name} of {s.path}:{s.node.lineno} is passed such a value"
                return given[name]
            if self.param_ok.get(key, True):
                return True
            self.reason = f"parameter {name} of {s.path}:{s.node.lineno} {self.param_why.get(key, '')}"
            return False
        key = (id(s), name)
        if key in self.busy:  # x = x + ...: its other bindings decide
            return True
        self.busy.add(key)
        try:
            for kind, value, comps in s.bindings[name]:
                if not self._source_ok(kind, value, s, comps):
                    where = f"{s.path}:{getattr(value, 'lineno', '?')}"
                    self.reason = f"{name} is bound at {where} where {self.reason}"
                    return False
            return True
        finally:
            self.busy.discard(key)

    def ok(self, e: ast.expr | None, scope: _Scope, comps: tuple = (), env: dict | None = None) -> bool:
        """Whether `e` holds only erpgen's own names and quoted ones."""
        env = self._env(comps, scope, env) if comps else (env or {})

        def ok(x) -> bool:
            return self.ok(x, scope, (), env)

        if e is None or isinstance(e, (ast.Constant, ast.Compare, ast.Lambda)):
            return True
        if isinstance(e, ast.Name):
            return env[e.id] if e.id in env else self._name_ok(e.id, scope)
        if isinstance(e, ast.Attribute):
            if e.attr in HEX:
                return True
            families = self._ours(e.value, scope)
            if not families:  # another object's attribute: as trusted as the object
                return ok(e.value)
            if methods := self._methods(e.attr, families):  # a property, or a method
                return all(self.return_ok.get(id(s.node), True) for s in methods)
            if not all(self.attr_ok.get((f, e.attr), True) for f in families):
                self.reason = (
                    f"some self.{e.attr} is assigned a value that is neither erpgen's own nor quoted"
                )
                return False
            return True
        if isinstance(e, (ast.Subscript, ast.FormattedValue, ast.Starred, ast.Await)):
            return ok(e.value)
        if isinstance(e, (ast.JoinedStr, ast.BoolOp)):
            return all(ok(v) for v in e.values)
        if isinstance(e, (ast.Tuple, ast.List, ast.Set)):
            return all(ok(v) for v in e.elts)
        if isinstance(e, ast.Dict):
            return all(ok(v) for v in [*e.keys, *e.values])
        if isinstance(e, ast.BinOp):
            return ok(e.left) and ok(e.right)
        if isinstance(e, ast.UnaryOp):
            return ok(e.operand)
        if isinstance(e, ast.IfExp):
            return ok(e.body) and ok(e.orelse)
        if isinstance(e, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            inner = self._env((e,), scope, env)
            parts = (e.key, e.value) if isinstance(e, ast.DictComp) else (e.elt,)
            return all(self.ok(p, scope, (), inner) for p in parts)
        if isinstance(e, ast.Call):
            return self._call_ok(e, scope, env)
        self.reason = f"{ast.unparse(e)[:60]!r} is an expression the lint does not follow"
        return False

    def _call_ok(self, call: ast.Call, scope: _Scope, env: dict) -> bool:
        name, func = _terminal(call.func), call.func
        args = [*call.args, *(k.value for k in call.keywords)]

        def ok(x) -> bool:
            return self.ok(x, scope, (), env)

        if self._quoter(func, scope) or name in NUMERIC or name in HEX:
            return True
        if isinstance(func, ast.Name) and name == "map" and call.args and self._quoter(call.args[0], scope):
            return True
        if isinstance(func, ast.Name) and name in PASS_BUILTINS and name not in self.defs:
            return all(ok(a) for a in call.args)
        if isinstance(func, ast.Attribute) and name in PASS_METHODS:
            return (self._imported(func.value, scope) or ok(func.value)) and all(ok(a) for a in args)
        if name in self.classes:  # an instance of erpgen's: it holds what it was given
            return all(ok(a) for a in args)
        families = self._ours(func.value, scope) if isinstance(func, ast.Attribute) else set()
        functions = self._methods(name, families) if families else self._functions(func)
        if functions and (not isinstance(func, ast.Attribute) or families or ok(func.value)):
            for callee in functions:
                if not self._returns_ok(callee, call, scope, env):
                    self.reason = (
                        f"{name}() ({callee.path}:{callee.node.lineno}) returns a value where {self.reason}"
                    )
                    return False
            return True
        self.reason = f"{ast.unparse(call)[:60]!r} ({scope.path}:{call.lineno}) comes from outside erpgen"
        return False

    def _imported(self, e: ast.expr, scope: _Scope) -> list[ast.Import | ast.ImportFrom]:
        """The imports that bind `e`, if it is a name bound by imports only (a module, say)."""
        s = self._lookup(e.id, scope) if isinstance(e, ast.Name) else None
        bound = s.bindings.get(e.id, []) if s is not None and e.id not in s.params else []
        imports = [v for _, v, _ in bound if isinstance(v, (ast.Import, ast.ImportFrom))]
        return imports if bound and len(imports) == len(bound) else []

    def _quoter(self, func: ast.expr, scope: _Scope) -> bool:
        """Whether `func` is a quoting helper: erpgen's from QUOTING_MODULE (not any function named
        quote), SQLAlchemy's quote_identifier, psycopg.sql's Identifier or Literal."""
        name = _terminal(func)
        if name in THEIR_QUOTERS:
            return True
        if name not in OUR_QUOTERS:
            return False
        if isinstance(func, ast.Attribute):  # names.quote, erpgen.sinks.names.quote
            module = ast.unparse(func.value)
            imports = self._imported(ast.Name(module.split(".")[0]), scope)
            return module.endswith("names") and any(
                isinstance(i, ast.Import) or f"{i.module}.{module}" == QUOTING_MODULE for i in imports
            ) or module == QUOTING_MODULE  # fmt: skip
        s = self._lookup(name, scope)
        bound = s.bindings.get(name, []) if s is not None else []
        return bool(bound) and all(
            (isinstance(v, ast.ImportFrom) and v.module == QUOTING_MODULE)
            or (isinstance(v, ast.FunctionDef) and s.path == QUOTING_MODULE.replace(".", "/") + ".py")
            for _, v, _ in bound
        )

    def _returns_ok(self, callee: _Scope, call: ast.Call, scope: _Scope, env: dict) -> bool:
        """Whether what `callee` returns is trusted, given what this call passes it (a function that
        formats its parameters, a few calls deep; deeper, or recursive: given what every call passes)."""
        if (
            len(self.context) >= 3
            or id(callee.node) in self.context
            or any(isinstance(a, ast.Starred) for a in call.args)
            or any(k.arg is None for k in call.keywords)
        ):
            return self.return_ok.get(id(callee.node), True)
        skip = (
            1
            if callee.receiver
            and (isinstance(call.func, ast.Attribute) or _terminal(call.func) in self.classes)
            else 0
        )
        given = {p: self.ok(a, scope, (), env) for p, a in zip(callee.positional[skip:], call.args)}
        given.update(
            {k.arg: self.ok(k.value, scope, (), env) for k in call.keywords if k.arg in callee.params}
        )
        self.context[id(callee.node)] = given
        try:
            return all(self.ok(v, callee, c) for v, c in callee.returns)
        finally:
            del self.context[id(callee.node)]

    def _is_text(self, e: ast.expr, scope: _Scope) -> bool:
        """Whether `e` may be SQL text (rather than a SQLAlchemy construct, which quotes for itself)."""
        if isinstance(e, ast.Call):
            name = _terminal(e.func)
            return bool(self._functions(e.func)) or name in TEXT_METHODS or name in PASS_BUILTINS
        if isinstance(e, ast.Name) and (s := self._lookup(e.id, scope)) is not None and e.id in s.bindings:
            return any(k != "value" or self._is_text(v, s) for k, v, _ in s.bindings[e.id])
        return True

    def violations(self) -> list[str]:
        found = []
        for call, scope, comps in self.calls:
            given = [*call.args[:1], *(k.value for k in call.keywords if k.arg in SQL_KEYWORDS)]
            if _terminal(call.func) not in SQL_TAKERS or not given:
                continue
            sql, env = given[0], self._env(comps, scope)
            if self._is_text(sql, scope) and not self.ok(sql, scope, (), env):
                reason = self.reason
                parts = [v.value for v in sql.values if isinstance(v, ast.FormattedValue)] if isinstance(
                    sql, ast.JoinedStr) else [sql]  # fmt: skip
                bad = [p for p in parts if not self.ok(p, scope, (), env)] or [sql]
                shown = ", ".join(ast.unparse(p) for p in bad)
                found.append(f"{scope.path}:{call.lineno}: SQL text formatted from {shown}: {reason}")
        return found


def lint(sources: dict[str, str]) -> list[str]:
    return Lint({path: textwrap.dedent(src) for path, src in sources.items()}).violations()


def erpgen_sources() -> dict[str, str]:
    files = sorted((REPO / "erpgen").rglob("*.py")) + sorted((REPO / "alembic").rglob("*.py"))
    return {str(p.relative_to(REPO)): p.read_text() for p in files}


def test_no_sql_is_formatted_from_a_name_that_was_not_quoted():
    sources = erpgen_sources()
    assert "erpgen/sinks/mysql.py" in sources and "exec_driver_sql" in sources["erpgen/sinks/mysql.py"]
    linted = Lint({path: textwrap.dedent(src) for path, src in sources.items()})  # as lint() does, once
    assert linted.calls, "the lint found no calls at all"
    assert linted.violations() == []


# Each: a module that formats SQL from a name erpgen did not choose, or a value, in one of the ways the
# lint must see through.
PLANTED = {
    "a parameter": """
        def drop(conn, url):
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{url.database}`")
        """,
    "a name read back from the server": """
        def drop_scratch(conn):
            for (name,) in conn.exec_driver_sql("SHOW DATABASES LIKE 'erpgen!_scratch!_%%' ESCAPE '!'").all():
                conn.exec_driver_sql("DROP DATABASE `%s`" % name)
        """,
    "an attribute derived from the target": """
        class Sink:
            def __init__(self, url):
                self.waiting = "erpgen_resume_" + url.database

            def begin(self, conn):
                sql = "SELECT count(*) FROM `{}`.erpgen_runs".format(self.waiting)
                return conn.exec_driver_sql(sql).scalar()

        def run(url, conn):
            return Sink(url).begin(conn)
        """,
    "a helper that formats its argument": """
        from sqlalchemy import text

        def _rename(old, new):
            return f"RENAME TABLE {old} TO {new}"

        def publish(conn, url):
            conn.execute(text(_rename("erpgen_scratch_1_ab.customers", url.database + ".customers")))
        """,
    "a value in a string literal": """
        def count(conn, schema):
            return conn.exec_driver_sql(
                f"SELECT count(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{schema}'"
            ).scalar()
        """,
    "a name quoted by something else than the quoting helpers": """
        import shlex
        from urllib.parse import quote

        def drop(conn, url):
            conn.exec_driver_sql(f"DROP DATABASE {shlex.quote(url.database)}")
            conn.exec_driver_sql(f"DROP DATABASE {quote(url.database)}")
        """,
    "a value brought by an import": """
        from os import environ

        def drop(conn):
            conn.exec_driver_sql("DROP DATABASE " + environ["TARGET"])
        """,
    "a list filled with a name": """
        def rename(conn, url):
            moves = []
            moves.append(url.database + ".customers TO old.customers")
            conn.exec_driver_sql("RENAME TABLE " + ", ".join(moves))
        """,
    "index names read back": """
        from sqlalchemy import inspect

        from erpgen.schema import BULK

        def defer(conn):
            for table in BULK:
                adds = [f"DROP INDEX {ix['name']}" for ix in inspect(conn).get_indexes(table.name)]
                conn.exec_driver_sql(f"ALTER TABLE {table.name} {', '.join(adds)}")
        """,
}

QUOTED = {
    "names quoted, values as parameters, erpgen's own names as they are": """
        from sqlalchemy import inspect

        from erpgen.schema import BULK, TABLES
        from erpgen.sinks import names
        from erpgen.sinks.names import qualified, quote

        def drop_waiting(conn, url):
            conn.exec_driver_sql("DROP DATABASE IF EXISTS " + names.quote(conn, "erpgen_resume_" + url.database))

        def drop(conn, url):
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {quote(conn, url.database)}")
            for (name,) in conn.exec_driver_sql("SELECT SCHEMA_NAME FROM x WHERE SCHEMA_NAME = %s", (url.database,)):
                conn.exec_driver_sql("DROP DATABASE %s" % quote(conn, name))
            moves = [f"{qualified(conn, url.database, t.name)} TO {qualified(conn, 'old', t.name)}" for t in TABLES]
            conn.exec_driver_sql(f"RENAME TABLE {', '.join(moves)}")

        def defer(conn):
            for table in BULK:
                for ix in inspect(conn).get_indexes(table.name):
                    conn.exec_driver_sql(f"ALTER TABLE {table.name} DROP INDEX {quote(conn, ix['name'])}")

        def copy(cur, table, columns):
            from psycopg import sql

            cur.copy(sql.SQL("COPY {} ({})").format(sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))))
        """,
}


@pytest.mark.parametrize("how", sorted(PLANTED))
def test_the_lint_finds_a_name_formatted_into_sql(how):
    found = lint({"erpgen/planted.py": PLANTED[how]})
    assert found, f"SQL formatted from {how} went unnoticed"
    assert all(v.startswith("erpgen/planted.py:") for v in found)


def test_the_lint_lets_quoted_names_through():
    assert lint({"erpgen/quoted.py": QUOTED[next(iter(QUOTED))]}) == []


def test_the_lint_finds_a_quote_taken_out_of_erpgen():
    """The real modules, with the quoting taken out of three statements: exactly those are reported."""
    sources = erpgen_sources()
    planted = {
        "erpgen/sinks/mysql.py": ("DROP DATABASE IF EXISTS {quote(self.target, self.waiting)}",
                                  "DROP DATABASE IF EXISTS `{self.waiting}`"),
        "erpgen/sinks/postgres.py": ("DROP TABLE {quote(conn, name)}", r'DROP TABLE \"{name}\"'),
        "erpgen/sinks/sqlite.py": ("self.into = quote(conn, table)", "self.into = table"),
    }  # fmt: skip
    lines = {}
    for path, (quoted, bare) in planted.items():
        assert sources[path].count(quoted) == 1, f"{path} no longer holds {quoted!r}"
        sources[path] = sources[path].replace(quoted, bare)
        lines[path] = sources[path][: sources[path].index(bare)].count("\n") + 1
    found = lint(sources)
    where = {v.split(": ")[0] for v in found}
    assert {f"{path}:{line}" for path, line in lines.items() if "sqlite" not in path} <= where, found
    assert any(v.startswith("erpgen/sinks/sqlite.py:") and "self.into" in v for v in found), found
    assert all(v.split(":")[0] in planted for v in found), found


# -- databases with hostile names -------------------------------------------------------------------------

TOKEN = f"i{secrets.token_hex(3)}"  # starts every name here: what a run leaves behind can be told
RESUME = [
    "--n-customers",
    "2000",
    "--block-size",
    "100",
    "--date-from",
    "2024-01-01",
    "--date-till",
    "2024-12-31",
]
SMALL = ["--n-customers", "300", "--date-from", "2024-01-01", "--date-till", "2024-12-31", "-q"]
PREFIXES = ("erpgen_test_", "erpgen_scratch_", "erpgen_resume_")  # other runs' databases come and go


def hostile_names(limit: int, size) -> dict[str, str]:
    """Backtick, double and single quote, semicolon, space; percent (as %s, %% and %(x)s, for the drivers'
    parameter markers) and LIKE's _; letters beyond ASCII; and all of them in the longest name the target
    takes (`size` measures a name as the target counts, `limit` is the most it takes)."""
    longest = f"{TOKEN} `b` \"d\" 's'; %s _ü名"
    for pad in ("ü", "x"):
        while size(longest + pad) <= limit:
            longest += pad
    assert size(longest) == limit
    return {
        "quotes": f"{TOKEN} `b` \"d\" 's'; --x",
        "percent": f"{TOKEN} %s %% %(x)s _ü名Ω",
        "longest": longest,
    }


def _utf8(name: str) -> int:
    return len(name.encode())


@pytest.fixture(params=[(kind, which) for kind in ("sqlite", "postgresql", "mysql")
                        for which in ("quotes", "percent", "longest")],
                ids=lambda p: "-".join(p))  # fmt: skip
def hostile(request, tmp_path):
    """(kind, name, URL) of a target database with a hostile name, made empty (SQLite: not made)."""
    kind, which = request.param
    if kind == "sqlite":
        directory = tmp_path / "target"
        directory.mkdir()
        # SQLite appends -journal to the file's name while it loads into it in place
        limit = os.pathconf(directory, "PC_NAME_MAX") - len("-journal")
        name = hostile_names(limit, lambda n: len(os.fsencode(n)))[which]
        yield kind, name, URL.create("sqlite", database=str(directory / name)).render_as_string()
        return
    server = request.getfixturevalue("pg_server" if kind == "postgresql" else "mysql_server")
    limit, size = (63, _utf8) if kind == "postgresql" else (64, len)  # bytes; characters
    name = hostile_names(limit, size)[which]
    with named_database(server, name) as url:
        try:
            yield kind, name, url
        finally:
            if kind == "mysql":  # a failed test may leave the resume database behind
                with connect(parse(url)) as conn:
                    conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {quote(conn, resume_database(name))}")


def _admin(kind: str, url: str):
    """A connection to the server (not to the target database)."""
    return connect(parse(url).set(database="postgres" if kind == "postgresql" else "mysql"))


def everything_else(kind: str, name: str, url: str) -> tuple[dict, set]:
    """(what the server or the directory holds besides the target, which of it has this test's token)."""
    if kind == "sqlite":
        directory = Path(parse(url).database).parent
        files = {p.name: p.read_bytes() for p in directory.iterdir() if p.name != name}
        return files, {f for f in files if TOKEN in f}
    with _admin(kind, url) as conn:
        if kind == "postgresql":
            names = conn.exec_driver_sql("SELECT datname FROM pg_database").scalars().all()
            held = {n: () for n in names}
        else:
            held = {n: set() for n in conn.exec_driver_sql("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA")
                    .scalars()}  # fmt: skip
            for schema, table in conn.exec_driver_sql(
                "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES"
            ):
                if schema in held:
                    held[schema].add(table)
    ours = {n for n in held if TOKEN in n or n == resume_database(name)} - {name}
    return {n: v for n, v in held.items() if n != name and n not in ours and not n.startswith(PREFIXES)}, ours


def start(*args: str, cwd) -> subprocess.Popen:
    """`erpgen generate` in a process group of its own, for kill() to reach its workers too (a run killed
    alone leaves the workers it forked running)."""
    return subprocess.Popen([sys.executable, str(REPO / "cli.py"), "generate", *args], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)  # fmt: skip


def kill(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the run ended before it was killed"


def wait_until_gone(kind: str, name: str, url: str) -> None:
    """Until the server has ended the killed client's session (and with it its locks)."""
    if kind == "sqlite":
        return
    with _admin(kind, url) as conn:
        for _ in range(200):
            if kind == "postgresql":
                gone = not conn.exec_driver_sql(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (name,)
                ).scalar()
            else:
                gone = conn.exec_driver_sql("SELECT IS_FREE_LOCK(%s)", (load_lock(name),)).scalar()
            if gone:
                return
            time.sleep(0.05)
    raise AssertionError("the killed run's session is still there")


def plant(kind: str, url: str, *tables: str) -> None:
    with connect(parse(url)) as conn:
        for table in tables:
            conn.exec_driver_sql(f"CREATE TABLE {quote(conn, table)} (id INTEGER)")
        conn.commit()


def tables_of(url: str) -> set[str]:
    with connect(parse(url)) as conn:
        return set(inspect(conn).get_table_names())


@contextlib.contextmanager
def statements():
    """Every statement SQLAlchemy sends to a server meanwhile, as (dialect, text)."""
    seen: list[tuple[str, str]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append((conn.dialect.name, statement))

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", record)


# A quoted identifier (backticks, double quotes) or a string literal, as MariaDB, PostgreSQL and SQLite read them.
SQL_TOKEN = re.compile(r"`(?:[^`]|``)*`|\"(?:[^\"]|\"\")*\"|'(?:[^'\\]|''|\\.)*'")
IDENTIFIER_QUOTE = {"mysql": "`", "postgresql": '"', "sqlite": '"'}


def misquoted(dialect: str, statement: str, names: set[str]) -> list[str]:
    """Where this test's token shows in `statement` other than in an identifier quoted for the dialect
    that reads back as one of `names`: a name pasted in, cut, quoted the wrong way, or given as a value."""
    quote_char, bad, at = IDENTIFIER_QUOTE[dialect], [], 0
    for m in SQL_TOKEN.finditer(statement):
        bad += [statement[at : m.start()]] if TOKEN in statement[at : m.start()] else []
        at, token = m.end(), m.group()
        if TOKEN in token:
            name = token[1:-1].replace(quote_char * 2, quote_char)
            name = name.replace("%%", "%") if dialect != "sqlite" else name  # %s drivers read %% as %
            if token[0] != quote_char or name not in names:
                bad.append(token)
    return bad + ([statement[at:]] if TOKEN in statement[at:] else [])


def test_misquoted_finds_a_name_pasted_in_cut_or_given_as_a_value():
    name = f"{TOKEN} `b` 'c'"
    assert misquoted("mysql", f"DROP DATABASE `{TOKEN} ``b`` 'c'`", {name}) == []
    assert misquoted("mysql", f"DROP DATABASE `{name}`", {name})  # the backticks inside left single
    assert misquoted("postgresql", f'DROP TABLE "{TOKEN}"', {name})  # cut
    assert misquoted("postgresql", f"SELECT 1 WHERE x = '{TOKEN}'", {name})  # a value in the text
    assert misquoted("sqlite", f"SELECT * FROM `{name}`", {name})  # quoted the other way


def test_a_hostile_name_loads_resumes_and_reads_back(hostile, erpgen, tmp_path):
    """generate --resume killed, then refused without --resume and carried on with it; --replace;
    verify, validate and report; and nothing else on the server (or in the directory) touched."""
    kind, name, url = hostile
    stage = name.encode()[: 63 - len(STAGE_PREFIX)].decode(errors="ignore")  # a killed Dask run's
    stage = f"{STAGE_PREFIX}{stage}"
    if kind == "sqlite":
        (Path(parse(url).database).parent / f"{name[:100]}.neighbour").write_bytes(b"keep me")
    else:
        plant(kind, url, name)  # an empty table of the user's, beside which erpgen loads
    before, _ = everything_else(kind, name, url)
    args = ["--database-url", url, *RESUME]
    proc = start(*args, "--resume", cwd=tmp_path)
    # the customers' line is written once the first fact block is made, after the first commit
    wait_for(proc, "erpgen: customers 2,000 rows")
    kill(proc)
    wait_until_gone(kind, name, url)
    if kind == "postgresql":
        plant(kind, url, stage)
    with statements() as sent:
        assert_one_clean_line(erpgen("generate", *args), "interrupted --resume load", "--resume")
        done = erpgen("generate", *args, "--resume", "-q")
        assert done.code == 0, done
        verified = erpgen("verify", "--database-url", url)
        assert verified.code == 0 and "content matches the recorded digest" in verified.out, verified
        refused = erpgen("generate", "--database-url", url, *SMALL)
        assert_one_clean_line(refused, "already holds an erpgen dataset", "--replace")
        replaced = erpgen("generate", "--database-url", url, *SMALL, "--replace")
        assert replaced.code == 0, replaced
        assert erpgen("verify", "--database-url", url).code == 0
        checked = erpgen("validate", "--database-url", url)
        assert checked.code in (0, 1) and checked.out.startswith("erpgen validate:"), checked
        lines = checked.out.splitlines()
        integrity = list(
            itertools.takewhile(lambda line: line.startswith("  "), lines[lines.index("integrity") + 1 :])
        )
        assert len(integrity) > 5 and all(line.startswith("  ok  ") for line in integrity), checked
        out = tmp_path / "report.html"
        reported = erpgen("report", "--database-url", url, "-o", out)
        assert reported.code == 0 and out.stat().st_size > 100_000, reported
    with connect(parse(url)) as conn:
        assert conn.execute(text("SELECT count(*) FROM customers")).scalar() == 300
    ours = {"customers", "sales_transactions", "erpgen_runs", "alembic_version"}
    assert ours <= tables_of(url)
    if kind != "sqlite":
        assert name in tables_of(url) and stage not in tables_of(url)
    after, left = everything_else(kind, name, url)
    assert left == ({f"{name[:100]}.neighbour"} if kind == "sqlite" else set())
    if kind == "mysql":  # the scratch databases of the killed run and of this process's runs are gone
        with _admin(kind, url) as conn:
            scratch = conn.exec_driver_sql(
                "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE %s ESCAPE '!'",
                (like_prefix(SCRATCH_PREFIX),),
            ).scalars()
            assert [n for n in scratch if n.split("_")[2] in (str(proc.pid), str(os.getpid()))] == []
    assert {k: after.get(k) for k in before} == before  # nothing else dropped or changed
    if kind == "sqlite":
        assert set(after) == set(before)  # no scratch file left
    names = {name, stage, resume_database(name)}
    bad = [(d, s, misquoted(d, s, names)) for d, s in sent if misquoted(d, s, names)]
    assert bad == []
    if kind != "sqlite":
        assert any(TOKEN in s for _, s in sent), "no statement named the target: the check saw nothing"
