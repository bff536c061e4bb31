"""Prometheus metrics, summed over every process that records them.

uvicorn runs several workers and Celery forks its pool, so a counter kept in
one process's memory would answer each scrape with whichever process took
it. prometheus_client's multiprocess mode is used instead: with
``PROMETHEUS_MULTIPROC_DIR`` set before the process starts (``dev.py run``,
the image's entrypoint and the tests' live stack create it, empty, for all
the processes of one run; ``ticketing.metrics_dir``), every process writes
its values to memory-mapped files of its own there (a lock and a store into
the map: about 2 µs), and ``/metrics`` adds them up at scrape time. Gauges
that describe now (``ticketing_websocket_connections``) count live
processes only: a process that ends drops its file (``metrics_process_end``)
and a scrape drops those of processes that died without doing so. Gauges
that Redis already knows (the queue's) are read by a collector at scrape
time (``METRICS_COLLECTORS``), never pushed per request.

``METRICS_ENABLED=0`` turns it all off: every instrument below is a no-op,
requests are not timed and ``/metrics`` answers 404.
"""

from __future__ import annotations

import functools
import inspect
import os
import re
from collections.abc import Callable, Iterable
from functools import cache
from typing import Any, TypeVar

from django.conf import settings
from django.urls import resolve
from django.utils.module_loading import import_string
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from core.errors import UNAVAILABLE_ERRORS, ApplicationError

#: Durations from a millisecond (a queue join) to a minute (a stuck request).
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
#: ASGI scope key: the URL pattern that served the request (the histogram's ``route``).
ROUTE = "ticketing.route"
UNMATCHED_ROUTE = "<unmatched>"
#: Methods kept as they are in the ``method`` label; any other is "other" (bounded cardinality).
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_LIVE_FILE = re.compile(r"gauge_live[a-z]+_(\d+)\.db")

F = TypeVar("F", bound=Callable[..., Any])


class _Off:
    """What an instrument is with metrics off: takes every call, records nothing."""

    def labels(self, *args: Any, **kwargs: Any) -> _Off:
        return self

    def inc(self, amount: float = 1) -> None:
        pass

    def dec(self, amount: float = 1) -> None:
        pass

    def observe(self, amount: float) -> None:
        pass


OFF = _Off()


def metrics_on() -> bool:
    return settings.METRICS_ENABLED


def counter(
    name: str, documentation: str, labelnames: Iterable[str] = (), *, initial: Iterable[str] = ()
) -> Counter | _Off:
    """A counter (exposed as ``<name>_total``), or a no-op with metrics off.
    ``initial``: values of its one label shown at 0 from the start, so a
    dashboard and ``rate()`` see the series before the first event (a
    decline, a reconciliation) rather than no data."""
    if not metrics_on():
        return OFF
    metric = Counter(name, documentation, list(labelnames))
    for value in initial:
        metric.labels(value)
    return metric


def live_gauge(name: str, documentation: str, labelnames: Iterable[str] = ()) -> Gauge | _Off:
    """A gauge summed over the processes alive now (``livesum``)."""
    return Gauge(name, documentation, list(labelnames), multiprocess_mode="livesum") if metrics_on() else OFF


def histogram(
    name: str, documentation: str, labelnames: Iterable[str] = (), buckets: tuple[float, ...] = DURATION_BUCKETS
) -> Histogram | _Off:
    return Histogram(name, documentation, list(labelnames), buckets=buckets) if metrics_on() else OFF


http_request_duration = histogram(
    "ticketing_http_request_duration_seconds",
    "HTTP requests by URL pattern, method and status: time from arrival to the last byte of the answer.",
    ["route", "method", "status"],
)
websocket_connections = live_gauge("ticketing_websocket_connections", "WebSockets open now (accepted, not closed).")

_http_children: dict[tuple[str, str, int], Any] = {}


def http_request_observe(route: str | None, method: str, status: int, seconds: float) -> None:
    """One request into the histogram; the labelled child is kept, so the
    hot paths pay for the observation only."""
    key = (route or UNMATCHED_ROUTE, method, status)
    child = _http_children.get(key)
    if child is None:
        label_method = method if method in METHODS else "other"
        child = _http_children[key] = http_request_duration.labels(key[0], label_method, str(status))
    child.observe(seconds)


@cache
def url_route(sample_path: str) -> str:
    """The URL pattern Django serves ``sample_path`` with, as the ``route``
    label (``/api/events/<int:event_id>/queue/``): the fast paths label
    their requests with the pattern of the view they stand in for. Cached
    by its argument, so callers pass a fixed sample of the pattern, never
    a request's own path."""
    return "/" + resolve(sample_path).route


def outcomes_counted(metric: Counter | _Off, *, ok: Callable[[Any], str | None]) -> Callable[[F], F]:
    """Count every call of a service (sync or async) in ``metric`` by result:
    ``ok(returned)`` when it returns (None: not counted, someone else
    answers), the ``ApplicationError``'s code when it refuses (a catalogue's
    code: bounded), ``unavailable`` for an overloaded or unreachable store
    (answered 503), ``error`` for anything else."""

    def count(label: str | None) -> None:
        if label is not None:
            metric.labels(label).inc()

    def refusal(exc: Exception) -> str:
        if isinstance(exc, ApplicationError):
            return exc.code
        return "unavailable" if isinstance(exc, UNAVAILABLE_ERRORS) else "error"

    def decorate(function: F) -> F:
        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def counted_async(*args: Any, **kwargs: Any) -> Any:
                try:
                    result = await function(*args, **kwargs)
                except Exception as exc:
                    count(refusal(exc))
                    raise
                count(ok(result))
                return result

            return counted_async  # type: ignore[return-value]

        @functools.wraps(function)
        def counted(*args: Any, **kwargs: Any) -> Any:
            try:
                result = function(*args, **kwargs)
            except Exception as exc:
                count(refusal(exc))
                raise
            count(ok(result))
            return result

        return counted  # type: ignore[return-value]

    return decorate


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def dead_processes_forget(path: str) -> None:
    """Drop the live gauges of processes that died without ``metrics_process_end``
    (killed): their open sockets are not open any more. Every process
    writing here shares this host's process ids (one run of the product)."""
    for name in os.listdir(path):
        match = _LIVE_FILE.fullmatch(name)
        if match is None:
            continue
        pid = int(match[1])
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            mark_process_dead(pid, path)
        except PermissionError:  # alive, someone else's
            pass


def metrics_process_end() -> None:
    """A process stops: its live gauges stop counting (counters stay, they are totals)."""
    path = multiprocess_dir()
    if path is not None and os.path.isdir(path):
        mark_process_dead(os.getpid(), path)


class MetricsLifespan:
    """ASGI ``lifespan`` around another: when the server shuts the process
    down, its live gauges end with it (``metrics_process_end``)."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        try:
            await self.app(scope, receive, send)
        finally:
            metrics_process_end()


@cache
def _collectors() -> list[Any]:
    return [import_string(name)() for name in settings.METRICS_COLLECTORS]


def metrics_registry(path: str | None = None, *, collectors: bool = True) -> CollectorRegistry:
    """What a scrape reads: every process's files merged (this process's own
    memory when there is no multiprocess directory), plus the scrape-time
    collectors unless ``collectors`` is False (a worker's own endpoint: the
    web process reads those)."""
    registry = CollectorRegistry(auto_describe=False)
    path = path or multiprocess_dir()
    if path is not None:
        dead_processes_forget(path)
        MultiProcessCollector(registry, path=path)
    else:
        registry.register(_ProcessLocal())
    for collector in _collectors() if collectors else ():
        registry.register(collector)
    return registry


def metrics_text(path: str | None = None) -> bytes:
    """The exposition ``/metrics`` answers."""
    return generate_latest(metrics_registry(path))


class _ProcessLocal:
    """The default registry's metrics, registrable in another registry."""

    def describe(self) -> list:
        return []

    def collect(self) -> Iterable:
        return REGISTRY.collect()


def worker_metrics_serve(port: int) -> None:
    """Serve this Celery worker's processes' sum on ``port`` (a worker host
    with no web process; ``METRICS_WORKER_PORT``)."""
    from prometheus_client import start_http_server

    start_http_server(port, registry=metrics_registry(collectors=False))
