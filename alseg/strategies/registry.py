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
from alseg.strategies.base import POOL_SIGNALS, Strategy

GROUP = "alseg.strategies"
DISABLE_ENV = "ALSEG_DISABLE_PLUGINS"
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


def _load(ep: EntryPoint) -> StrategyEntry:
    """Load one entry point; any failure becomes a broken entry with a one-line error."""
    dist = getattr(ep, "dist", None)
    provider = f"{dist.name}=={dist.version}" if dist is not None else "unknown"
    builtin = dist is not None and dist.name == "alseg"
    try:
        cls = ep.load()
        if not (isinstance(cls, type) and issubclass(cls, Strategy)):
            raise TypeError(f"{ep.value} is not a subclass of alseg.strategies.Strategy")
        unknown = set(cls.needs) - POOL_SIGNALS
        if unknown:
            raise TypeError(f"needs unknown signals {sorted(unknown)}; known: {sorted(POOL_SIGNALS)}")
    except Exception as err:  # a plugin may fail in any way; it must never stop the built-ins
        msg = f"{type(err).__name__}: {err}".splitlines()[0][:200]
        return StrategyEntry(ep.name, ep.value, provider, builtin, None, msg)
    return StrategyEntry(ep.name, ep.value, provider, builtin, cls)


def plugins_disabled() -> bool:
    """True when ALSEG_DISABLE_PLUGINS is set to a true value."""
    return os.environ.get(DISABLE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def discover(plugins: bool = True) -> dict[str, StrategyEntry]:
    """All registered strategies by name, built-ins first; third-party ones unless plugins are off."""
    plugins = plugins and not plugins_disabled()
    found: dict[str, StrategyEntry] = {}
    eps = sorted(entry_points(group=GROUP), key=lambda e: (getattr(e.dist, "name", "") != "alseg", e.name))
    for ep in eps:
        builtin = getattr(ep.dist, "name", None) == "alseg"
        if ep.name in found or (not builtin and not plugins):
            continue
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


def make_spec(entry: StrategyEntry, params: dict[str, Any]) -> StrategySpec:
    """Validate parameters against the constructor and build the canonical run name."""
    if entry.cls is None:
        raise AlsegUsageError(f"strategy '{entry.name}' from {entry.provider} failed to load: {entry.error}")
    defaults = constructor_defaults(entry.cls)
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        valid = ", ".join(sorted(defaults)) or "(none)"
        raise AlsegUsageError(
            f"unknown parameter {', '.join(repr(u) for u in unknown)} for strategy '{entry.name}'; valid: {valid}"
        )
    effective = {k: v for k, v in sorted(params.items()) if not _same(v, defaults[k])}
    try:
        entry.cls(**params)
    except Exception as err:
        raise AlsegUsageError(f"strategy '{entry.name}' rejected its parameters {params}: {err}") from err
    run_name = entry.name
    if effective:
        run_name += "(" + ",".join(f"{k}={render_value(v)}" for k, v in effective.items()) + ")"
    return StrategySpec(run_name, entry.name, effective, entry.cls, entry.provider)


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
