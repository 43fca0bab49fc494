"""The codec is sans-IO: it loads no networking or event loop module of its own."""

from __future__ import annotations

import subprocess
import sys


def test_the_codec_imports_no_sockets_and_no_asyncio() -> None:
    # The package itself reads its version with importlib.metadata, which pulls in socket:
    # only what the protocol modules add on top of that counts.
    script = (
        "import sys\n"
        "import iotsim_tui\n"
        "before = set(sys.modules)\n"
        "import iotsim_tui.protocol.codec, iotsim_tui.protocol.topics\n"
        "added = set(sys.modules) - before\n"
        "assert 'iotsim_tui.protocol.codec' in added\n"
        "banned = ('socket', 'ssl', 'asyncio', 'selectors', 'iotsim_tui.broker')\n"
        "print(','.join(sorted(m for m in added if m.split('.')[0] in banned\n"
        "                      or m.startswith('iotsim_tui.broker'))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == ""
