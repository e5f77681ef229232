"""Expression sandbox: everything a diagram can run goes through here (trap 1).

Gateway conditions, script tasks, pre/post scripts, DMN cells, timer expressions,
service-task parameters and multi-instance expressions are Python source written by
whoever uploads a diagram. Restricting ``__builtins__`` alone is not a sandbox, so:

1. ``check_source`` parses the source and walks an AST *allow-list*: only plain data
   operations, no names/attributes starting with ``_``, calls only of ``SAFE_FUNCTIONS``
   and of ``SAFE_METHODS``; no imports, lambdas, comprehensions, defs, while, try, with.
2. The checked tree is rewritten so that the operations able to allocate huge values in
   one step (``*``, ``+``, ``**``, ``%``, f-strings, ``str.join``/``str.replace``) and
   ``for`` loops run through guards; then it is compiled once and cached.
3. The code runs with ``{'__builtins__': {}}`` plus the allow-listed functions.

Limits: the guards stop one-step memory blow-ups (``'a' * 10**9``, ``9**9**9``,
``round(1, -10**9)``, ``f"{x:999999999}"``) and bound loops, but they cannot give a hard
wall-clock limit (e.g. comparing two huge shared structures). Run workflow steps in a
worker with a timeout and a memory limit as the outer fence.
"""
from __future__ import annotations

import ast
import copy
import functools
import json
import operator
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from types import CodeType
from typing import Any

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.exceptions import SpiffWorkflowException

from engine import timer_values

MAX_SOURCE_CHARS = 10_000
MAX_AST_NODES = 2_000
MAX_SIZE = 1_000_000  # characters + elements of one value built by a diagram
MAX_DATA_SIZE = 2_000_000  # task data a script may leave behind (protects serialization)
MAX_INT_BITS = 10_000  # ~3,000 digits, below Python's int->str limit
MAX_RANGE = 10_000
MAX_LOOP_STEPS = 100_000  # all loop iterations of one script run together
MAX_ROUND_DIGITS = 100  # round(1, -10**9) would compute 10**(10**9)
# Work allowed to one evaluation or script run, in elements allocated or visited. Many steps each
# under MAX_SIZE (a loop appending 1M-element lists, hashing a shared tuple tree) add up to this.
MAX_RUN_WORK = 5_000_000


class SandboxViolation(ValueError):
    """A diagram expression or script was refused, before or while running."""

    def __init__(self, expression: str, reason: str, lineno: int | None = None) -> None:
        super().__init__(reason)
        self.expression = expression
        self.reason = reason
        self.lineno = lineno


def _limit(reason: str) -> SandboxViolation:
    # Raised by runtime guards; the environment fills in the expression.
    return SandboxViolation("", reason)


# --- runtime guards -----------------------------------------------------------------

class _WorkBudget:
    """Counts the elements one evaluation or script run allocates or walks."""

    __slots__ = ("left",)

    def __init__(self) -> None:
        self.left = MAX_RUN_WORK

    def charge(self, amount: int) -> None:
        self.left -= amount
        if self.left < 0:
            raise _limit(f"the expression or script did more than {MAX_RUN_WORK:,} units of work")


_budget: ContextVar[_WorkBudget | None] = ContextVar("sandbox_work_budget", default=None)


def _charge(amount: int) -> None:
    budget = _budget.get()
    if budget is not None:
        budget.charge(amount)


def _size(obj: Any, limit: int = MAX_SIZE) -> int:
    """Characters + elements, counting shared references each time they appear (that is
    what str() or JSON would produce). Stops early once past ``limit``."""
    total, stack, visited = 0, [obj], 0
    while stack and total <= limit:
        item = stack.pop()
        visited += 1
        if isinstance(item, str):
            total += len(item) + 1
        elif isinstance(item, dict):
            total += 1
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            total += 1
            stack.extend(item)
        elif isinstance(item, int):
            total += 1 + item.bit_length() // 32
        else:
            total += 1
    _charge(visited)
    return total


def _payload(seq: str | list | tuple) -> int:
    """Size of a sequence's content, without the container itself."""
    return len(seq) if isinstance(seq, str) else _size(seq) - 1


def _check_result(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_INT_BITS:
        raise _limit(f"integer result larger than {MAX_INT_BITS} bits")
    if isinstance(value, (str, list, tuple, dict, set, frozenset)):
        if len(value) > MAX_SIZE:
            raise _limit(f"result longer than {MAX_SIZE:,} elements")
        _charge(len(value))
    return value


def _sb_guard(value: Any) -> Any:
    """Containers built by a literal or compared: their full size (shared references counted each
    time) must stay under MAX_SIZE, so hashing or comparing them cannot run for ever."""
    if isinstance(value, (list, tuple, dict, set, frozenset)) and _size(value) > MAX_SIZE:
        raise _limit(f"value larger than {MAX_SIZE:,} elements (counting shared parts each time)")
    return value


def _counted(func: Callable[..., Any]) -> Callable[..., Any]:
    """A container constructor whose inputs are size-checked first (set() and dict() hash them)."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        for arg in args:
            _sb_guard(arg)
        return _check_result(func(*args, **kwargs))

    wrapper.__name__ = func.__name__
    return wrapper


def _check_mult(left: Any, right: Any) -> None:
    if isinstance(left, int) and isinstance(right, int):
        if left.bit_length() + right.bit_length() > MAX_INT_BITS:
            raise _limit(f"integer result larger than {MAX_INT_BITS} bits")
        return
    for seq, count in ((left, right), (right, left)):
        if isinstance(seq, (str, list, tuple)) and isinstance(count, int) and count > 0 \
                and _payload(seq) * count > MAX_SIZE:
            raise _limit(f"repeating a sequence to more than {MAX_SIZE:,} elements is not allowed")


def _check_pow(base: Any, exp: Any) -> None:
    # Only int ** non-negative int can grow without bound; floats overflow with an error.
    if isinstance(base, int) and isinstance(exp, int) and exp > 0 and abs(base) > 1 \
            and base.bit_length() * exp > MAX_INT_BITS:
        raise _limit(f"'**' result larger than {MAX_INT_BITS} bits")


_BINOPS: dict[str, Callable[[Any, Any], Any]] = {
    "Add": operator.add, "Sub": operator.sub, "Mult": operator.mul, "Div": operator.truediv,
    "FloorDiv": operator.floordiv, "Mod": operator.mod, "Pow": operator.pow,
}


def _sb_binop(op: str, left: Any, right: Any) -> Any:
    if op == "Mult":
        _check_mult(left, right)
    elif op == "Pow":
        _check_pow(left, right)
    elif op == "Add" and isinstance(left, (str, list, tuple)) and isinstance(right, (str, list, tuple)):
        if _payload(left) + _payload(right) > MAX_SIZE:
            raise _limit(f"concatenation longer than {MAX_SIZE:,} elements")
    elif op == "Mod" and isinstance(left, str):
        # '%999999999d' % 1 allocates a gigabyte in one step.
        raise _limit("'%' string formatting is not allowed; use an f-string")
    return _check_result(_BINOPS[op](left, right))


def _sb_fmt(value: Any) -> Any:
    """Guard f-string values: str() of a large shared structure is a memory bomb."""
    if not isinstance(value, (str, int, float, bool, type(None))) and _size(value) > MAX_SIZE:
        raise _limit(f"value too large to format (more than {MAX_SIZE:,} elements)")
    return value


def _sb_method(obj: Any, name: str, *args: Any, **kwargs: Any) -> Any:
    if name not in SAFE_METHODS:  # the checker already ensures this; belt and braces
        raise _limit(f"method '.{name}()' is not allowed")
    if isinstance(obj, str) and name == "join" and args:
        items = list(args[0])
        total = sum(len(i) for i in items if isinstance(i, str)) + len(obj) * max(len(items) - 1, 0)
        if total > MAX_SIZE:
            raise _limit(f"join result longer than {MAX_SIZE:,} characters")
        args = (items, *args[1:])
    elif isinstance(obj, str) and name == "replace" and len(args) >= 2:
        old, new = args[0], args[1]
        if isinstance(old, str) and isinstance(new, str):
            hits = len(obj) + 1 if old == "" else obj.count(old)
            if len(args) > 2 and isinstance(args[2], int) and args[2] >= 0:
                hits = min(hits, args[2])
            if len(obj) + hits * len(new) > MAX_SIZE:
                raise _limit(f"replace result longer than {MAX_SIZE:,} characters")
    return _check_result(getattr(obj, name)(*args, **kwargs))


class _LoopBudget:
    """One per script run: every `for` iterates a snapshot and counts its steps."""

    def __init__(self) -> None:
        self.steps = 0

    def iterate(self, iterable: Iterable[Any]) -> Iterator[Any]:
        items = list(iterable)  # snapshot: appending inside the loop cannot extend it
        _charge(len(items))
        for item in items:
            self.steps += 1
            if self.steps > MAX_LOOP_STEPS:
                raise _limit(f"loops ran more than {MAX_LOOP_STEPS:,} iterations")
            yield item


# --- allow-listed callables ---------------------------------------------------------

def _safe_range(*args: int) -> range:
    r = range(*args)
    try:
        n = len(r)
    except OverflowError:
        n = MAX_RANGE + 1
    if n > MAX_RANGE:
        raise _limit(f"range() longer than {MAX_RANGE:,} is not allowed")
    return r


def _safe_str(value: Any = "") -> str:
    return str(_sb_fmt(value))


def _safe_round(number: Any, ndigits: int | None = None) -> Any:
    if ndigits is not None and isinstance(ndigits, int) and abs(ndigits) > MAX_ROUND_DIGITS:
        raise _limit(f"round() digits must be between -{MAX_ROUND_DIGITS} and {MAX_ROUND_DIGITS}")
    return round(number) if ndigits is None else round(number, ndigits)


def _safe_sum(iterable: Iterable[Any], start: float = 0) -> Any:
    # sum(lists, []) concatenates quadratically; only numbers are summed.
    if isinstance(start, bool) or not isinstance(start, (int, float)):
        raise _limit("sum() only adds numbers")
    return _check_result(sum(iterable, start))


SAFE_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "abs": abs, "min": min, "max": max, "round": _safe_round, "len": len, "int": int,
    "float": float, "str": _safe_str, "bool": bool, "sum": _safe_sum, "sorted": _counted(sorted),
    "any": any, "all": all, "list": _counted(list), "dict": _counted(dict), "tuple": _counted(tuple),
    "set": _counted(set),
    "range": _safe_range,
}

# Method names callable on data values (str / dict / list). Notably not `format`
# ("{0.__class__}".format(x) walks attributes) and nothing that returns frames or types.
SAFE_METHODS: frozenset[str] = frozenset({
    "get", "keys", "values", "items", "lower", "upper", "strip", "lstrip", "rstrip",
    "title", "capitalize", "startswith", "endswith", "split", "join", "replace",
    "append", "count", "index",
})

# Not reachable anyway (builtins are empty), refused by name for a clear message.
FORBIDDEN_NAMES: frozenset[str] = frozenset({
    "eval", "exec", "compile", "open", "globals", "locals", "vars", "dir", "getattr",
    "setattr", "delattr", "hasattr", "breakpoint", "help", "input", "exit", "quit",
    "memoryview", "super", "object", "classmethod", "staticmethod", "print",
})

_HELPERS: dict[str, Any] = {"_sb_binop": _sb_binop, "_sb_fmt": _sb_fmt, "_sb_method": _sb_method,
                            "_sb_guard": _sb_guard}


# --- static check -------------------------------------------------------------------

_EXPR_NODES: tuple[type, ...] = (
    ast.Expression, ast.Constant, ast.Name, ast.Load, ast.Store,
    ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.UAdd,
    ast.BinOp, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow,
    ast.Compare, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE,
    ast.In, ast.NotIn, ast.Is, ast.IsNot, ast.IfExp,
    ast.Dict, ast.List, ast.Tuple, ast.Set, ast.Subscript, ast.Slice,
    ast.Attribute, ast.Call, ast.keyword, ast.JoinedStr, ast.FormattedValue,
)
_EXEC_NODES: tuple[type, ...] = _EXPR_NODES + (
    ast.Module, ast.Assign, ast.AugAssign, ast.If, ast.Expr, ast.Pass, ast.For,
    ast.Break, ast.Continue,
)
_DESCRIBE: dict[type, str] = {
    ast.Import: "import statements", ast.ImportFrom: "import statements",
    ast.Lambda: "lambda expressions", ast.ListComp: "comprehensions", ast.SetComp: "comprehensions",
    ast.DictComp: "comprehensions", ast.GeneratorExp: "generator expressions",
    ast.FunctionDef: "function definitions", ast.AsyncFunctionDef: "function definitions",
    ast.ClassDef: "class definitions", ast.While: "while loops", ast.Try: "try statements",
    ast.With: "with statements", ast.Global: "global statements", ast.Nonlocal: "nonlocal statements",
    ast.NamedExpr: "assignment expressions (:=)", ast.Starred: "'*' unpacking expressions",
    ast.Delete: "del statements", ast.Yield: "yield expressions", ast.YieldFrom: "yield expressions",
    ast.Await: "await expressions", ast.Raise: "raise statements", ast.Assert: "assert statements",
    ast.AnnAssign: "annotated assignments",
}
_DESCRIBE_KEYS = tuple(_DESCRIBE)
_CONSTANT_TYPES = (str, int, float, bool, type(None))


def _name_error(name: str, store: bool, functions: frozenset[str]) -> str | None:
    if name.startswith("_"):
        return f"names starting with '_' are not allowed: {name}"
    if name in FORBIDDEN_NAMES:
        return f"'{name}' is not allowed"
    if store and name in functions:
        return f"cannot assign to the built-in function name '{name}'"
    return None


def _node_error(node: ast.AST, mode: str, functions: frozenset[str], methods_at: set[int]) -> str | None:
    allowed = _EXEC_NODES if mode == "exec" else _EXPR_NODES
    if not isinstance(node, allowed):
        what = _DESCRIBE.get(type(node), f"'{type(node).__name__}' syntax elements")
        return f"{what} are not allowed"
    if isinstance(node, ast.Name):
        return _name_error(node.id, isinstance(node.ctx, ast.Store), functions)
    if isinstance(node, ast.Attribute):
        if node.attr.startswith("_"):
            return f"attribute names starting with '_' are not allowed: {node.attr}"
        if id(node) not in methods_at or node.attr not in SAFE_METHODS:
            return f"attribute or method '.{node.attr}' is not allowed"
    elif isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Name) and func.id not in functions:
            return _name_error(func.id, False, functions) or f"calling '{func.id}' is not allowed"
        if not isinstance(func, (ast.Name, ast.Attribute)):
            return "only allow-listed functions and methods may be called"
        if any(k.arg is None for k in node.keywords):
            return "** unpacking is not allowed"
    elif isinstance(node, ast.Constant) and not isinstance(node.value, _CONSTANT_TYPES):
        return f"constants of type {type(node.value).__name__} are not allowed"
    elif isinstance(node, ast.Dict) and any(k is None for k in node.keys):
        return "** unpacking is not allowed"
    elif isinstance(node, ast.FormattedValue) and node.format_spec is not None:
        # Only short literal specs: f"{x:999999999}" would allocate a gigabyte in one step.
        parts = node.format_spec.values if isinstance(node.format_spec, ast.JoinedStr) else []
        spec = "".join(p.value for p in parts if isinstance(p, ast.Constant) and isinstance(p.value, str))
        if (len(parts) != 1 or not spec or len(spec) > 20
                or any(len(digits) > 3 for digits in re.findall(r"[0-9]+", spec))):
            return "this f-string format specification is not allowed (only short literal ones like :.2f)"
    return None


class _Guard(ast.NodeTransformer):
    """Route size-amplifying operations and loops through the runtime guards."""

    @staticmethod
    def _call(name: str, args: list[ast.expr], node: ast.AST, keywords: list[ast.keyword] | None = None) -> ast.Call:
        return ast.copy_location(ast.Call(ast.Name(name, ast.Load()), args, keywords or []), node)

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        return self._call("_sb_binop", [ast.Constant(type(node.op).__name__), node.left, node.right], node)

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST:
        self.generic_visit(node)
        current = copy.deepcopy(node.target)
        current.ctx = ast.Load()
        value = self._call("_sb_binop", [ast.Constant(type(node.op).__name__), current, node.value], node)
        return ast.copy_location(ast.Assign([node.target], value), node)

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.func, ast.Attribute):
            args = [node.func.value, ast.Constant(node.func.attr), *node.args]
            return self._call("_sb_method", args, node, node.keywords)
        return node

    def _guarded(self, node: ast.expr) -> ast.AST:
        self.generic_visit(node)
        if isinstance(getattr(node, "ctx", None), ast.Store):  # `a, b = ...` unpacks, builds nothing
            return node
        return self._call("_sb_guard", [node], node)

    visit_Tuple = visit_List = visit_Set = visit_Dict = _guarded

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        node.left = self._call("_sb_guard", [node.left], node.left)
        node.comparators = [self._call("_sb_guard", [c], c) for c in node.comparators]
        return node

    def visit_FormattedValue(self, node: ast.FormattedValue) -> ast.AST:
        self.generic_visit(node)
        node.value = self._call("_sb_fmt", [node.value], node.value)
        return node

    def visit_For(self, node: ast.For) -> ast.AST:
        self.generic_visit(node)
        node.iter = self._call("_sb_iter", [node.iter], node.iter)
        return node


def _priority(node: ast.AST) -> int:
    # Report the most telling problem first: `(lambda: 1)()` is about the lambda,
    # `__import__('os').system('id')` about `__import__`, not about `.system`.
    if isinstance(node, _DESCRIBE_KEYS):
        return 0
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""
    return 1 if name.startswith("_") else 2


@functools.lru_cache(maxsize=4096)
def _compile(source: str, mode: str, functions: frozenset[str]) -> CodeType | tuple[str, int | None, bool]:
    """Check + rewrite + compile, cached per source (it runs on every gateway).
    Returns the code, or (reason, line, is_syntax_error) so each caller raises a fresh error."""
    if mode not in ("eval", "exec"):
        raise ValueError(f"mode must be 'eval' or 'exec', not {mode!r}")
    if len(source) > MAX_SOURCE_CHARS:
        return f"source longer than {MAX_SOURCE_CHARS:,} characters", None, False
    try:
        tree = ast.parse(source, mode=mode)
    except SyntaxError as err:
        return f"syntax error on line {err.lineno}: {err.msg}", err.lineno, True
    except (ValueError, MemoryError, RecursionError) as err:  # null bytes, absurd nesting
        return f"cannot parse: {err}", None, False
    nodes = list(ast.walk(tree))
    if len(nodes) > MAX_AST_NODES:
        return f"expression too complex (more than {MAX_AST_NODES:,} syntax nodes)", None, False
    ordered = sorted(nodes, key=_priority)
    methods_at = {id(n.func) for n in nodes if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)}
    for node in ordered:
        reason = _node_error(node, mode, functions, methods_at)
        if reason:
            return reason, getattr(node, "lineno", None), False
    try:
        return compile(ast.fix_missing_locations(_Guard().visit(tree)), "<string>", mode)
    except RecursionError:
        return "expression nested too deeply", None, False


_DEFAULT_FUNCTIONS = frozenset(SAFE_FUNCTIONS)


def _compiled(source: str, mode: str, functions: frozenset[str] = _DEFAULT_FUNCTIONS) -> CodeType:
    if not isinstance(source, str):
        raise SandboxViolation(repr(source), f"expected source text, got {type(source).__name__}")
    result = _compile(source, mode, functions)
    if isinstance(result, tuple):
        raise SandboxViolation(source, result[0], result[1])
    return result


def check_source(source: str, mode: str, extra_functions: Iterable[str] = ()) -> None:
    """Raise SandboxViolation unless `source` may run in the sandbox ('eval' or 'exec')."""
    _compiled(source, mode, _DEFAULT_FUNCTIONS | frozenset(extra_functions))


def check_dmn_input_entry(source: str) -> None:
    """DMN input cells may be unary tests (`< 0.45`); SpiffWorkflow tries the text as is,
    then with a value in front (see DMNEngine.needs_eq). Check the form that will run."""
    result = _compile(source, "eval", _DEFAULT_FUNCTIONS)
    if isinstance(result, tuple) and result[2]:
        check_source(f"dmninputexpr {source}", "eval")
    elif isinstance(result, tuple):
        raise SandboxViolation(source, result[0], result[1])


# --- SpiffWorkflow integration ------------------------------------------------------

def _script_line(err: BaseException) -> int | None:
    """Line of the diagram script (compiled as '<string>') where a runtime guard fired."""
    line, tb = None, err.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<string>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


class SandboxEnvironment(BasePythonScriptEngineEnvironment):
    """TaskDataEnvironment semantics, but every source is checked and guarded.

    `functions` adds trusted, application-provided callables (names must not start with '_').
    """

    def __init__(self, functions: Mapping[str, Callable[..., Any]] | None = None) -> None:
        functions = dict(functions or {})
        bad = [n for n in functions if not n.isidentifier() or n.startswith("_") or n in FORBIDDEN_NAMES]
        if bad:
            raise ValueError(f"invalid sandbox function names: {bad}")
        super().__init__(functions)
        self.function_names = _DEFAULT_FUNCTIONS | frozenset(functions)
        self._reserved: dict[str, Any] = {"__builtins__": {}, **SAFE_FUNCTIONS, **functions, **_HELPERS}

    def evaluate(self, expression: str, context: dict, external_context: dict | None = None) -> Any:
        code = _compiled(expression, "eval", self.function_names)
        # Like TaskDataEnvironment: task data wins over external context; functions win over both.
        namespace = {**(external_context or {}), **context, **self._reserved}
        token = _budget.set(_WorkBudget())
        try:
            return eval(code, namespace)  # checked and guarded code, empty builtins
        except SandboxViolation as err:
            raise SandboxViolation(expression, err.reason) from None
        finally:
            _budget.reset(token)

    def execute(self, script: str, context: dict, external_context: dict | None = None) -> bool:
        external = external_context or {}
        overwrites = set(external) & set(context)
        if overwrites:
            raise ValueError(f"task data overwrites predefined name(s) {sorted(overwrites)}; rename them")
        code = _compiled(script, "exec", self.function_names)
        namespace = {**context, **external, **self._reserved, "_sb_iter": _LoopBudget().iterate}
        token = _budget.set(_WorkBudget())
        try:
            exec(code, namespace)  # noqa: S102 -- checked and guarded code, empty builtins
        except SandboxViolation as err:
            raise SandboxViolation(script, err.reason, err.lineno or _script_line(err)) from None
        finally:
            _budget.reset(token)
        # Write back only data: never the helpers, external context or anything callable.
        # Unlike TaskDataEnvironment nothing is written when the script fails.
        updates = {k: v for k, v in namespace.items()
                   if k not in self._reserved and k != "_sb_iter" and k not in external}
        if _size(list(updates.values()), MAX_DATA_SIZE) > MAX_DATA_SIZE:
            raise SandboxViolation(script, f"script left task data larger than {MAX_DATA_SIZE:,} elements")
        for key, value in updates.items():
            if callable(value):
                context.pop(key, None)
            else:
                context[key] = value
        return True

    def call_service(self, context: dict, **kwargs: Any) -> Any:
        raise NotImplementedError("service tasks are handled by SandboxScriptEngine.call_service")


ConnectorCaller = Callable[[Any, str, dict], Any]


def _check_timer_value(task: Any, expression: str, value: Any) -> None:
    """A timer's value is bounded before SpiffWorkflow computes its deadline (engine/timer_values.py)."""
    definition = getattr(getattr(task, "task_spec", None), "event_definition", None)
    if isinstance(definition, TimerEventDefinition) and definition.expression == expression:
        reason = timer_values.problem(timer_values.kind_of(definition), value)
        if reason:
            raise WorkflowTaskException(f"timer {task.task_spec.bpmn_id}: {reason}", task=task)


class SandboxScriptEngine(PythonScriptEngine):
    """The only script engine workflows may run with.

    connector_caller(task, operation_name, operation_params) runs service tasks;
    operation_params is SpiffWorkflow's {name: {"value": evaluated, "type": "str"}}.
    """

    def __init__(self, environment: SandboxEnvironment | None = None,
                 connector_caller: ConnectorCaller | None = None) -> None:
        if environment is not None and not isinstance(environment, SandboxEnvironment):
            raise TypeError("SandboxScriptEngine needs a SandboxEnvironment")
        super().__init__(environment=environment or SandboxEnvironment())
        self.connector_caller = connector_caller

    def validate(self, expression: str) -> None:
        # DMNEngine.needs_eq catches SyntaxError to detect unary tests like `< 0.45`.
        result = _compile(expression, "eval", self.environment.function_names)
        if isinstance(result, tuple):
            reason, lineno, is_syntax = result
            if is_syntax:
                raise SyntaxError(reason)
            raise SandboxViolation(expression, reason, lineno)

    def evaluate(self, task: Any, expression: str, external_context: dict | None = None) -> Any:
        try:
            value = self.environment.evaluate(expression, task.data, external_context)
            _check_timer_value(task, expression, value)
            return value
        except SpiffWorkflowException as err:
            err.add_note(f"Error evaluating expression '{expression}'")
            raise
        except SandboxViolation as err:
            raise WorkflowTaskException(
                f"Expression '{expression}' refused by the sandbox: {err.reason}", task=task, exception=err
            ) from err
        except Exception as err:
            raise WorkflowTaskException(
                f"Error evaluating expression '{expression}': {type(err).__name__}: {err}", task=task, exception=err
            ) from err

    def execute(self, task: Any, script: str, external_context: dict | None = None) -> bool:
        try:
            return self.environment.execute(script, task.data, external_context or {})
        except SandboxViolation as err:
            line = err.lineno or self.get_error_line_number_and_content(script, err)[0]
            lines = script.splitlines()
            raise WorkflowTaskException(
                f"Script refused by the sandbox: {err.reason}", task=task, exception=err, line_number=line,
                error_line=lines[line - 1] if line and line <= len(lines) else "",
            ) from err
        except Exception as err:
            wte = self.create_task_exec_exception(task, script, err)
            if wte is err:
                raise
            raise wte from err

    def call_service(self, task: Any, operation_name: str, operation_params: dict, **kwargs: Any) -> str:
        # Does not call super(): PythonScriptEngine.call_service raises NameError (trap 8).
        if self.connector_caller is None:
            raise WorkflowTaskException(
                f"Service task operation '{operation_name}' cannot run: no connector caller is configured", task=task)
        try:
            result = self.connector_caller(task, operation_name, operation_params)
        except SpiffWorkflowException as err:
            err.add_note(f"Service task operation '{operation_name}' failed")
            raise
        except Exception as err:
            raise WorkflowTaskException(
                f"Service task operation '{operation_name}' failed: {type(err).__name__}: {err}",
                task=task, exception=err) from err
        try:
            return json.dumps(result)
        except (TypeError, ValueError) as err:
            raise WorkflowTaskException(
                f"Service task operation '{operation_name}' returned a value that is not JSON: {err}",
                task=task, exception=err) from err
