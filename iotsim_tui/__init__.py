"""iotsim-tui: simulate and command IoT devices over MQTT, and see what TLS changes on the wire."""

from __future__ import annotations


def __getattr__(name: str) -> str:
    # importlib.metadata costs tens of milliseconds: read the version only when asked for.
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("iotsim-tui")
    except PackageNotFoundError:  # running from a source tree that was never installed
        found = "0.0.0"
    globals()["__version__"] = found
    return found
