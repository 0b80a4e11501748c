"""Strategy discovery through entry points, names with parameters, and selection by pattern.

A strategy's identity is its canonical name: `proposed(discrepancy=false)`, keys sorted, values that
equal the constructor's defaults left out. The same string keys the store and the leaderboard.
"""

from __future__ import annotations

import ast
import fnmatch
import inspect
import os
import re
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from alseg.errors import AlsegUsageError
from alseg.strategies.base import Strategy, StrategyContractError
from alseg.strategies.needs import class_needs, needs_of

GROUP = "alseg.strategies"
DISABLE_ENV = "ALSEG_DISABLE_PLUGINS"
#: Words the CLI and the store give a meaning of their own: `--strategies all`, the ceiling run `full`.
RESERVED_NAMES = frozenset({"all", "full"})
#: A strategy name: a letter or digit, then letters, digits, '_', '.', '-' (a folder name, no pattern characters).
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
_PATTERN = re.compile(r"^[A-Za-z0-9_.\-*?\[\]!]+$")


@dataclass(frozen=True)
class StrategyEntry:
    """One registered strategy: where it comes from, and either its class or why it failed to load."""

    name: str
    target: str
    provider: str  # distribution name==version
    builtin: bool
    cls: type[Strategy] | None = None
    error: str | None = None

    @property
    def broken(self) -> bool:
        return self.cls is None


def _one_line(err: Exception) -> str:
    return f"{type(err).__name__}: {err}".splitlines()[0][:300]


def check_strategy_class(cls: object, entry_name: str) -> None:
    """Raise (TypeError, StrategyContractError) unless `cls` is a Strategy registered under its own name."""
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise TypeError(f"{cls!r} is not a subclass of alseg.api.Strategy")
    if cls.name != entry_name:
        raise StrategyContractError(
            f"entry point '{entry_name}' loads {cls.__module__}.{cls.__qualname__}, whose name is '{cls.name}'; "
            "the entry-point name must equal the class's `name` (rename one of them)")
    class_needs(cls)


def name_problem(name: str, builtin_names: frozenset[str]) -> str | None:
    """Why a plugin may not register `name` (reserved, taken by a built-in, not a valid name), or None."""
    if name.lower() in RESERVED_NAMES:
        return (f"the name '{name}' is reserved ({', '.join(sorted(RESERVED_NAMES))} mean something else to "
                "`--strategies` and the run store); rename the entry point and the class's `name`")
    taken = next((b for b in sorted(builtin_names) if b.lower() == name.lower()), None)
    if taken is not None:
        return (f"the name '{name}' is taken by alseg's built-in '{taken}' (names are compared without case: run "
                "folders must not clash); rename the entry point and the class's `name`")
    if not _NAME.match(name):
        return (f"'{name}' is not a valid strategy name: use a letter or digit, then letters, digits, '_', '.' or "
                "'-' (it becomes a folder name and must not look like a pattern)")
    return None


def _provider(ep: EntryPoint) -> tuple[str, bool]:
    dist = getattr(ep, "dist", None)
    provider = f"{dist.name}=={dist.version}" if dist is not None else "unknown"
    return provider, dist is not None and dist.name == "alseg"


def _load(ep: EntryPoint) -> StrategyEntry:
    """Load one entry point; any failure becomes a broken entry with a one-line error."""
    provider, builtin = _provider(ep)
    try:
        cls = ep.load()
        check_strategy_class(cls, ep.name)
    except Exception as err:  # a plugin may fail in any way; it must never stop the built-ins
        return StrategyEntry(ep.name, ep.value, provider, builtin, None, _one_line(err))
    return StrategyEntry(ep.name, ep.value, provider, builtin, cls)


def _broken(ep: EntryPoint, error: str) -> StrategyEntry:
    provider, builtin = _provider(ep)
    return StrategyEntry(ep.name, ep.value, provider, builtin, None, error)


def plugins_disabled() -> bool:
    """True when ALSEG_DISABLE_PLUGINS is set to a true value."""
    return os.environ.get(DISABLE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def _key(name: str, ep: EntryPoint, found: dict[str, StrategyEntry]) -> str:
    """Where a refused entry is listed: its name, or 'name@distribution' when the name is already listed."""
    return name if name not in found else f"{name}@{getattr(ep.dist, 'name', 'unknown')}"


def discover(plugins: bool = True) -> dict[str, StrategyEntry]:
    """All registered strategies by name, built-ins first; third-party ones unless plugins are off.

    A plugin that cannot be used is listed as broken with the reason and never stops the others:
    it fails to import or to meet the contract, its name is reserved or a built-in's (then it is
    listed as 'name@distribution'), or two distributions register the same name (both broken).
    """
    plugins = plugins and not plugins_disabled()
    found: dict[str, StrategyEntry] = {}
    eps = sorted(entry_points(group=GROUP), key=lambda e: (getattr(e.dist, "name", "") != "alseg", e.name))
    builtin_names = frozenset(ep.name for ep in eps if _provider(ep)[1])
    for ep in eps:
        builtin = _provider(ep)[1]
        if not builtin and not plugins:
            continue
        problem = None if builtin else name_problem(ep.name, builtin_names)
        if problem is not None:
            found[_key(ep.name, ep, found)] = _broken(ep, problem)
        elif ep.name in found:  # a second plugin distribution with the same name: neither is chosen silently
            first = found[ep.name]
            clash = (f"the name '{ep.name}' is registered by both {first.provider} and {_provider(ep)[0]}; "
                     "uninstall one of them")
            found[ep.name] = StrategyEntry(first.name, first.target, first.provider, first.builtin, None, clash)
            found[_key(ep.name, ep, found)] = _broken(ep, clash)
        else:
            found[ep.name] = _load(ep)
    if not any(e.builtin for e in found.values()):
        raise AlsegUsageError(
            "no built-in strategies are registered: alseg's entry points are missing. "
            "Install alseg as a package (python -m pip install -e .) rather than running it from the source tree"
        )
    return found


def natural_key(text: str) -> list[Any]:
    """Sort key that puts x2 before x10."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]


def split_specs(text: str, option: str = "--strategies") -> list[str]:
    """Split 'a,b(x=1,y=2),c' at top-level commas."""
    out, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if depth != 0:
        raise AlsegUsageError(f"{option} '{text}': unbalanced parentheses")
    out.append(cur.strip())
    return [s for s in out if s]


def _value(node: ast.expr, spec: str) -> Any:
    """A parameter value: a Python literal, true/false, or a bare word taken as a string."""
    if isinstance(node, ast.Name):
        return {"true": True, "false": False, "none": None}.get(node.id.lower(), node.id)
    try:
        return ast.literal_eval(node)
    except ValueError as err:
        raise AlsegUsageError(
            f"strategy '{spec}': parameter value '{ast.unparse(node)}' is not a literal (use numbers, "
            "true/false, or words such as sum)"
        ) from err


def parse_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """'proposed(discrepancy=false, lam=0.2)' -> ('proposed', {'discrepancy': False, 'lam': 0.2})."""
    spec = spec.strip()
    if "(" not in spec:
        if not _PATTERN.match(spec):
            raise AlsegUsageError(f"malformed strategy name '{spec}'")
        return spec, {}
    name, _, rest = spec.partition("(")
    name = name.strip()
    if not rest.endswith(")") or not _PATTERN.match(name):
        raise AlsegUsageError(f"malformed strategy '{spec}'; write name(key=value, ...)")
    try:
        call = ast.parse(f"f({rest}", mode="eval").body
    except SyntaxError as err:
        raise AlsegUsageError(f"malformed strategy parameters in '{spec}'; write name(key=value, ...)") from err
    assert isinstance(call, ast.Call)
    if call.args or any(kw.arg is None for kw in call.keywords):
        raise AlsegUsageError(f"strategy '{spec}': parameters must be given as key=value")
    return name, {kw.arg: _value(kw.value, spec) for kw in call.keywords if kw.arg}


def render_value(value: Any) -> str:
    """Canonical text of a parameter value (true/false lowercase, bare words unquoted)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    if isinstance(value, str) and _IDENT.match(value):
        return value
    return repr(value)


def constructor_defaults(cls: type[Strategy]) -> dict[str, Any]:
    """Keyword parameters of a strategy's __init__ with their defaults."""
    params = inspect.signature(cls.__init__).parameters
    kinds = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return {n: p.default for n, p in params.items() if n != "self" and p.kind in kinds}


@dataclass(frozen=True)
class StrategySpec:
    """A resolved strategy: canonical run name, class, parameters and where it comes from."""

    run_name: str
    name: str
    params: dict[str, Any] = field(hash=False)
    cls: type[Strategy] = field(hash=False)
    provider: str = ""

    @property
    def label(self) -> str:
        base = self.cls.label or self.name
        if not self.params:
            return base
        return f"{base} ({', '.join(f'{k}={render_value(v)}' for k, v in sorted(self.params.items()))})"

    def build(self) -> Strategy:
        """A fresh strategy instance."""
        return self.cls(**self.params)


def _same(value: Any, default: Any) -> bool:
    """True when a given parameter equals the constructor default (then it is left out of the name)."""
    numbers = (int, float)
    if isinstance(value, numbers) and isinstance(default, numbers) and not isinstance(value, bool) \
            and not isinstance(default, bool):
        return float(value) == float(default)
    return type(value) is type(default) and value == default


def effective_params(cls: type[Strategy], params: dict[str, Any]) -> dict[str, Any]:
    """The parameters that differ from the constructor's defaults, sorted by key (unknown keys kept)."""
    defaults = constructor_defaults(cls)
    return {k: v for k, v in sorted(params.items()) if k not in defaults or not _same(v, defaults[k])}


def canonical_run_name(cls: type[Strategy], params: dict[str, Any]) -> str:
    """The one name of a strategy with parameters: `name(k=v,...)`, keys sorted, defaults left out.

    It keys the run files and the leaderboard, and it is the conformance kit's test id.
    """
    effective = effective_params(cls, params)
    if not effective:
        return cls.name
    return cls.name + "(" + ",".join(f"{k}={render_value(v)}" for k, v in effective.items()) + ")"


def run_name_of(strategy: Strategy) -> str:
    """canonical_run_name of an instance, from the constructor parameters it stores."""
    cls = type(strategy)
    return canonical_run_name(cls, {k: getattr(strategy, k) for k in constructor_defaults(cls) if hasattr(strategy, k)})


def make_spec(entry: StrategyEntry, params: dict[str, Any]) -> StrategySpec:
    """Validate parameters against the constructor and the needs they imply; build the canonical run name."""
    if entry.cls is None:
        raise AlsegUsageError(f"strategy '{entry.name}' from {entry.provider} failed to load: {entry.error}")
    defaults = constructor_defaults(entry.cls)
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        valid = ", ".join(sorted(defaults)) or "(none)"
        raise AlsegUsageError(
            f"unknown parameter {', '.join(repr(u) for u in unknown)} for strategy '{entry.name}'; valid: {valid}"
        )
    try:
        instance = entry.cls(**params)
    except Exception as err:
        raise AlsegUsageError(f"strategy '{entry.name}' rejected its parameters {params}: {err}") from err
    run_name = canonical_run_name(entry.cls, params)
    try:
        needs_of(instance)
    except StrategyContractError as err:
        raise AlsegUsageError(f"{err} (in '{run_name}', from {entry.provider})") from err
    return StrategySpec(run_name, entry.name, effective_params(entry.cls, params), entry.cls, entry.provider)


def resolve(text: str, registry: dict[str, StrategyEntry], exclude: str = "") -> list[StrategySpec]:
    """Turn '--strategies' text ('all', patterns, names with parameters) into specs, in order, deduplicated."""
    usable = sorted((n for n, e in registry.items() if not e.broken), key=natural_key)
    specs: list[StrategySpec] = []
    for item in split_specs(text):
        name, params = parse_spec(item)
        if name == "all" or any(c in name for c in "*?["):
            matched = usable if name == "all" else [n for n in usable if fnmatch.fnmatchcase(n, name)]
            if not matched:
                raise AlsegUsageError(f"--strategies: '{name}' matches no strategy; available: {', '.join(usable)}")
            specs += [make_spec(registry[n], params) for n in matched]
        elif name in registry:
            specs.append(make_spec(registry[name], params))
        else:
            raise AlsegUsageError(f"unknown strategy '{name}'; available: {', '.join(usable)}")
    for pattern in split_specs(exclude, "--exclude") if exclude else []:
        specs = [s for s in specs
                 if not (fnmatch.fnmatchcase(s.run_name, pattern) or fnmatch.fnmatchcase(s.name, pattern))]
    unique: dict[str, StrategySpec] = {}
    for s in specs:
        unique.setdefault(s.run_name, s)
    if not unique:
        raise AlsegUsageError("no strategy left to run after --exclude")
    return list(unique.values())


def build_strategy(spec: str, plugins: bool = True) -> Strategy:
    """A fresh instance of one registered strategy named with parameters ('entropy(aggregate=max)').

    For strategies built on another one (a plugin's stochastic-batch version of any scored strategy): the
    name and parameters are checked exactly as `--strategies` checks them, so an unknown name is an
    AlsegUsageError listing the available ones. A pattern, 'all' or a list is refused: it names no one strategy.
    """
    items = split_specs(spec, "strategy") if isinstance(spec, str) else []
    names = [parse_spec(item)[0] for item in items]
    if len(items) != 1 or names[0] == "all" or any(c in names[0] for c in "*?["):
        raise AlsegUsageError(f"strategy {spec!r}: name exactly one registered strategy, e.g. 'entropy' or "
                              "'entropy(aggregate=max)' (not a pattern, 'all' or a list)")
    return resolve(items[0], discover(plugins=plugins))[0].build()
