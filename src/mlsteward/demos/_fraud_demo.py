"""The fraud-detection loop end to end (``mlsteward demo fraud``).

Train and take a model to ``@production`` under a four-eyes policy, package, sign and deploy
it, replay traffic whose fraud pattern has shifted, evaluate the monitor's window of that
traffic (as ``mlsteward monitor evaluate`` does), and let the recall alert's retraining action
train on fresh labelled data, take the new version through the same policy and roll it out as
a canary that is promoted (or rolled back when worse). Every stage is timed; the time from the
alert opening to the new version serving all traffic is measured, not estimated.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from ..errors import AlreadyExists, Conflict, InvalidArgument, Unavailable
from ._fraud_data import MAX_ROWS, generate_transactions
from ._fraud_loop import (
    DRIFT_RULE,
    RECALL_RULE,
    CanaryOutcome,
    canary_rollout,
    deploy_version,
    package_and_sign,
    replay_traffic,
    seconds_until_fresh_window,
    wait_for_logged,
    watch_deployment,
)
from ._fraud_models import CANDIDATES
from ._fraud_stages import (
    production_policy,
    register_best,
    request_and_approve_production,
    train_candidates,
    version_data,
)

if TYPE_CHECKING:
    from ..client import Client
    from ..monitoring import Alert, AlertContext
    from ..platform import Platform
    from ..registry import ModelVersion
    from ..security import Actor
    from ..settings import Settings

__all__ = [
    "DEMO_SIZES",
    "DemoSize",
    "FraudDemoResult",
    "Stage",
    "Timeline",
    "run_fraud_demo",
]

PROJECT: Final = "fraud"
MODEL: Final = "fraud-detector"
DATASET: Final = "transactions"
DEPLOYMENT: Final = "fraud-api"
MONITOR: Final = "fraud-watch"
ACTION: Final = "fraud-demo-retrain"
REQUESTER: Final = "demo-scientist"  # an editor: trains and asks for @production
APPROVER: Final = "demo-lead"  # a maintainer: approves, packages, deploys, monitors
CANARY_WEIGHT: Final = 20
ACTION_TIMEOUT: Final = 600.0


@dataclass(frozen=True)
class DemoSize:
    """How much the demo does: training rows (each training), replayed rows (each replay)
    and the candidate models trained."""

    train_rows: int
    replay_rows: int
    candidates: tuple[str, ...] = tuple(CANDIDATES)

    def __post_init__(self) -> None:
        for name, value, low in (
            ("train_rows", self.train_rows, 2_000),
            ("replay_rows", self.replay_rows, 1_000),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value:
                raise InvalidArgument(f"{name} must be a whole number >= {low}, not {value!r}")
            if value > MAX_ROWS:
                raise InvalidArgument(f"{name} must be at most {MAX_ROWS}, not {value}")
        unknown = [c for c in self.candidates if c not in CANDIDATES]
        if unknown or not self.candidates:
            raise InvalidArgument(f"candidates must be some of {list(CANDIDATES)}")


DEMO_SIZES: Final = {
    "small": DemoSize(6_000, 2_000, ("gradient_boosting",)),
    "full": DemoSize(20_000, 5_000),
}
"""The named sizes ``mlsteward demo fraud --rows`` accepts besides a number of rows."""


@dataclass(frozen=True)
class Stage:
    """One timed stage: its name, when it started (UTC), its wall time and what it found."""

    name: str
    started_at: dt.datetime
    seconds: float
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {
            "stage": self.name,
            "started_at": self.started_at.isoformat(),
            "seconds": round(self.seconds, 3),
            "detail": self.detail,
        }


class Timeline:
    """The stages in the order they finished; safe to add to from the alert action's thread."""

    def __init__(self, on_stage: Callable[[Stage], None] | None = None) -> None:
        self._stages: list[Stage] = []
        self._lock = threading.Lock()
        self._on_stage = on_stage

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[list[str]]:
        """Time the block; what it appends to the yielded list becomes the stage's detail."""
        started, clock = dt.datetime.now(dt.UTC), time.perf_counter()
        notes: list[str] = []
        yield notes
        done = Stage(name, started, time.perf_counter() - clock, "; ".join(notes))
        with self._lock:
            self._stages.append(done)
        if self._on_stage is not None:
            self._on_stage(done)

    @property
    def stages(self) -> list[Stage]:
        with self._lock:
            return list(self._stages)


@dataclass
class FraudDemoResult:
    """What the loop did: the timeline and the facts each stage established."""

    project: str
    model_name: str
    deployment: str
    deployment_url: str
    monitor: str
    first_version: int
    retrained_version: int | None = None
    retrain_run_id: str | None = None
    drift_share: float = math.nan
    drifted_columns: list[str] = field(default_factory=list)
    replay_recall: float = math.nan
    monitored_recall: float = math.nan
    alert_id: str | None = None
    drift_alert_id: str | None = None
    alert_opened_at: dt.datetime | None = None
    action_status: str | None = None
    canary: CanaryOutcome | None = None
    promoted_revision: int | None = None
    serving_all_at: dt.datetime | None = None
    audit_ok: bool = False
    audit_events: int = 0
    timeline: list[Stage] = field(default_factory=list)

    @property
    def alert_to_serving_seconds(self) -> float | None:
        """From the alert opening to the retrained version serving 100 % (None if it did not)."""
        if self.alert_opened_at is None or self.serving_all_at is None:
            return None
        return (self.serving_all_at - self.alert_opened_at).total_seconds()

    def to_json(self) -> dict[str, Any]:
        canary = self.canary
        return {
            "project": self.project,
            "model": self.model_name,
            "deployment": self.deployment,
            "deployment_url": self.deployment_url,
            "monitor": self.monitor,
            "first_version": self.first_version,
            "retrained_version": self.retrained_version,
            "retrain_run_id": self.retrain_run_id,
            "drift_share": _number(self.drift_share),
            "drifted_columns": self.drifted_columns,
            "replay_recall": _number(self.replay_recall),
            "monitored_recall": _number(self.monitored_recall),
            "alert_id": self.alert_id,
            "drift_alert_id": self.drift_alert_id,
            "alert_opened_at": None
            if self.alert_opened_at is None
            else self.alert_opened_at.isoformat(),
            "action_status": self.action_status,
            "canary": None
            if canary is None
            else {
                "promoted": canary.promoted,
                "weight": CANARY_WEIGHT,
                "stable_version": canary.stable_version,
                "canary_version": canary.canary_version,
                "stable_recall": _number(canary.stable_recall),
                "canary_recall": _number(canary.canary_recall),
                "rows": canary.replay.rows,
            },
            "promoted_revision": self.promoted_revision,
            "serving_all_at": None
            if self.serving_all_at is None
            else self.serving_all_at.isoformat(),
            "alert_to_serving_seconds": self.alert_to_serving_seconds,
            "audit_ok": self.audit_ok,
            "audit_events": self.audit_events,
            "timeline": [stage.to_json() for stage in self.timeline],
        }


def _number(value: float) -> float | None:
    return round(value, 4) if math.isfinite(value) else None


@dataclass
class _Team:
    platform: Platform
    admin: Actor
    scientist: Client
    lead: Client
    lead_actor: Actor


def _team(settings: Settings, platform: Platform, stack: contextlib.ExitStack) -> _Team:
    """The project and its two demo people (created on first use, with random passwords an
    administrator can reset) with a token each, revoked when the loop ends."""
    from ..client import Client
    from ..errors import NotFound
    from ..security import (
        LOCAL_ADMIN,
        Role,
        add_member,
        create_project,
        create_token,
        create_user,
        get_project,
        revoke_token,
        set_member_role,
    )

    try:
        get_project(platform, LOCAL_ADMIN, PROJECT)
    except NotFound:
        create_project(platform, LOCAL_ADMIN, PROJECT, "fraud-detection demo")
    clients = []
    for username, role in ((REQUESTER, Role.EDITOR), (APPROVER, Role.MAINTAINER)):
        with contextlib.suppress(AlreadyExists):
            create_user(platform, LOCAL_ADMIN, username, secrets.token_urlsafe(24))
        try:
            add_member(platform, LOCAL_ADMIN, PROJECT, username, role)
        except AlreadyExists:
            set_member_role(platform, LOCAL_ADMIN, PROJECT, username, role)
        token = create_token(
            platform, LOCAL_ADMIN, "fraud-demo", expires_in_days=1, username=username
        )
        # Registered before the client, so it runs after the client closed.
        stack.callback(revoke_token, platform, LOCAL_ADMIN, token.info.id)
        clients.append(stack.enter_context(Client(settings, token=token.secret)))
    scientist, lead = clients
    return _Team(platform, LOCAL_ADMIN, scientist, lead, lead.whoami())


def _train_and_approve(
    team: _Team,
    timeline: Timeline,
    frame: Any,
    *,
    experiment: str,
    seed: int,
    candidates: Sequence[str],
) -> ModelVersion:
    """Version and validate ``frame``, train the candidates, register the best and take it to
    ``@production`` (requested by the scientist, approved by the lead)."""
    from ..registry import RequestStatus

    with timeline.stage(f"{experiment}: version and validate data") as notes:
        data = version_data(team.scientist, frame, project=PROJECT, dataset=DATASET)
        notes.append(f"{DATASET} v{data.version.version}, {len(frame)} rows")
        notes.append("valid" if data.valid else "INVALID")
        notes.append(f"PII: {', '.join(sorted(data.pii_columns)) or 'none'}")
    with timeline.stage(f"{experiment}: train candidates") as notes:
        runs = train_candidates(
            team.scientist, frame, data=data.version, project=PROJECT, experiment=experiment,
            seed=seed, candidates=candidates,
        )  # fmt: skip
        notes.extend(f"{r.name} PR AUC {r.metrics['pr_auc']:.3f}" for r in runs)
    with timeline.stage(f"{experiment}: register best and approve @production") as notes:
        version = register_best(team.scientist, runs, project=PROJECT, model_name=MODEL)
        request, unmet = request_and_approve_production(
            team.scientist, team.lead, project=PROJECT, model_name=MODEL,
            version=version.version, policy=production_policy(),
        )  # fmt: skip
        if request.status != RequestStatus.APPLIED:
            raise Conflict(
                f"version {version.version} did not pass the production policy: {unmet}",
                details={"unmet": unmet},
            )
        notes.append(f"v{version.version} @production, approved by {APPROVER}")
    with timeline.stage(f"{experiment}: package and sign") as notes:
        info = package_and_sign(
            team.platform, team.lead_actor, project=PROJECT, model_name=MODEL,
            version=version.version, folder=team.platform.settings.home / "demo-packages",
            trust_as=team.admin,
        )  # fmt: skip
        notes.append(f"{info.path.name} signed by key {info.key_id[:12]}")
    return version


def _retraining_action(
    team: _Team,
    timeline: Timeline,
    result: FraudDemoResult,
    size: DemoSize,
    seed: int,
) -> Callable[[AlertContext], Any]:
    from ..monitoring import ActionResult, link_alert

    def retrain(context: AlertContext) -> ActionResult:
        fresh = generate_transactions(size.train_rows, seed=seed + 2, shift=1.0)
        version = _train_and_approve(
            team, timeline, fresh, experiment="retraining", seed=seed, candidates=size.candidates
        )
        result.retrained_version = version.version
        result.retrain_run_id = version.source_run_id
        # The alert led to @production moving: alert -promoted-> model version.
        link_alert(
            team.platform, team.lead_actor, PROJECT, context.alert_id,
            f"model:{MODEL}/{version.version}",
        )  # fmt: skip
        with timeline.stage(f"canary {CANARY_WEIGHT} % and decide") as notes:
            check = generate_transactions(size.replay_rows, seed=seed + 3, shift=1.0)
            outcome = canary_rollout(
                team.lead, project=PROJECT, deployment=DEPLOYMENT, model_name=MODEL,
                version=version.version, weight=CANARY_WEIGHT, check=check,
            )  # fmt: skip
            result.canary = outcome
            if outcome.promoted:
                result.serving_all_at = dt.datetime.now(dt.UTC)
                # ... and the deployment's promotion: alert -promoted-> deployment (revision).
                link = link_alert(
                    team.platform, team.lead_actor, PROJECT, context.alert_id,
                    f"deployment:{DEPLOYMENT}",
                )  # fmt: skip
                result.promoted_revision = link.revision
            notes.append(
                f"recall stable v{outcome.stable_version} {outcome.stable_recall:.2f}, canary "
                f"v{outcome.canary_version} {outcome.canary_recall:.2f}: "
                + ("promoted, serving 100 %" if outcome.promoted else "rolled back")
            )
            if result.promoted_revision is not None:
                notes.append(
                    f"lineage: alert -promoted-> {DEPLOYMENT} revision {result.promoted_revision}"
                )
        return ActionResult(run_id=version.source_run_id, model_version_id=version.id)

    return retrain


def _wait_for_action(team: _Team, alert_id: str) -> Alert:
    from ..monitoring import list_alerts

    deadline = time.monotonic() + ACTION_TIMEOUT
    while True:
        alerts = list_alerts(team.platform, team.admin, PROJECT, limit=1000)
        found = next((a for a in alerts if a.id == alert_id), None)
        if found is None:
            raise Unavailable(f"alert {alert_id} is gone: was its rule deleted meanwhile?")
        if found.action_status not in (None, "running"):
            return found
        if time.monotonic() > deadline:
            raise Unavailable(
                f"the retraining action of alert {alert_id} ran over {ACTION_TIMEOUT:g} s"
            )
        time.sleep(0.2)


def run_fraud_demo(
    settings: Settings,
    *,
    size: DemoSize = DEMO_SIZES["full"],
    seed: int = 7,
    on_stage: Callable[[Stage], None] | None = None,
) -> FraudDemoResult:
    """Run the whole loop on the platform ``settings`` name (see the module docstring) and
    return what it did. The retraining action is registered in this process while the loop
    runs. The deployment keeps running afterwards (``mlsteward deploy stop
    fraud-api --project fraud`` stops it). A second run reuses the project, people, model,
    deployment and monitor. ``InvalidArgument`` for a bad seed; ``Conflict`` when a version
    fails the production policy; ``Unavailable`` when a server or the action times out."""
    from ..monitoring import list_alerts, register_retraining_action
    from ..platform import Platform

    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**31:
        raise InvalidArgument(f"seed must be a whole number from 0 to 2**31 - 1, not {seed!r}")
    timeline = Timeline(on_stage)
    with contextlib.ExitStack() as stack:
        platform = Platform.open(settings)
        stack.callback(platform.close)
        with timeline.stage("set up project and demo users") as notes:
            team = _team(settings, platform, stack)
            notes.append(f"project {PROJECT}: {REQUESTER} (editor), {APPROVER} (maintainer)")
        frame = generate_transactions(size.train_rows, seed=seed)
        first = _train_and_approve(
            team, timeline, frame, experiment="candidates", seed=seed, candidates=size.candidates
        )
        with timeline.stage("deploy @production") as notes:
            deployed = deploy_version(
                team.lead, project=PROJECT, name=DEPLOYMENT, model_name=MODEL,
                version=first.version,
            )  # fmt: skip
            notes.append(f"{DEPLOYMENT} serves v{first.version} at {deployed.url}")
        result = FraudDemoResult(
            PROJECT, MODEL, DEPLOYMENT, deployed.url, MONITOR, first_version=first.version
        )
        with timeline.stage("monitor and alert rules") as notes:
            register_retraining_action(
                ACTION, _retraining_action(team, timeline, result, size, seed), replace=True
            )
            # The action uses this run's clients, closed when it ends: forget it then.
            stack.callback(_forget_action)
            monitor, rules = watch_deployment(
                team.lead, platform, team.lead_actor, project=PROJECT, deployment=DEPLOYMENT,
                monitor=MONITOR, action=ACTION,
            )  # fmt: skip
            notes.append(
                f"{MONITOR} (1-minute windows): {rules[RECALL_RULE].condition.describe()} "
                f"-> retrain; {rules[DRIFT_RULE].condition.describe()} -> notify"
            )
        shifted = generate_transactions(size.replay_rows, seed=seed + 1, shift=1.0)
        with timeline.stage("replay shifted traffic with labels") as notes:
            pause = seconds_until_fresh_window(dt.datetime.now(dt.UTC), needed=10.0)
            if pause:
                notes.append(f"waited {pause:.0f} s for a fresh monitor window")
                time.sleep(pause)
            replay = replay_traffic(deployed.url, MODEL, shifted)
            result.replay_recall = replay.recall()
            notes.append(
                f"{replay.rows} rows, {replay.labels} labels; recall {replay.recall():.2f}"
            )
            wait_for_logged(
                platform, team.lead_actor, project=PROJECT, deployment=DEPLOYMENT,
                since=replay.started_at, rows=replay.rows, labels=replay.labels,
            )  # fmt: skip
        with timeline.stage("evaluate the replayed window (monitor evaluate)") as notes:
            evaluated = team.lead.evaluate_monitor(MONITOR, project=PROJECT, at=replay.started_at)
            metrics = evaluated.metrics
            result.drift_share = metrics.get("drift.share_drifted", math.nan)
            result.monitored_recall = metrics.get("quality.recall", math.nan)
            result.drifted_columns = sorted(
                key.removeprefix("drift.column.").removesuffix(".drifted")
                for key, value in metrics.items()
                if key.startswith("drift.column.") and key.endswith(".drifted") and value == 1.0
            )
            notes.append(
                f"window {evaluated.window_start:%H:%M}: drifted share "
                f"{result.drift_share:.2f}, recall {result.monitored_recall:.2f}"
            )
            opened = {
                a.rule_id: a
                for a in list_alerts(platform, team.admin, PROJECT, monitor_id=monitor.id)
                if a.opened_window_start == evaluated.window_start
            }
            recall_alert = opened.get(rules[RECALL_RULE].id)
            drift_alert = opened.get(rules[DRIFT_RULE].id)
            result.drift_alert_id = None if drift_alert is None else drift_alert.id
            if recall_alert is None:
                notes.append("no recall alert: the loop ends here")
        if recall_alert is not None:
            result.alert_id, result.alert_opened_at = recall_alert.id, recall_alert.opened_at
            with timeline.stage("alert fired: retraining action ran") as notes:
                done = _wait_for_action(team, recall_alert.id)
                result.action_status = done.action_status
                notes.append(f"alert {recall_alert.id[:8]} action {done.action_status}")
        with timeline.stage("verify the audit chain") as notes:
            report = _verify(settings, stack)
            result.audit_ok, result.audit_events = report.ok, report.events
            notes.append(f"{report.events} events, chain {'intact' if report.ok else 'BROKEN'}")
    result.timeline = timeline.stages
    return result


def _forget_action() -> None:
    from ..errors import NotFound
    from ..monitoring import unregister_retraining_action

    with contextlib.suppress(NotFound):
        unregister_retraining_action(ACTION)


def _verify(settings: Settings, stack: contextlib.ExitStack) -> Any:
    from ..client import Client

    return stack.enter_context(Client(settings)).verify_audit()
