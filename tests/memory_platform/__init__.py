"""A third chat platform, in memory: the adapter that proves the seam (issue 15 item 6).

Everything a platform brings lives in this folder: identity (``identity``: its user ids
<-> people, as ``ChatAccount`` rows of platform ``memory``), a renderer (``renderer``:
outbox kind + facts -> a plain dict, never Block Kit), a transport (``transport``: posts
recorded in a list, with the crash lookup capability) and inbound calls (``inbound``: a
button click -> the platform-neutral domain call, by person id). ``routing`` is the
stand-in for what core lacks today: a per-person primary platform (see its docstring).
"""

from __future__ import annotations

from platforms.base import Platform
from tests.memory_platform.identity import NAME
from tests.memory_platform.renderer import MemoryRenderer
from tests.memory_platform.transport import MemoryTransport


def memory_platform(transport: MemoryTransport) -> Platform:
    """The memory adapter's outbound parts, for ``platforms.base.routes``."""
    return Platform(name=NAME, renderer=MemoryRenderer(), transport=transport)


__all__ = ["NAME", "MemoryRenderer", "MemoryTransport", "memory_platform"]
