"""Config files in and out: reading a --config TOML file (its [bench] table), typing each value, writing config.toml.

`check_type` is the one type check for every option value, from a file or a flag, derived from BenchConfig's
annotations; for a config file it also says how to write a mistyped value.
"""

from __future__ import annotations

import datetime
import json
import math
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from alseg.config_schema import INTERNAL_FIELDS, OPTION_NAMES, OPTION_TYPES, REGIME_OPTIONS, TYPE_WORDS, BenchConfig
from alseg.errors import AlsegUsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def _describe(value: Any) -> str:
    """A value as the user wrote it, for messages: the string '2', the boolean true, a list [1, 2]."""
    if isinstance(value, bool):
        return f"the boolean {'true' if value else 'false'}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, int):
        return f"the integer {value}"
    if isinstance(value, float):
        return f"the number {value!r}"
    if isinstance(value, list):
        text = repr(value)
        return f"a list {text if len(text) <= 40 else text[:37] + '...'}"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, (datetime.date, datetime.time)):
        return f"the date/time {value.isoformat()}"
    return f"a {type(value).__name__} {value!r}"


_TRUE_WORDS, _FALSE_WORDS = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def _toml_hint(key: str, kind: type, value: Any) -> str:
    """How to write a mistyped config-file value correctly, when the intent is clear ('' when it is not)."""
    if isinstance(value, str) and kind in (int, float):
        try:
            number = int(value.strip()) if kind is int else float(value.strip())
        except ValueError:
            return ""
        return f" (write {key} = {number!r} without quotes)" if math.isfinite(number) else ""
    if isinstance(value, float) and kind is int and math.isfinite(value) and value.is_integer():
        return f" (write {key} = {int(value)})"
    if kind is bool and isinstance(value, (str, int)):
        word = str(value).strip().lower()
        if word in _TRUE_WORDS + _FALSE_WORDS:
            quotes = " without quotes" if isinstance(value, str) else ""
            return f" (write {key} = {'true' if word in _TRUE_WORDS else 'false'}{quotes})"
    if kind is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        return f' (write {key} = "{value}" with quotes)'
    if kind is str and isinstance(value, list) and all(isinstance(v, str) for v in value):
        return f" (write {key} = {_toml_string(','.join(value))}, one comma-separated string)"
    return ""


def check_type(name: str, value: Any, where: str, key: str = "") -> Any:
    """The value if it fits the option's annotated type (an int is widened to float), else a usage error.

    `where` starts the message ('--lr' or "config.toml: key 'lr'"); `key` (config files) adds how to write it.
    """
    kind, optional = OPTION_TYPES[name]
    if value is None and optional:
        return None
    is_bool = isinstance(value, bool)  # a bool is an int to Python, never to alseg
    if kind is float and isinstance(value, int) and not is_bool:
        return float(value)
    if isinstance(value, kind) and is_bool == (kind is bool):
        return value
    hint = _toml_hint(key, kind, value) if key else ""
    raise AlsegUsageError(f"{where} must be {TYPE_WORDS[kind]}, got {_describe(value)}{hint}")


def _regime_item(value: Any, strings: bool) -> int | None:
    """One listed value of a regime option as an int (10, or '10' where `strings`: a flag), None if it is not one."""
    if isinstance(value, str) and strings:
        try:
            return int(value.strip())
        except ValueError:
            return None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def check_regime_value(name: str, value: Any, where: str, key: str = "") -> int | tuple[int, ...]:
    """An --initial / --budget / --rounds value: one int, or several (a grid of regimes) as a tuple.

    A flag or a Python call may give "10,30" or a list; a config file a TOML list (`initial = [10, 30]`). One
    value, listed or not, is that int, so a single regime stays exactly the plain option. `where` and `key` as
    in check_type.
    """
    if isinstance(value, str) and not key:
        items: list[Any] = value.split(",")
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        items = [value]
    numbers = [_regime_item(v, strings=not key) for v in items]
    if not items or None in numbers:
        form = f"a list of integers ({key} = [10, 30])" if key else "a comma-separated list of them (e.g. 10,30)"
        bad = [v for v, n in zip(items, numbers, strict=True) if n is None]
        got = f"{_describe(bad[0])} in {_describe(value)}" if len(items) > 1 else _describe(value)
        if key and isinstance(value, str) and "," in value:
            hint = f" (write {key} = [{value}])"
        else:
            hint = _toml_hint(key, int, value) if key else ""
        raise AlsegUsageError(f"{where} must be an integer or {form}, got {got}{hint}")
    repeated = sorted({n for n in numbers if numbers.count(n) > 1})
    if repeated:
        raise AlsegUsageError(f"{where} lists {', '.join(map(str, repeated))} more than once; give each value once")
    return numbers[0] if len(numbers) == 1 else tuple(numbers)  # type: ignore[return-value]


def _normalise_keys(values: dict[str, Any], source: str) -> dict[str, Any]:
    """Accept 'batch-size' and 'batch_size'; reject keys that are not options (naming the valid ones) or repeats."""
    out: dict[str, Any] = {}
    spelled: dict[str, str] = {}
    for key, value in values.items():
        name = key.replace("-", "_")
        if name not in OPTION_NAMES:
            valid = ", ".join(f.replace("_", "-") for f in OPTION_NAMES)
            raise AlsegUsageError(f"invalid option '{key}' in {source}; valid options: {valid}")
        if name in spelled:
            raise AlsegUsageError(f"{source}: keys '{spelled[name]}' and '{key}' are the same option; keep one")
        spelled[name] = key
        check = check_regime_value if name in REGIME_OPTIONS else check_type
        out[name] = check(name, value, f"{source}: key '{key}'", key)
    return out


def read_config_text(path: Path) -> str:
    """The text of a --config file, or a usage error naming the path (missing, a folder, unreadable, not UTF-8)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError as err:
        raise AlsegUsageError(f"--config: file {path} does not exist") from err
    except IsADirectoryError as err:
        hint = f"; did you mean {path / 'config.toml'}?" if (path / "config.toml").is_file() else ""
        raise AlsegUsageError(f"--config: {path} is a folder, not a TOML file{hint}") from err
    except PermissionError as err:
        raise AlsegUsageError(f"--config: cannot read {path}: permission denied") from err
    except OSError as err:
        raise AlsegUsageError(f"--config: cannot read {path}: {err.strerror or err}") from err
    try:
        return raw.decode("utf-8-sig")  # a BOM (Windows editors) is harmless
    except UnicodeDecodeError as err:
        raise AlsegUsageError(f"--config: {path} is not UTF-8 text (bad byte at offset {err.start}); "
                              "save it as UTF-8") from err


def bench_table(data: dict[str, Any], source: str) -> dict[str, Any]:
    """The options of a parsed config file: its [bench] table (nothing beside it), or its top level."""
    if "bench" not in data:
        tables = [f"[{k}]" for k, v in data.items() if isinstance(v, dict) and k.replace("-", "_") not in OPTION_NAMES]
        if tables:
            raise AlsegUsageError(f"{source}: table {', '.join(tables)} is not part of an alseg config; "
                                  "put the options in a [bench] table")
        return data
    if not isinstance(data["bench"], dict):
        raise AlsegUsageError(f"{source}: 'bench' must be the table [bench] holding the options, "
                              f"got {_describe(data['bench'])}")
    outside = [f"[{k}]" if isinstance(v, dict) else f"'{k}'" for k, v in data.items() if k != "bench"]
    if outside:
        raise AlsegUsageError(f"{source}: {', '.join(outside)} outside the [bench] table would be ignored; "
                              "move the options into [bench] or remove them")
    return data["bench"]


def load_toml(path: Path) -> dict[str, Any]:
    """Read a config file whose keys are the long option names (a [bench] table or top level), type-checked."""
    try:
        data = tomllib.loads(read_config_text(path))
    except tomllib.TOMLDecodeError as err:
        raise AlsegUsageError(f"--config: {path} is not valid TOML: {err}") from err
    return _normalise_keys(bench_table(data, str(path)), str(path))


def _toml_string(text: str) -> str:
    """A TOML basic string (JSON escapes, but non-ASCII kept as is: JSON's surrogate pairs are not TOML)."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _toml_value(value: Any) -> str:
    """One value as TOML (bool, int, float or string)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return _toml_string(str(value))


def to_toml(cfg: BenchConfig) -> str:
    """The resolved config as TOML that `alseg bench --config` reads back to the same config."""
    lines = ["# alseg bench config: rerun with `alseg bench --config config.toml`", "[bench]"]
    for key, value in asdict(cfg).items():
        if value is None or key in INTERNAL_FIELDS:
            continue
        lines.append(f"{key.replace('_', '-')} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"
