"""iotsim-tui: simulate and command IoT devices over MQTT, and see what TLS changes on the wire."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("iotsim-tui")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
