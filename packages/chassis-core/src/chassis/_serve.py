"""``chassis run`` with a management port: one uvicorn server listening on two sockets.

uvicorn serves one app on every socket it is given (its single-process server, its
``--workers`` supervisor and its ``--reload`` supervisor all take a list), so the API port
and the management port share the app, the workers and the event loop; the app tells the
two apart by the port of the socket a connection came in on (``scope["server"]``), which is
the management port only for connections made to it.
"""

from __future__ import annotations

import copy
import inspect
import os
import sys
from typing import Any

#: Set for the server's processes, so the app (in each worker, too) knows the port.
PORT_VARIABLE = "CHASSIS_MANAGEMENT__PORT"


def serve_with_management_port(
    app: str, *, management_host: str, management_port: int, **kwargs: Any
) -> None:
    """Like ``uvicorn.run(app, **kwargs)``, also listening on ``management_host:port``."""
    import uvicorn
    from uvicorn.supervisors import ChangeReload, Multiprocess

    os.environ[PORT_VARIABLE] = str(management_port)
    config = uvicorn.Config(app, **kwargs)
    server = uvicorn.Server(config=config)
    management = copy.copy(config)
    management.host, management.port = management_host, management_port
    management.uds = None
    management.fd = None
    sockets = [config.bind_socket(), management.bind_socket()]
    try:
        if config.should_reload:
            ChangeReload(config, target=server.run, sockets=sockets).run()
        elif config.workers > 1:
            if "target" in inspect.signature(Multiprocess).parameters:  # uvicorn < 0.37
                Multiprocess(config, target=server.run, sockets=sockets).run()  # type: ignore[call-arg]
            else:
                Multiprocess(config, sockets=sockets).run()
        else:
            server.run(sockets=sockets)
    except KeyboardInterrupt:  # pragma: no cover - as uvicorn.run
        pass
    finally:
        for sock in sockets:
            sock.close()
    if not server.started and not config.should_reload and config.workers == 1:
        sys.exit(3)  # uvicorn's STARTUP_FAILURE
