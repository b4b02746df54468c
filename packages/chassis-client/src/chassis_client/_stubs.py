"""Where the testing kit puts the transports that stand in for services during a test.

Only ``chassis_client.testing`` writes here (its ``stub_service`` fixture, for the duration
of one test); the plugin reads it when it opens its clients at start-up. Outside tests it
stays empty and costs one dictionary lookup per service at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

STUB_BASE_URL = "http://{name}.stub"
"""The base URL of a stubbed service that settings do not configure."""


@dataclass
class Stub:
    """Network transports replaced for one service name."""

    sync: httpx.BaseTransport
    asynchronous: httpx.AsyncBaseTransport


stubs: dict[str, Stub] = {}
