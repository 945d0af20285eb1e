"""One registry of mli's classes: algorithms, models and pipeline stages.

Every class registers itself when its ``class`` statement runs (``Algorithm``, ``Model`` and
``Stage`` call :func:`register` from ``__init_subclass__``), under its *key*: the class's own
``_registry_name`` if it sets one (a stable name, e.g. ``"mli.ALSModel"``), else
``"<module>.<qualname>"``. A saved model or pipeline names its classes by key; loading looks
the key up here and never imports a name taken from a file.

The core never imports the packages that define classes. They announce themselves as
*providers* in the ``mli.registry`` entry-point group (``pyproject.toml``)::

    [project.entry-points."mli.registry"]
    algorithms = "mli.algorithms:import_all"

and the first lookup that misses calls every provider once (each imports its modules, whose
classes register themselves). A third-party package does the same to make its models
loadable by :func:`mli.load`.
"""
from __future__ import annotations

import logging
import threading
from importlib import metadata

__all__ = ["KINDS", "key_of", "register", "lookup", "registered", "load_providers",
           "forget_module", "ENTRY_POINT_GROUP"]

log = logging.getLogger(__name__)

#: what a class is registered as
KINDS = ("algorithm", "model", "transformer", "estimator")
ENTRY_POINT_GROUP = "mli.registry"

_CLASSES: dict[str, dict[str, type]] = {kind: {} for kind in KINDS}
_providers_loaded = False
_lock = threading.RLock()


def key_of(cls: type) -> str:
    """The key ``cls`` is registered (and saved) under: ``cls._registry_name`` if the class
    itself sets it, else ``"<module>.<qualname>"`` (a name only; it is never imported)."""
    explicit = cls.__dict__.get("_registry_name")
    if explicit is not None:
        if not isinstance(explicit, str) or not explicit:
            raise TypeError(f"{cls.__qualname__}._registry_name must be a non-empty str")
        return explicit
    return f"{cls.__module__}.{cls.__qualname__}"


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")


def register(cls: type, kind: str) -> type:
    """Register ``cls`` as a ``kind`` (one of :data:`KINDS`).

    Re-defining the same class (same module and qualified name, e.g. a module reload)
    replaces the old entry; a *different* class claiming a taken key is a TypeError.
    """
    _check_kind(kind)
    key = key_of(cls)
    with _lock:
        old = _CLASSES[kind].get(key)
        if old is not None and old is not cls and (
                old.__module__, old.__qualname__) != (cls.__module__, cls.__qualname__):
            raise TypeError(f"{kind} registry key {key!r} of {cls.__module__}.{cls.__qualname__}"
                            f" is already used by {old.__module__}.{old.__qualname__}; set a "
                            "distinct _registry_name")
        _CLASSES[kind][key] = cls
    return cls


def forget_module(module: str) -> list[str]:
    """Unregister every class defined in ``module`` (e.g. code run from a document that is
    then discarded); returns their keys."""
    gone = []
    with _lock:
        for classes in _CLASSES.values():
            for key in [k for k, c in classes.items() if c.__module__ == module]:
                del classes[key]
                gone.append(key)
    return gone


def load_providers() -> None:
    """Call every ``mli.registry`` entry point once (each imports the modules of a package
    that defines mli classes). A provider that fails is logged and skipped, so one broken
    plug-in does not stop loading a model of another."""
    global _providers_loaded
    with _lock:
        if _providers_loaded:
            return
        _providers_loaded = True
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            try:
                provider = ep.load()
                if callable(provider):
                    provider()
            except Exception as exc:  # noqa: BLE001 - see the docstring
                log.warning("mli registry provider %r (%s) failed: %s", ep.name, ep.value, exc)


def lookup(kind: str, key: str) -> type | None:
    """The class registered as ``kind`` under ``key``, loading the providers on a miss;
    None if no provider defines it."""
    _check_kind(kind)
    cls = _CLASSES[kind].get(key)
    if cls is None:
        load_providers()
        cls = _CLASSES[kind].get(key)
    return cls


def registered(kind: str, *, providers: bool = False) -> dict[str, type]:
    """A copy of the registry of ``kind``: key -> class. ``providers=True`` first loads
    every provider (so all of mli's own classes are listed)."""
    _check_kind(kind)
    if providers:
        load_providers()
    return dict(_CLASSES[kind])
