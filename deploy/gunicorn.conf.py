"""gunicorn settings for chassis services: uvicorn workers and the set-up each process needs.

    gunicorn --config deploy/gunicorn.conf.py 'directmail.service:create_app()'

Everything is read from the environment, so one image serves every environment:

===============================  ==========================  =====================================
variable                         default                     meaning
===============================  ==========================  =====================================
``GUNICORN_BIND``                ``0.0.0.0:$PORT``           address(es) to listen on (``PORT``
                                                             defaults to 8080)
``CHASSIS_MANAGEMENT__PORT``     none                        (the kernel's) also listen on this
                                                             port, which alone serves probes,
                                                             /metrics, /info, /loggers
``GUNICORN_MANAGEMENT_BIND``     ``0.0.0.0:$CHASSIS_MAN...`` the management port's address
``GUNICORN_WORKERS``             ``WEB_CONCURRENCY`` or 2    worker processes
``GUNICORN_TIMEOUT``             30                          seconds a worker's event loop may
                                                             stay blocked before it is killed
``GUNICORN_KEEPALIVE``           5                           seconds an idle keep-alive
                                                             connection stays open
``GUNICORN_MAX_REQUESTS``        0 (never)                   restart a worker after this many
                                                             requests (plus up to 10% jitter)
``GUNICORN_PRELOAD``             ``false``                   build the app once in the master
``GUNICORN_GRACEFUL_TIMEOUT``    drain + grace + 5           seconds the master waits for
                                                             workers after SIGTERM, then kills
``CHASSIS_SHUTDOWN__DRAIN_SECONDS``  0                       (the kernel's) readiness answers
                                                             503 this long before stopping
``CHASSIS_SHUTDOWN__GRACE_SECONDS``  30                      then in-flight requests get this
                                                             long (uvicorn's graceful time-out)
``PROMETHEUS_MULTIPROC_DIR``     a fresh temporary dir       where workers share metrics
``FORWARDED_ALLOW_IPS``          ``127.0.0.1,::1``           proxies trusted for X-Forwarded-*
``GUNICORN_CONTROL_SOCKET``      none                        path of gunicorn's control socket
                                                             (``gunicornc``); unset: none
===============================  ==========================  =====================================

Per-process set-up:

* **Prometheus** (chassis-metrics): every worker writes its figures to
  ``PROMETHEUS_MULTIPROC_DIR`` and ``/metrics`` adds them up, whichever worker answers. The
  directory is created and emptied when gunicorn starts (figures of a previous run would be
  added to this one's) and a dead worker's live gauges are dropped (``child_exit``).
  When the variable is unset or empty a directory of this master's own is made, and removed
  at exit.
* **OpenTelemetry** (chassis-tracing): the plugin's span processor starts its export thread
  and HTTP connections in the process that ends the first span and resets itself after a fork
  (``os.register_at_fork``), so each worker exports its own spans, with or without
  ``GUNICORN_PRELOAD``; spans still queued are exported when a worker exits (the SDK's
  ``atexit`` shutdown). Nothing needs to run in ``post_fork`` for it.
* **Shutdown** (the kernel): on SIGTERM the master closes its listening sockets and passes
  SIGTERM to the workers; each worker's readiness answers 503 while it keeps serving for
  ``CHASSIS_SHUTDOWN__DRAIN_SECONDS``, then uvicorn stops accepting and gives in-flight
  requests ``CHASSIS_SHUTDOWN__GRACE_SECONDS``. ``graceful_timeout`` covers both, so the
  master never kills a worker that is still finishing requests.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from typing import Any

from chassis.server import header_deadline_protocol
from uvicorn_worker import UvicornWorker  # type: ignore[import-untyped]

logger = logging.getLogger("gunicorn.error")


def _number(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return float(value)
    except ValueError:
        raise SystemExit(f"gunicorn.conf.py: {name}={value!r} is not a number") from None


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


DRAIN_SECONDS = _number("CHASSIS_SHUTDOWN__DRAIN_SECONDS", 0.0)
GRACE_SECONDS = _number("CHASSIS_SHUTDOWN__GRACE_SECONDS", 30.0)
HEADER_TIMEOUT = _number("GUNICORN_HEADER_TIMEOUT", 10.0)


class ChassisUvicornWorker(UvicornWorker):
    """uvicorn's gunicorn worker with chassis's shutdown grace period.

    ``uvicorn_worker.UvicornWorker`` leaves uvicorn's graceful time-out unset (wait forever,
    until the master kills the worker); this one gives in-flight requests
    ``CHASSIS_SHUTDOWN__GRACE_SECONDS`` after the drain, as ``chassis run`` does, and a
    deadline of ``GUNICORN_HEADER_TIMEOUT`` seconds (10) for a request's headers.
    """

    CONFIG_KWARGS: dict[str, Any] = {  # noqa: RUF012 - the base class's own API
        **UvicornWorker.CONFIG_KWARGS,
        "timeout_graceful_shutdown": GRACE_SECONDS,
        # Close connections whose request headers do not arrive in time (slowloris).
        "http": header_deadline_protocol(HEADER_TIMEOUT),
    }


# -- server socket and workers -------------------------------------------------------------

bind: str | list[str] = (
    os.environ.get("GUNICORN_BIND") or f"0.0.0.0:{os.environ.get('PORT') or '8080'}"
)
# The management port: every worker listens on it too, and the app serves the probes,
# /metrics, /info and /loggers only to connections made to it (and the API only elsewhere).
MANAGEMENT_PORT = os.environ.get("CHASSIS_MANAGEMENT__PORT", "").strip()
if MANAGEMENT_PORT:
    bind = [bind, os.environ.get("GUNICORN_MANAGEMENT_BIND") or f"0.0.0.0:{MANAGEMENT_PORT}"]
workers = int(_number("GUNICORN_WORKERS", _number("WEB_CONCURRENCY", 2)))
worker_class = ChassisUvicornWorker
timeout = int(_number("GUNICORN_TIMEOUT", 30))
keepalive = int(_number("GUNICORN_KEEPALIVE", 5))
max_requests = int(_number("GUNICORN_MAX_REQUESTS", 0))
max_requests_jitter = max_requests // 10
preload_app = _flag("GUNICORN_PRELOAD")
graceful_timeout = int(_number("GUNICORN_GRACEFUL_TIMEOUT", DRAIN_SECONDS + GRACE_SECONDS + 5))

# Heartbeat files on a memory file system: never blocked by a slow disk, and writable when the
# root file system is read-only (Kubernetes' readOnlyRootFilesystem).
if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
    worker_tmp_dir = "/dev/shm"

# gunicorn >= 25.1 opens a control socket under $HOME by default: one per machine and user,
# so two servers would take each other's, and a read-only root file system has no $HOME.
control_socket_disable = not os.environ.get("GUNICORN_CONTROL_SOCKET")
if os.environ.get("GUNICORN_CONTROL_SOCKET"):
    control_socket = os.environ["GUNICORN_CONTROL_SOCKET"]

# Logs: the workers' chassis logging takes over uvicorn's loggers; the master's own lines
# (start, worker boots and exits) go to stderr.
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
proc_name = os.environ.get("CHASSIS_SERVICE_NAME") or None

# -- Prometheus multiprocess directory -----------------------------------------------------

MULTIPROC_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
_OWN_DIR_VARIABLE = "GUNICORN_OWN_MULTIPROC_DIR"  # survives a reload (SIGHUP re-reads this file)
if not os.environ.get(MULTIPROC_VARIABLE, "").strip():
    # Unset, or set empty (which chassis-metrics and this file take as unset): several workers
    # need a shared directory, so one of this master's own. This file runs in the master before
    # any worker is forked: the workers inherit it.
    os.environ[MULTIPROC_VARIABLE] = tempfile.mkdtemp(prefix="chassis-prometheus-")
    os.environ[_OWN_DIR_VARIABLE] = os.environ[MULTIPROC_VARIABLE]


def _clear_multiprocess_dir() -> int:
    try:
        from chassis_metrics.gunicorn import clear_multiprocess_dir
    except ImportError:  # chassis-metrics is not installed: nothing reads the directory
        return 0
    return clear_multiprocess_dir()


def _check_timeouts() -> None:
    needed = DRAIN_SECONDS + GRACE_SECONDS
    if graceful_timeout < needed:
        logger.warning(
            "graceful_timeout (%s s) is shorter than CHASSIS_SHUTDOWN__DRAIN_SECONDS + "
            "CHASSIS_SHUTDOWN__GRACE_SECONDS (%g s): workers still draining or finishing "
            "requests will be killed",
            graceful_timeout,
            needed,
        )


# -- server hooks (gunicorn calls them by name) --------------------------------------------


def on_starting(server: Any) -> None:
    """In the master, before any worker: an empty metrics directory, coherent time-outs."""
    removed = _clear_multiprocess_dir()
    if removed:
        logger.info(
            "removed %d metric files of a previous run from %s",
            removed,
            os.environ[MULTIPROC_VARIABLE],
        )
    _check_timeouts()


def child_exit(server: Any, worker: Any) -> None:
    """In the master, when a worker has exited: drop its live gauges (its totals stay)."""
    try:
        from chassis_metrics.gunicorn import mark_process_dead
    except ImportError:
        return
    mark_process_dead(int(worker.pid))


def on_exit(server: Any) -> None:
    """In the master, last: remove the metrics directory this file made for itself."""
    own = os.environ.get(_OWN_DIR_VARIABLE)
    if own and own == os.environ.get(MULTIPROC_VARIABLE):
        shutil.rmtree(own, ignore_errors=True)
