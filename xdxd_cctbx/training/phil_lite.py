"""A small reader of PHIL master strings and ``scope.name=value`` arguments, for
machines without cctbx (libtbx.phil is used whenever it is installed).

Understands what the training scopes use: nested ``scope { ... }``, definitions
``name = value`` with ``.type`` int, float, bool, str, path and choice (``*``
marks the default), and ``.help`` / other attributes (ignored).
"""
from __future__ import annotations

import re
import shlex
import types
from typing import Any, Dict, List, Sequence, Tuple

_DEF = re.compile(r"^([A-Za-z_][\w]*)\s*=\s*(.*)$")


def parse_master(text: str) -> Dict[str, Tuple[str, Any, List[str]]]:
    """{dotted.name: (type, default, choices)} from a PHIL master string."""
    defs: Dict[str, Tuple[str, Any, List[str]]] = {}
    scope: List[str] = []
    current = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("{"):
            scope.append(line[:-1].strip())
            current = None
            continue
        if line == "}":
            scope.pop()
            current = None
            continue
        if line.startswith(".type") and current is not None:
            typ = line.split("=", 1)[1].strip()
            name, (_, value, choices) = current, defs[current]
            base = typ.split("(")[0].strip()
            defs[name] = (base, _convert(base, value) if base != "choice" else value, choices)
            continue
        if line.startswith("."):
            continue
        m = _DEF.match(line)
        if m:
            name = ".".join(scope + [m.group(1)])
            value = m.group(2).strip()
            words = value.split()
            choices = [w.lstrip("*") for w in words] if any(w.startswith("*") for w in words) else []
            if choices:
                value = next(w.lstrip("*") for w in words if w.startswith("*"))
            defs[name] = ("str", value, choices)
            current = name
    return defs


def _convert(typ: str, value: Any) -> Any:
    if value is None or (isinstance(value, str) and value in ("None", "Auto")):
        return None
    if not isinstance(value, str):
        return value
    value = value.strip().strip('"')
    if typ == "int":
        return int(value)
    if typ == "float":
        return float(value)
    if typ == "bool":
        if value.lower() in ("true", "1", "yes"):
            return True
        if value.lower() in ("false", "0", "no"):
            return False
        raise ValueError(f"not a bool: {value!r}")
    return value


def extract(text: str, args: Sequence[str] = ()) -> types.SimpleNamespace:
    """Defaults of ``text`` with ``name=value`` arguments applied (names may be unique suffixes)."""
    defs = parse_master(text)
    values = {k: v[1] for k, v in defs.items()}
    for arg in args:
        if "=" not in arg:
            raise ValueError(f"argument {arg!r} is not name=value")
        key, value = arg.split("=", 1)
        matches = [k for k in defs if k == key or k.endswith("." + key)]
        if len(matches) != 1:
            raise ValueError(f"unknown or ambiguous parameter {key!r}" + (f" ({', '.join(matches)})" if matches else ""))
        name = matches[0]
        typ, _, choices = defs[name]
        if typ == "choice":
            value = value.strip()
            if value not in choices:
                raise ValueError(f"{name}={value} is not one of {', '.join(choices)}")
            values[name] = value
        else:
            values[name] = _convert(typ, value)
    root = types.SimpleNamespace()
    for name, value in values.items():
        node = root
        parts = name.split(".")
        for p in parts[:-1]:
            if not hasattr(node, p):
                setattr(node, p, types.SimpleNamespace())
            node = getattr(node, p)
        setattr(node, parts[-1], value)
    return root


def format_params(ns: types.SimpleNamespace, prefix: str = "") -> str:
    """name = value lines of an extracted namespace."""
    lines = []
    for key, value in vars(ns).items():
        if isinstance(value, types.SimpleNamespace):
            lines.append(format_params(value, f"{prefix}{key}."))
        else:
            lines.append(f"{prefix}{key} = {shlex.quote(str(value)) if isinstance(value, str) else value}")
    return "\n".join(lines)
