"""The registry of separators: every path from a mixture to source images.

A separator is a plain function::

    func(mixture, rate, *, <keyword-only parameters with defaults>) -> dict[str, np.ndarray]

    mixture: float32 array [shape=(channels, samples)]
    rate:    sample rate in Hz
    returns: {source name: float32 image [shape=(channels, samples)]}

It is registered under a name with :func:`register` (spatial methods, oracles) or
:func:`add` (trained checkpoints, see :mod:`shotoku.models.catalog`);
``shotoku.separate(x, rate, method=name)``, ``shotoku separate --method name``, studies and the
web page all reach it through :func:`get`. Its keyword-only parameters (names, defaults, types)
are read from its signature, and their documentation from its docstring's ``name: text`` lines,
so ``shotoku methods`` lists them without a second declaration.

**Shared parameters** (:data:`SHARED`) mean the same for every method that takes them, and a
caller may pass them to any method without looking at its signature (:meth:`Method.arguments`):
``seed``, ``device`` and ``progress`` are dropped where a method has no use for them;
``sources`` is refused by a method whose outputs are fixed (a trained model's targets);
``references`` is required by the oracles and refused by every other method.
"""

from __future__ import annotations

import importlib
import inspect
import re
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .errors import ParameterError, UnknownMethodError

# Modules that register separators when imported. Each module calls ``register`` at import time.
SEPARATOR_MODULES = (
    "shotoku.oracles",
    "shotoku.models.catalog",
    "shotoku.spatial.projet",
    "shotoku.spatial.duet",
    "shotoku.spatial.adress",
    "shotoku.spatial.ica",
)

# The method used when none is named, by channel count of the input: the best blind method
# measured on the study scenes (docs/benchmarks.md).
DEFAULT_METHODS = {2: ("adress",), "multi": ("auxiva",)}

#: Parameters with one meaning wherever they appear: name -> what it means.
SHARED = {
    "sources": "number of sources to extract (methods that let the user choose)",
    "seed": "seed of every random choice; the same seed gives the same images",
    "device": "torch device: cpu, cuda, cuda:N or auto",
    "progress": "show progress on a terminal",
    "references": "the true source images {name: (channels, samples)}, for the oracles",
}
#: Shared parameters a caller may always pass; a method that does not take them ignores them.
OPTIONAL_SHARED = ("seed", "device", "progress")
#: Bounds of the parameters that drive memory and time, checked for every method that takes
#: them before any work (a method checks its own tighter ones): (lowest, highest), inclusive.
#: 65536 samples is 1.5 s at 44.1 kHz; more objects than 64 or a million iterations are typos.
LIMITS = {"sources": (1, 64), "n_fft": (16, 65536), "hop": (1, 65536), "iterations": (0, 1_000_000),
          "n_iter": (0, 1_000_000)}


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
    takes_progress: bool = False
    #: Parameters a caller must give (no usable default), e.g. a model's ``checkpoint``.
    required: tuple[str, ...] = ()
    #: How :func:`shotoku.separation.run` treats a long input: "whole" (one call), "blocks"
    #: (separated block by block, each block on its own: outputs named by the method itself,
    #: such as a model's targets or an oracle's references) or "planned" (blocks, after
    #: ``plan`` has fixed the method's global decisions on a summary of the whole input).
    blocks: str = "whole"
    #: ``plan(summary, rate, **arguments) -> {parameter: value}``: the values that fix what a
    #: "planned" method decides from the whole input (its objects' positions, ...), so that
    #: every block gives the same objects under the same names. Keys with a leading underscore
    #: are fitted state (ICA's demixing matrices): keyword-only arguments of the method that
    #: are no user parameter and are not recorded.
    plan: Callable | None = None

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


    def arguments(self, params: dict) -> dict:
        """The keyword arguments to call this method with, from a caller's ``params``.

        Checks every name (:class:`~shotoku.errors.ParameterError` for an unknown one, with the
        method's parameters listed), drops the optional shared ones it does not take, refuses
        ``sources`` where the outputs are fixed and ``references`` where they mean nothing, and
        asks for ``references`` and every required parameter where they are missing.
        """
        out = {}
        for key, value in params.items():
            if key in self.params or (key == "references" and self.needs_references):
                out[key] = value
            elif key == "progress":
                if self.takes_progress:
                    out[key] = value
            elif key in OPTIONAL_SHARED:
                continue
            elif key == "sources":
                raise ParameterError(f"method '{self.name}' does not take a number of sources: its outputs are fixed")
            elif key == "references":
                if value is not None:
                    raise ParameterError(f"method '{self.name}' is not an oracle: it takes no references")
            else:
                known = ", ".join(self.params) or "none"
                raise ParameterError(f"method '{self.name}' has no parameter '{key}'; its parameters: {known}")
        if self.needs_references and out.get("references") is None:
            raise ParameterError(f"method '{self.name}' is an oracle: it needs the true source images "
                                 "(references=..., or --references DIR)")
        for key in self.required:
            if out.get(key) in (None, ""):
                raise ParameterError(f"method '{self.name}' needs {key}=...: {self.params[key].doc}")
        for key, p in self.params.items():  # defaults set at registration (a shipped model's checkpoint)
            out.setdefault(key, p.default)
        if "seed" in out:
            seed = out["seed"]
            if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2 ** 63:
                raise ParameterError(f"seed must be a whole number from 0 to 2**63 - 1, got {seed!r}")
        if "sources" in params and "sources" in out and not isinstance(out["sources"], str):
            n = out["sources"]
            if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
                raise ParameterError(f"sources must be a whole number of at least 1, got {n!r}")
        for key, (low, high) in LIMITS.items():
            value = out.get(key)
            if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value != 0 \
                    and not low <= value <= high:
                raise ParameterError(f"{key} must lie in {low}..{high}, got {value}")
        return out

    def settings(self, arguments: dict) -> dict:
        """Every parameter's value in a call with ``arguments`` (defaults filled in), for records."""
        values = {name: p.default for name, p in self.params.items()}
        values.update({k: v for k, v in arguments.items() if k in self.params})
        return values


_REGISTRY: dict[str, Method] = {}
_LOADED = False
_LOAD_LOCK = threading.RLock()


def _param_docs(doc: str) -> dict[str, str]:
    out = {}
    for line in (doc or "").splitlines():
        m = re.match(r"\s*([a-z_][a-z0-9_]*)\s*(?:\([^)]*\))?\s*:\s*(.+)$", line)
        if m:
            out.setdefault(m.group(1), m.group(2).strip())
    return out


def method_from_function(name: str, func: Callable, *, description: str, channels: str = "any",
                         needs_references: bool = False, defaults: dict | None = None,
                         required: tuple[str, ...] = (), blocks: str = "whole",
                         plan: Callable | None = None) -> Method:
    """A :class:`Method` for ``func``, its parameters read from its signature and docstring.

    defaults: replace some signature defaults (a shipped model fixes its ``checkpoint``)
    required: parameters the caller must give
    blocks, plan: how a long input is split (:attr:`Method.blocks`, :attr:`Method.plan`)
    """
    if blocks not in ("whole", "blocks", "planned") or (blocks == "planned") != (plan is not None):
        raise ValueError(f"method '{name}': blocks must be whole, blocks or planned (with a plan)")
    docs = _param_docs(func.__doc__ or "")
    params = {}
    takes_progress = False
    for p in inspect.signature(func).parameters.values():
        if p.kind is not inspect.Parameter.KEYWORD_ONLY or p.name == "references" or p.name.startswith("_"):
            continue  # a leading underscore: fitted state a plan hands over, not a user's parameter
        if p.name == "progress":
            takes_progress = True
            continue
        default = p.default if p.default is not inspect.Parameter.empty else None
        if defaults and p.name in defaults:
            default = defaults[p.name]
        ptype = type(default) if default is not None else str
        params[p.name] = Param(p.name, default, ptype, docs.get(p.name, "") or SHARED.get(p.name, ""))
    return Method(name, func, description, channels, needs_references, params, takes_progress, tuple(required),
                  blocks, plan)


def add(method: Method) -> Method:
    """Put ``method`` in the registry under its name (replacing one of the same name)."""
    _REGISTRY[method.name] = method
    return method


def register(
    name: str,
    *,
    description: str,
    channels: str = "any",
    needs_references: bool = False,
    required: tuple[str, ...] = (),
    blocks: str = "whole",
    plan: Callable | None = None,
) -> Callable[[Callable], Callable]:
    """Register a separator function under ``name`` (decorator); see :func:`method_from_function`."""

    def deco(func: Callable) -> Callable:
        add(method_from_function(name, func, description=description, channels=channels,
                                 needs_references=needs_references, required=required, blocks=blocks,
                                 plan=plan))
        return func

    return deco


def _load() -> None:
    """Import every module of :data:`SEPARATOR_MODULES` once (thread-safe: the web server's
    threads may ask for the registry at the same time)."""
    global _LOADED
    if _LOADED:
        return
    with _LOAD_LOCK:
        if _LOADED:
            return
        for mod in SEPARATOR_MODULES:
            try:
                importlib.import_module(mod)
            except ModuleNotFoundError as exc:  # a method module not present in this build
                if exc.name != mod:
                    raise
        _LOADED = True


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

    Stereo: ``adress`` (with its multichannel NMF post-filter: the best blind method measured on the study
    scenes, docs/benchmarks.md); more channels: ``auxiva``. Mono input has no spatial cue, so
    there is no default: :class:`~shotoku.errors.ChannelError` asks for a trained model instead.
    """
    from .errors import ChannelError

    _load()
    choices = DEFAULT_METHODS.get(n_channels) or (DEFAULT_METHODS["multi"] if n_channels > 2 else ())
    for name in choices:
        if name in _REGISTRY:
            return name
    raise ChannelError(
        f"no default method for {n_channels}-channel input: spatial methods need 2 or more "
        "channels; separate mono audio with a trained model (--method model --param checkpoint=PATH)"
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
        if p.type is int:
            number = float(value)
            if not number.is_integer():
                raise ValueError(value)
            return int(number)
        if p.type in (float, str):
            return p.type(value)
        if p.type in (tuple, list):
            return tuple(float(v) for v in value.split(",") if v.strip())
        return value
    except ValueError:
        raise ParameterError(
            f"parameter '{key}' of method '{method.name}' expects {p.type.__name__}, got '{value}'"
        ) from None
