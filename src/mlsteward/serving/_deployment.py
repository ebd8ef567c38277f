"""A deployment at run time: several versions of one model behind one name, routed by a plan.

``DeploymentRuntime`` keeps every version of its ``RoutingPlan`` loaded (each with its own
batching queue) and answers, for each request, which version serves it. ``apply(plan)`` loads
the versions a new plan adds beside the running ones, warms them up, and only then switches the
router (one assignment: the next request sees the new plan, none fails); versions the plan no
longer needs are released once their requests in flight have finished.

The shadow version gets a copy of each routed request's input after the answer is computed, in
the background (at most ``max_shadow_in_flight`` at once; the rest are dropped and counted);
its output is compared with the answer's and disagreements are counted. After each request the
canaries are checked against the plan's ``AutoRollbackRule``: one over it sends all traffic
back to the stable version at once and the platform is told (``on_auto_rollback``, in a worker
thread).

``create_deployment_app`` (in ``_deployment_app``) serves the deployment through every protocol
of the inference server, plus ``GET /deployment`` (``DeploymentRuntime.stats()``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import anyio

from ..errors import InvalidArgument, NotFound, StewardError, Unavailable
from ._app import DEFAULT_REQUEST_TIMEOUT, BatchingPredict
from ._batching import DEFAULT_MAX_BATCH_ROWS, DEFAULT_MAX_QUEUE_ROWS
from ._core import ServedModel
from ._deployment_app import DeploymentRepository, RequestRoute, current_request
from ._deployment_app import create_deployment_app as create_deployment_app
from ._deployment_stats import (
    SERIES_SECONDS,
    ShadowStats,
    VersionStats,
    outputs_agree,
    rollback_reason,
)
from ._routing import Router, RoutingPlan

if TYPE_CHECKING:
    from ._metrics import ServingMetrics

_log = logging.getLogger("mlsteward.serving")

DEFAULT_WINDOW_SECONDS = 60.0
DEFAULT_MAX_SHADOW_IN_FLIGHT = 16
MAX_ROLLBACK_EVENTS = 100


@dataclass(eq=False)
class LoadedVersion:
    """One loaded version: its model, its batching queue and its requests in flight."""

    model: ServedModel
    predict: BatchingPredict
    in_flight: int = 0
    retired: bool = False


@dataclass(frozen=True)
class _State:
    """What requests read: replaced in one assignment, never changed in place."""

    plan: RoutingPlan
    router: Router
    loaded: dict[str, LoadedVersion]


@dataclass(frozen=True)
class BatchingOptions:
    """How each version's predictions are batched (see ``create_app``)."""

    predict_threads: int = 2
    max_batch_rows: int = DEFAULT_MAX_BATCH_ROWS
    max_queue_rows: int = DEFAULT_MAX_QUEUE_ROWS
    request_timeout: float | None = DEFAULT_REQUEST_TIMEOUT


class DeploymentRuntime:
    """The versions of one deployment, loaded, and the plan routing between them.

    ``load(version)`` returns the ``ServedModel`` of a version (it blocks: it runs in a worker
    thread); its name is set to the plan's model. ``on_auto_rollback(new_plan, reason)`` is called
    in a worker thread after an automatic rollback (errors are logged). Use from one event loop.
    """

    def __init__(
        self,
        plan: RoutingPlan,
        load: Callable[[str], ServedModel],
        *,
        on_auto_rollback: Callable[[RoutingPlan, str], None] | None = None,
        max_shadow_in_flight: int = DEFAULT_MAX_SHADOW_IN_FLIGHT,
        batching: BatchingOptions | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        if not isinstance(plan, RoutingPlan):
            raise InvalidArgument("a deployment needs a RoutingPlan")
        if max_shadow_in_flight < 1:
            raise InvalidArgument("max_shadow_in_flight must be at least 1")
        self._load = load
        self._on_auto_rollback = on_auto_rollback
        self._max_shadow = max_shadow_in_flight
        self._clock = clock
        self._rng = rng
        self.batching = batching or BatchingOptions()
        self.metrics: ServingMetrics | None = None
        self._state = _State(plan, Router(plan, rng=rng), {})
        self._entries: dict[str, LoadedVersion] = {}  # every loaded version, retiring ones included
        self._started = False
        self._lock = asyncio.Lock()
        self._stats: dict[str, VersionStats] = {}
        self._shadow = ShadowStats()
        self._shadow_in_flight = 0
        self._rollbacks: deque[dict[str, Any]] = deque(maxlen=MAX_ROLLBACK_EVENTS)
        self._rolled_back_revisions: set[int] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.repository = DeploymentRepository(self)

    @property
    def plan(self) -> RoutingPlan:
        """The plan requests are routed by now."""
        return self._state.plan

    @property
    def started(self) -> bool:
        return self._started

    def configure(self, *, metrics: ServingMetrics | None = None, **batching: Any) -> None:
        """Feed ``metrics`` and batch the versions loaded from now on with ``batching``
        (``predict_threads``, ``max_batch_rows``, ``max_queue_rows``, ``request_timeout``, as
        ``create_app`` takes them); ``InvalidArgument`` for another option."""
        known = {f.name for f in dataclasses.fields(BatchingOptions)}
        unknown = sorted(set(batching) - known)
        if unknown:
            raise InvalidArgument(f"unknown option {unknown[0]!r} for a deployment app")
        self.batching = dataclasses.replace(self.batching, **batching)
        self.metrics = metrics

    # -- loading and switching -----------------------------------------------------------------

    async def start(self) -> None:
        """Load (in a worker thread) and warm up every version of the plan; the deployment
        serves from then on. Raises what loading raised (nothing is served then)."""
        async with self._lock:
            if self._started:
                return
            plan = self._state.plan
            await self._load_missing(plan)
            self._switch(plan)
            self._started = True

    async def apply(self, plan: RoutingPlan) -> None:
        """Serve ``plan`` from the next request on (see the module docstring). A plan whose
        revision is not higher than the current one is ignored. If a version fails to load,
        the current plan keeps serving and the error is raised. ``InvalidArgument`` for a plan
        of another model."""
        if not isinstance(plan, RoutingPlan):
            raise InvalidArgument("apply needs a RoutingPlan")
        async with self._lock:
            current = self._state.plan
            if plan.model != current.model:
                raise InvalidArgument(
                    f"this deployment serves {current.model!r}; a plan for {plan.model!r} "
                    "needs its own deployment",
                    details={"field": "model"},
                )
            if plan.revision <= current.revision:
                _log.info(
                    "plan revision %d of %s ignored: revision %d is served",
                    plan.revision,
                    plan.model,
                    current.revision,
                )
                return
            if not self._started:
                self._state = _State(plan, Router(plan, rng=self._rng), {})
                return
            await self._load_missing(plan)
            if plan.revision <= self._state.plan.revision:  # rolled back automatically meanwhile
                _log.info("plan revision %d of %s is outdated now", plan.revision, plan.model)
                self._retire_unused()
                return
            self._switch(plan)
            _log.info(
                "%s now serves plan revision %d: %s",
                plan.model,
                plan.revision,
                ", ".join(f"{r.version} at {r.weight}%" for r in plan.routes),
            )

    async def _load_missing(self, plan: RoutingPlan) -> None:
        """Load and warm up the versions of ``plan`` not loaded yet; on a failure release those
        loaded here and raise."""
        added: list[LoadedVersion] = []
        try:
            for version in sorted(plan.versions()):
                entry = self._entries.get(version)
                if entry is not None:
                    continue
                entry = await self._load_version(plan, version)
                added.append(entry)
                self._entries[version] = entry
        except BaseException:
            for entry in added:
                self._entries.pop(entry.model.version, None)
                await entry.predict.close()
            raise

    async def _load_version(self, plan: RoutingPlan, version: str) -> LoadedVersion:
        started = time.perf_counter()
        try:
            model = await anyio.to_thread.run_sync(self._load, version)
        except StewardError:
            raise
        except Exception as exc:
            _log.exception("loading version %s of %s failed", version, plan.model)
            raise StewardError(
                f"version {version} of {plan.model} could not be loaded "
                f"({type(exc).__name__}: {exc})"[:500],
                details={"model": plan.model, "version": version},
            ) from exc
        if not isinstance(model, ServedModel):
            raise StewardError(f"loading version {version} gave no ServedModel")
        if model.name != plan.model or model.version != version:
            model = dataclasses.replace(model, name=plan.model, version=version)
        options = self.batching
        predict = BatchingPredict(
            options.predict_threads,
            max_batch_rows=options.max_batch_rows,
            max_queue_rows=options.max_queue_rows,
            metrics=self.metrics,
            timeout=options.request_timeout,
        )
        entry = LoadedVersion(model, predict)
        await self._warm_up(entry)
        seconds = model.load_seconds or 0.0
        if self.metrics is not None:
            self.metrics.version_loaded(
                plan.model, version, seconds + time.perf_counter() - started
            )
        return entry

    async def _warm_up(self, entry: LoadedVersion) -> None:
        example = await anyio.to_thread.run_sync(entry.model.loaded.input_example)
        if example is None:
            return
        try:
            await entry.predict(entry.model, example)
        except Exception:  # a version that cannot predict its own example is still served
            _log.exception("warm-up of %s %s failed", entry.model.name, entry.model.version)

    def _switch(self, plan: RoutingPlan) -> None:
        """Route by ``plan`` from now on (its versions are loaded); retire the others."""
        previous = self._state.plan
        window = plan.auto_rollback.window_seconds if plan.auto_rollback else None
        old_window = previous.auto_rollback.window_seconds if previous.auto_rollback else None
        old_canaries = {r.version for r in previous.canaries()} if self._state.loaded else set()
        loaded = {version: self._entries[version] for version in plan.versions()}
        for entry in loaded.values():
            entry.retired = False
        self._state = _State(plan, Router(plan, rng=self._rng), loaded)
        for version in plan.versions():
            stats = self._stats.get(version)
            if stats is None:
                self._stats[version] = VersionStats(window or DEFAULT_WINDOW_SECONDS)
            elif version not in old_canaries or window != old_window:
                # A new canary is judged on its new requests only.
                stats.reset_window(window or DEFAULT_WINDOW_SECONDS)
        self._retire_unused()

    def _retire_unused(self) -> None:
        """Release (once idle) the loaded versions the current plan does not need."""
        needed = self._state.loaded
        for version, entry in list(self._entries.items()):
            if version not in needed:
                entry.retired = True
                self._release_if_idle(entry)

    def _release_if_idle(self, entry: LoadedVersion) -> None:
        if not entry.retired or entry.in_flight > 0:
            return
        version = entry.model.version
        if self._entries.get(version) is entry:
            del self._entries[version]
        self._spawn(entry.predict.close())
        if self.metrics is not None:
            self.metrics.version_released(entry.model.name, version)
        _log.info("released version %s of %s", version, entry.model.name)

    def _spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Stop: the background work is cancelled and every version's queue closed."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for entry in list(self._entries.values()):
            await entry.predict.close()
        self._entries.clear()
        self._state = dataclasses.replace(self._state, loaded={})
        self._started = False

    # -- requests ------------------------------------------------------------------------------

    def resolve(self, name: str, version: str | None) -> ServedModel:
        """The model that answers a request for ``name`` (and ``version``, when the URL names
        one); ``NotFound`` for another name or a version not loaded."""
        state = self._state
        plan = state.plan
        if name != plan.model:
            raise NotFound(
                f"no model named {name!r} is served here (served: {plan.model})",
                details={"model": name},
            )
        request = current_request.get()
        if version is None and request is not None and request.entry is not None:
            return request.entry.model  # one request, one version
        if version is not None:
            entry = state.loaded.get(version)
            if entry is None:
                served = ", ".join(sorted(state.loaded)) or "none"
                raise NotFound(
                    f"model {name!r} has no version {version!r} loaded here (loaded: {served})",
                    details={"model": name, "version": version},
                )
        else:
            if not state.loaded:
                raise Unavailable("the deployment is not ready: its versions are still loading")
            entry = state.loaded[state.router.choose(request.key if request else None)]
        if request is not None and request.entry is None:
            request.entry = entry
            request.routed = version is None
            entry.in_flight += 1
        return entry.model

    async def predict(self, model: ServedModel, data: Any) -> Any:
        """The protocols' ``Predict``: ``model``'s batching queue, then the shadow's copy."""
        entry = self._entries.get(model.version)
        if entry is None or entry.model is not model:
            return await anyio.to_thread.run_sync(model.predict, data)
        output = await entry.predict(model, data)
        request = current_request.get()
        if request is not None and request.routed and request.entry is entry:
            self._mirror(entry, data, output)
        return output

    def _mirror(self, primary: LoadedVersion, data: Any, output: Any) -> None:
        shadow_version = self._state.plan.shadow
        if shadow_version is None or shadow_version == primary.model.version:
            return
        shadow = self._state.loaded.get(shadow_version)
        if shadow is None:
            return
        if self._shadow_in_flight >= self._max_shadow:
            self._shadow.dropped += 1
            if self.metrics is not None:
                self.metrics.shadow_dropped(shadow.model.name)
            return
        self._shadow_in_flight += 1
        shadow.in_flight += 1
        self._spawn(self._shadow_predict(shadow, data, output))

    async def _shadow_predict(self, shadow: LoadedVersion, data: Any, expected: Any) -> None:
        model = shadow.model
        try:
            got = await shadow.predict(model, data)
            agreed = await anyio.to_thread.run_sync(outputs_agree, expected, got)
        except Unavailable:
            self._shadow.dropped += 1
            if self.metrics is not None:
                self.metrics.shadow_dropped(model.name)
        except Exception:
            self._shadow.errors += 1
            _log.warning("shadow version %s of %s raised", model.version, model.name, exc_info=True)
        else:
            self._shadow.requests += 1
            if not agreed:
                self._shadow.disagreements += 1
            if self.metrics is not None:
                self.metrics.shadow_compared(model.name, model.version, agreed)
        finally:
            self._shadow_in_flight -= 1
            shadow.in_flight -= 1
            self._release_if_idle(shadow)

    def record(self, request: RequestRoute, status: int, seconds: float) -> None:
        """Count an answered inference request for the version that answered it, then check
        the automatic rollback rule (before the answer's last byte leaves, so the client's next
        request already sees a rollback)."""
        entry = request.entry
        if entry is None:
            return
        version = entry.model.version
        now = self._clock()
        error = status >= 500 and status != 503
        stats = self._stats.get(version)
        if stats is None:
            stats = self._stats[version] = VersionStats(DEFAULT_WINDOW_SECONDS)
        stats.record(now, seconds * 1000.0, error)
        if self.metrics is not None:
            self.metrics.observe_version_request(entry.model.name, version, status)
        self._check_rollback(version, now)

    def finished(self, request: RequestRoute) -> None:
        """A request is over: its version may be released now."""
        entry = request.entry
        if entry is None:
            return
        entry.in_flight -= 1
        self._release_if_idle(entry)

    def _check_rollback(self, version: str, now: float) -> None:
        plan = self._state.plan
        rule = plan.auto_rollback
        if rule is None or plan.revision in self._rolled_back_revisions:
            return
        if not any(route.version == version for route in plan.canaries()):
            return
        reason = rollback_reason(rule, version, self._stats[version], now)
        if reason is not None:
            self._roll_back(plan, version, reason, now)

    def _roll_back(self, plan: RoutingPlan, version: str, reason: str, now: float) -> None:
        self._rolled_back_revisions.add(plan.revision)
        new_plan = plan.rolled_back()
        self._switch(new_plan)  # the stable version is loaded: the next request goes there
        _log.warning("automatic rollback of %s to version %s: %s", plan.model, plan.stable, reason)
        self._rollbacks.append(
            {
                "time": datetime.fromtimestamp(now, UTC).isoformat(),
                "version": version,
                "revision": plan.revision,
                "new_revision": new_plan.revision,
                "reason": reason,
            }
        )
        if self.metrics is not None:
            self.metrics.auto_rolled_back(plan.model, version)
        callback = self._on_auto_rollback
        if callback is not None:
            self._spawn(self._tell_platform(callback, new_plan, reason))

    async def _tell_platform(
        self, callback: Callable[[RoutingPlan, str], None], plan: RoutingPlan, reason: str
    ) -> None:
        try:
            await anyio.to_thread.run_sync(callback, plan, reason)
        except Exception:
            _log.exception("recording the automatic rollback of %s failed", plan.model)

    # -- statistics ----------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """The JSON of ``GET /deployment``: the plan, per version its window figures (requests,
        errors, error rate, p50/p99 ms), totals and a per-second series of the last 5 minutes,
        the shadow's counts and the automatic rollbacks (newest last)."""
        state = self._state
        plan = state.plan
        now = self._clock()
        versions: dict[str, Any] = {}
        series: dict[str, Any] = {}
        shown = set(plan.versions()) | {v for v, s in self._stats.items() if s.active(now)}
        for version in sorted(shown):
            stats = self._stats.get(version)
            if stats is None:
                stats = VersionStats(DEFAULT_WINDOW_SECONDS)
            entry = self._entries.get(version)
            versions[version] = {
                "weight": plan.weight_of(version),
                "role": _role(plan, version),
                "loaded": version in state.loaded,
                "in_flight": entry.in_flight if entry is not None else 0,
                **stats.summary(now),
            }
            series[version] = stats.series(now)
        rule = plan.auto_rollback
        end = int(now)
        return {
            "model": plan.model,
            "revision": plan.revision,
            "ready": self._started and bool(state.loaded),
            "plan": plan.to_json(),
            "window_seconds": rule.window_seconds if rule else DEFAULT_WINDOW_SECONDS,
            "versions": versions,
            "series": {
                "start": end - SERIES_SECONDS + 1,
                "step_seconds": 1,
                "versions": series,
            },
            "shadow": {"version": plan.shadow, **self._shadow.to_json()},
            "auto_rollbacks": list(self._rollbacks),
        }


def _role(plan: RoutingPlan, version: str) -> str:
    if version == plan.stable:
        return "stable"
    if plan.weight_of(version) > 0:
        return "canary"
    if version == plan.shadow:
        return "shadow"
    return "standby" if version in plan.versions() else "retired"
