"""The Dockerfile of the image the Job's pods run: iotsim-tui installed from its sources."""

from __future__ import annotations

import iotsim_tui

SOURCES = ("pyproject.toml", "README.md", "iotsim_tui")
"""What the image is built from, relative to the project's folder (the build context)."""


def dockerfile(image: str, out: str) -> str:
    """The Dockerfile text; `out` is where it is written, for the build command it shows."""
    copies = "\n".join(f"COPY {path} ./{path}" for path in SOURCES)
    return f"""\
# The image for `iotsim-tui deploy k8s` (iotsim-tui {iotsim_tui.__version__}).
# Build it from the project's folder (the one with pyproject.toml), and push it where the
# cluster pulls from:
#   docker build -f {out}/Dockerfile -t {image} .
#   docker push {image}
FROM python:3.12-slim

WORKDIR /src
{copies}
RUN pip install --no-cache-dir . && rm -rf /src

# Not root; the Job's pods run as this user, with a read-only root file system.
RUN useradd --create-home --uid 10001 iotsim
USER 10001
WORKDIR /work
ENTRYPOINT ["iotsim-tui"]
CMD ["--help"]
"""
