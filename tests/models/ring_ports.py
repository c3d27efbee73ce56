"""A starting port for ``mlx.launch --backend ring -n 2`` on 127.0.0.1.

The ring binds ``port`` and ``port + 1``. A port the kernel handed out for
``bind(0)`` lies in the ephemeral range, where every outgoing connection of the
other test worker (PostgreSQL, the gateway simulator, tmux) also takes its
ports, and ``port + 1`` was never checked: under load one run in a few failed
with "Couldn't bind socket (error: 98)". The pair is picked below the
ephemeral range and both ports are checked free.
"""

from __future__ import annotations

import random
import socket


def _ephemeral_low() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def ring_starting_port() -> int:
    """A ``port`` with ``port`` and ``port + 1`` free, outside the ephemeral range."""
    high = min(_ephemeral_low(), 32768) - 2
    rng = random.Random()  # not the tests' seeded generator: workers must not pick alike
    for _ in range(200):
        port = rng.randrange(20000, high)
        if _free(port) and _free(port + 1):
            return port
    raise RuntimeError("no two consecutive free ports below the ephemeral range")
