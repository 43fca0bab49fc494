"""CA, broker (server) and device (client) certificates, made with `cryptography`.

`init_certs` makes a unique CA and a server certificate, `issue_client` a device's client
certificate, `describe` reports what a folder holds. Keys are written 0600 in a 0700 folder.
"""

from iotsim_tui.certs.authority import (
    DEFAULT_DAYS,
    DEFAULT_HOSTS,
    CertSet,
    ClientCert,
    init_certs,
    issue_client,
)
from iotsim_tui.certs.inspect import CertInfo, describe

__all__ = [
    "DEFAULT_DAYS",
    "DEFAULT_HOSTS",
    "CertInfo",
    "CertSet",
    "ClientCert",
    "describe",
    "init_certs",
    "issue_client",
]
