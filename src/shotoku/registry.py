"""The registry of separators.

A separator is a plain function::

    func(mixture, rate, *, <keyword-only parameters with defaults>) -> dict[str, np.ndarray]

    mixture: float32 array [shape=(channels, samples)]
    rate:    sample rate in Hz
    returns: {source name: float32 image [shape=(channels, samples)]}

It is registered under a name with :func:`register`; ``shotoku.separate(x, rate, method=name)``,
``shotoku separate --method name`` and the web page all reach it through :func:`get`.
Its keyword-only parameters (names, defaults, types) are read from its signature, and their
documentation from its docstring's ``Parameters`` lines (``name: text``), so ``shotoku methods``
lists them without a second declaration.

Two keyword parameters have a shared meaning: ``sources`` (number of sources to extract, where the
method lets the user choose) and ``seed`` (every random choice). Oracle separators take
``references`` (a dict of reference images) and are flagged ``needs_references``.
"""

from __future__ import annotations

import importlib
import inspect
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from .errors import ParameterError, UnknownMethodError

# Modules that register separators when imported. Each module calls ``register`` at import time.
SEPARATOR_MODULES = (
    "shotoku.separators",
    "shotoku.spatial.projet",
    "shotoku.spatial.duet",
    "shotoku.spatial.adress",
    "shotoku.spatial.ica",
)

# The method used when none is named: by channel count of the input.
DEFAULT_METHODS = {2: ("projet",), "multi": ("auxiva",)}


@dataclass
class Param:
    name: str
    default: Any
    type: type
    doc: str = ""


@dataclass
class Method:
    name: str
    func: Callable[..., dict]
    description: str
    channels: str = "any"  # "any", "stereo" (exactly 2), "multi" (>= 2)
    needs_references: bool = False
    params: dict[str, Param] = field(default_factory=dict)

    def check_channels(self, n_channels: int) -> None:
        from .errors import ChannelError

        if self.channels == "stereo" and n_channels != 2:
            raise ChannelError(
                f"method '{self.name}' needs stereo input, got {n_channels} channel(s); "
                f"use a stereo file or another method (see 'shotoku methods')"
            )
        if self.channels == "multi" and n_channels < 2:
            raise ChannelError(
                f"method '{self.name}' needs at least 2 channels, got {n_channels}; "
                f"use a multichannel file or another method (see 'shotoku methods')"
            )


_REGISTRY: dict[str, Method] = {}
_LOADED = False


def _param_docs(doc: str) -> dict[str, str]:
    out = {}
    for line in (doc or "").splitlines():
        m = re.match(r"\s*([a-z_][a-z0-9_]*)\s*(?:\([^)]*\))?\s*:\s*(.+)$", line)
        if m:
            out.setdefault(m.group(1), m.group(2).strip())
    return out


def register(
    name: str,
    *,
    description: str,
    channels: str = "any",
    needs_references: bool = False,
) -> Callable[[Callable], Callable]:
    """Register a separator function under ``name`` (decorator)."""

    def deco(func: Callable) -> Callable:
        docs = _param_docs(func.__doc__ or "")
        params = {}
        for p in inspect.signature(func).parameters.values():
            if p.kind is not inspect.Parameter.KEYWORD_ONLY or p.name in ("references", "progress"):
                continue
            default = p.default if p.default is not inspect.Parameter.empty else None
            ptype = type(default) if default is not None else str
            params[p.name] = Param(p.name, default, ptype, docs.get(p.name, ""))
        _REGISTRY[name] = Method(name, func, description, channels, needs_references, params)
        return func

    return deco


def _load() -> None:
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    for mod in SEPARATOR_MODULES:
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as exc:  # a method module not present in this build
            if exc.name != mod:
                raise


def get(name: str) -> Method:
    """The registered :class:`Method` called ``name``; :class:`UnknownMethodError` if none."""
    _load()
    if name not in _REGISTRY:
        known = ", ".join(sorted(_REGISTRY))
        raise UnknownMethodError(f"unknown method '{name}'; known methods: {known}")
    return _REGISTRY[name]


def available() -> list[Method]:
    """All registered methods, sorted by name."""
    _load()
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def default_method(n_channels: int) -> str:
    """The method used when none is named, for input with ``n_channels`` channels.

    Stereo: ``projet``; more channels: ``auxiva``. Mono input has no spatial cue, so there is
    no default: :class:`~shotoku.errors.ChannelError` asks for a trained model instead.
    """
    from .errors import ChannelError

    _load()
    choices = DEFAULT_METHODS.get(n_channels) or (DEFAULT_METHODS["multi"] if n_channels > 2 else ())
    for name in choices:
        if name in _REGISTRY:
            return name
    raise ChannelError(
        f"no default method for {n_channels}-channel input: spatial methods need 2 or more "
        "channels; separate mono audio with a trained model (--model CHECKPOINT)"
    )


def convert_param(method: Method, key: str, value: str) -> Any:
    """Turn a command-line ``key=value`` string into the parameter's type."""
    if key not in method.params:
        known = ", ".join(method.params) or "none"
        raise ParameterError(f"method '{method.name}' has no parameter '{key}'; its parameters: {known}")
    p = method.params[key]
    try:
        if p.type is bool:
            low = value.lower()
            if low not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                raise ValueError(value)
            return low in ("1", "true", "yes", "on")
        if p.type in (int, float, str):
            return p.type(value)
        if p.type in (tuple, list):
            return tuple(float(v) for v in value.split(",") if v.strip())
        return value
    except ValueError:
        raise ParameterError(
            f"parameter '{key}' of method '{method.name}' expects {p.type.__name__}, got '{value}'"
        ) from None
