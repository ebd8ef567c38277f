"""The fraud demo's serving stages: package and sign a version, deploy it with every prediction
logged, replay labelled traffic over HTTP, watch the deployment with a monitor and alert rules,
and roll a new version out as a canary that is promoted or rolled back on measured recall.

Each stage is a small function of a ``Client`` (and, for what has no client method yet, the
platform and an actor); ``_fraud_demo`` strings them together.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from ..errors import Conflict, InvalidArgument, StewardError, Unavailable
from ._fraud_data import FEATURES, LABEL

if TYPE_CHECKING:
    from ..client import Client
    from ..deployments import Deployment
    from ..monitoring import AlertRule, Monitor
    from ..packaging import PackageInfo
    from ..platform import Platform
    from ..security import Actor

__all__ = [
    "LOG_WINDOW_SECONDS",
    "MONITOR_WINDOW_SECONDS",
    "CanaryOutcome",
    "Replay",
    "VersionTally",
    "canary_rollout",
    "deploy_version",
    "package_and_sign",
    "replay_traffic",
    "seconds_until_fresh_window",
    "wait_for_logged",
    "watch_deployment",
]

MONITOR_WINDOW_SECONDS: Final = 60  # the shortest monitor window there is
LOG_WINDOW_SECONDS: Final = 5.0  # the deployment ships its prediction log this often
# Inputs may exceed the training rows' min..max by half their span: a training sample of a few
# thousand rows can just miss the capped maxima (800 for avg_amount_30d) that the replayed
# rows reach. Absurd values are still refused.
RANGE_TOLERANCE: Final = 0.5
SIGNING_KEY: Final = "fraud-demo"
RECALL_RULE: Final = "recall-drop"
DRIFT_RULE: Final = "drift-share"


@dataclass
class VersionTally:
    """What one served version answered during a replay: rows, fraud rows among them, the
    fraud rows it flagged (caught) and all the rows it flagged."""

    rows: int = 0
    fraud: int = 0
    caught: int = 0
    flagged: int = 0

    @property
    def recall(self) -> float:
        """Caught fraud over all fraud rows; NaN without fraud rows."""
        return self.caught / self.fraud if self.fraud else math.nan


@dataclass(frozen=True)
class Replay:
    """One replay of labelled transactions: what each version answered, how many labels were
    accepted as feedback, and when it ran (UTC)."""

    rows: int
    labels: int
    started_at: dt.datetime
    finished_at: dt.datetime
    by_version: dict[str, VersionTally] = field(default_factory=dict)

    def recall(self, version: str | None = None) -> float:
        """The recall of ``version``'s answers, or of all of them."""
        tallies = list(self.by_version.values()) if version is None else [self.tally(version)]
        fraud = sum(t.fraud for t in tallies)
        return sum(t.caught for t in tallies) / fraud if fraud else math.nan

    def tally(self, version: str) -> VersionTally:
        return self.by_version.get(version, VersionTally())


@dataclass(frozen=True)
class CanaryOutcome:
    """A canary's verdict: ``promoted`` (serving all traffic) or rolled back, the recall of
    the stable and the canary version on the check traffic, and the deployment after it."""

    promoted: bool
    stable_version: str
    canary_version: str
    stable_recall: float
    canary_recall: float
    replay: Replay
    deployment: Deployment


def package_and_sign(
    platform: Platform,
    actor: Actor,
    *,
    project: str,
    model_name: str,
    version: int,
    folder: Path,
    trust_as: Actor,
) -> PackageInfo:
    """Build the signed package of ``version`` into ``folder`` with this home's ``fraud-demo``
    signing key (created, and trusted by ``trust_as``, an administrator, on first use) and
    record it on the version (``actor``: a maintainer of the project)."""
    from ..errors import AlreadyExists
    from ..packaging import (
        build_version_package,
        create_signing_key,
        public_key_pem,
        trust_signing_key,
    )
    from ..packaging._keystore import signing_key_path

    home = platform.settings.home
    if not signing_key_path(home, SIGNING_KEY).exists():
        create_signing_key(home, SIGNING_KEY)
    with contextlib.suppress(AlreadyExists):  # trusted by an earlier run
        trust_signing_key(platform, trust_as, public_key_pem(home, SIGNING_KEY), name=SIGNING_KEY)
    folder.mkdir(parents=True, exist_ok=True)
    output = folder / f"{model_name}-v{version}.mlsb"
    return build_version_package(
        platform,
        actor,
        project,
        f"models:/{model_name}/{version}",
        output,
        key_name=SIGNING_KEY,
        overwrite=True,
    )


def deploy_version(
    client: Client,
    *,
    project: str,
    name: str,
    model_name: str,
    version: int,
    timeout: float = 120.0,
) -> Deployment:
    """Serve ``version`` as deployment ``name`` on a free loopback port, logging every
    prediction in windows of 5 s and refusing inputs outside the training ranges (widened by
    half their span); waits until the server serves it. A deployment of that name (an earlier
    run) is started again if needed (also when it is recorded as running but its server does
    not answer) and switched to ``version``. ``Unavailable`` when the server does not come up
    in ``timeout`` seconds."""
    from ..deployments import DeploymentStatus
    from ..errors import NotFound

    try:
        deployment = client.get_deployment(name, project=project)
    except NotFound:
        deployment = client.create_deployment(
            name,
            f"models:/{model_name}/{version}",
            project=project,
            log_sample_rate=1.0,
            log_window=LOG_WINDOW_SECONDS,
            input_ranges="reject",
            range_tolerance=RANGE_TOLERANCE,
        )
    else:
        if deployment.model != model_name:
            raise Conflict(
                f"deployment {name!r} serves model {deployment.model!r}, not {model_name!r}"
            )
        if deployment.status != DeploymentStatus.RUNNING:
            deployment = client.start_deployment(name, project=project)
        elif not client.deployment_stats(name, project=project).get("running"):
            # Recorded as running but nothing answers (the machine restarted): start afresh.
            client.stop_deployment(name, project=project)
            deployment = client.start_deployment(name, project=project)
        if deployment.plan.stable != str(version) or len(deployment.plan.routes) > 1:
            if deployment.plan.stable != str(version):
                client.rollout_deployment(name, version, canary=50, project=project)
            deployment = client.promote_deployment(name, project=project)
    _wait(client, deployment, timeout)
    return deployment


def _wait(client: Client, deployment: Deployment, timeout: float) -> None:
    project, name = deployment.project, deployment.name
    if not client.wait_for_deployment(name, deployment.revision, project=project, timeout=timeout):
        raise Unavailable(
            f"deployment {name!r} has not served revision {deployment.revision} within "
            f"{timeout:g} s: see `mlsteward deploy logs {name} --project {project}`"
        )


def replay_traffic(
    url: str, model_name: str, frame: Any, *, batch_rows: int = 100, feedback: bool = True
) -> Replay:
    """Send ``frame``'s features to ``POST {url}/v1/models/{model_name}/predict`` in requests
    of ``batch_rows`` rows, tally each answering version's recall against the ``is_fraud``
    label and (``feedback``) post the labels to the feedback route for the prediction ids.

    ``InvalidArgument`` for a bad batch size or a frame without the features and label;
    ``Unavailable`` when the server refuses a request (the message quotes its answer)."""
    import httpx

    if isinstance(batch_rows, bool) or not isinstance(batch_rows, int) or batch_rows < 1:
        raise InvalidArgument(f"batch_rows must be a whole number >= 1, not {batch_rows!r}")
    missing = [c for c in (*FEATURES, LABEL) if c not in getattr(frame, "columns", ())]
    if missing or len(frame) == 0:
        raise InvalidArgument(f"the replayed frame needs rows and the columns {missing}")
    records = frame[list(FEATURES)].to_dict("records")
    truth = [int(v) for v in frame[LABEL]]
    tallies: dict[str, VersionTally] = {}
    labels: list[dict[str, Any]] = []
    started = dt.datetime.now(dt.UTC)
    base = f"{url}/v1/models/{model_name}"
    with httpx.Client(timeout=60) as http:
        for first in range(0, len(records), batch_rows):
            answer = http.post(
                f"{base}/predict", json={"records": records[first : first + batch_rows]}
            )
            if answer.status_code != 200:
                raise Unavailable(
                    f"the deployment refused a replayed request ({answer.status_code}): "
                    f"{answer.text[:300]}"
                )
            tally = tallies.setdefault(answer.headers.get("X-Model-Version", "?"), VersionTally())
            for offset, item in enumerate(answer.json()["predictions"]):
                label, flagged = truth[first + offset], int(item["prediction"]) == 1
                tally.rows += 1
                tally.fraud += label
                tally.flagged += flagged
                tally.caught += label and flagged
                labels.append({"prediction_id": item["id"], "label": label})
        accepted = 0
        if feedback:
            for first in range(0, len(labels), 5_000):
                answer = http.post(
                    f"{base}/feedback", json={"labels": labels[first : first + 5_000]}
                )
                if answer.status_code != 202:
                    raise Unavailable(
                        f"the deployment refused feedback ({answer.status_code}): "
                        f"{answer.text[:300]}"
                    )
                accepted += int(answer.json()["accepted"])
    return Replay(len(records), accepted, started, dt.datetime.now(dt.UTC), tallies)


def seconds_until_fresh_window(
    now: dt.datetime, *, needed: float, window_seconds: int = MONITOR_WINDOW_SECONDS
) -> float:
    """How long to wait so that ``needed`` seconds of traffic, starting then, fall inside one
    monitor window with a prediction-log window to spare on either side (0: start now)."""
    margin = LOG_WINDOW_SECONDS + 1.0
    into = now.timestamp() % window_seconds
    if margin <= into and into + needed + margin <= window_seconds:
        return 0.0
    return window_seconds - into + margin


def wait_for_logged(
    platform: Platform,
    actor: Actor,
    *,
    project: str,
    deployment: str,
    since: dt.datetime,
    rows: int,
    labels: int,
    timeout: float = 60.0,
) -> None:
    """Wait until the deployment's prediction windows since ``since`` hold ``rows`` rows and
    ``labels`` feedback labels (the server ships them every few seconds). ``Unavailable``
    after ``timeout`` seconds."""
    from ..monitoring import list_prediction_windows

    deadline = time.monotonic() + timeout
    start = since - dt.timedelta(seconds=LOG_WINDOW_SECONDS)
    while True:
        windows = list_prediction_windows(
            platform, actor, project, deployment=deployment, since=start, limit=10_000
        )
        logged = sum(w.rows for w in windows)
        labelled = sum(w.feedback_labels for w in windows)
        if logged >= rows and labelled >= labels:
            return
        if time.monotonic() > deadline:
            raise Unavailable(
                f"deployment {deployment!r} shipped {logged} of {rows} rows and {labelled} of "
                f"{labels} labels within {timeout:g} s"
            )
        time.sleep(0.25)


def watch_deployment(
    client: Client,
    platform: Platform,
    actor: Actor,
    *,
    project: str,
    deployment: str,
    monitor: str,
    action: str,
    recall_below: float = 0.6,
    drift_above: float = 0.3,
) -> tuple[Monitor, dict[str, AlertRule]]:
    """A one-minute monitor on ``deployment`` (drift against the training profile, quality
    with fraud = 1) and two rules on it: ``recall-drop`` (``quality.recall`` below
    ``recall_below``; runs the registered retraining callable ``action``) and
    ``drift-share`` (``drift.share_drifted`` above ``drift_above``; notifies only), both
    notifying the log. Reuses the monitor of an earlier run but replaces its two rules (and with
    them their incidents), so the next breach opens a new incident."""
    from ..errors import NotFound
    from ..monitoring import create_alert_rule, delete_alert_rule, list_alert_rules

    try:
        watcher = client.get_monitor(monitor, project=project)
    except NotFound:
        watcher = client.create_monitor(
            monitor,
            project=project,
            deployment=deployment,
            window_seconds=MONITOR_WINDOW_SECONDS,
            quality={"task": "classification", "positive_label": 1},
        )
    wanted: Mapping[str, dict[str, Any]] = {
        RECALL_RULE: {
            "metric": "quality.recall", "op": "<", "value": recall_below,
            "severity": "critical", "action": {"kind": "callable", "name": action},
        },
        DRIFT_RULE: {
            "metric": "drift.share_drifted", "op": ">", "value": drift_above,
            "severity": "warning",
        },
    }  # fmt: skip
    # A rule of an earlier run may hold a firing incident (the next breach would only update
    # it) or stay quiet after a manual resolve: start each run with fresh rules.
    for old in list_alert_rules(platform, actor, project, monitor_id=watcher.id):
        if old.name in wanted:
            delete_alert_rule(platform, actor, project, old.id)
    rules = {
        name: create_alert_rule(
            platform,
            actor,
            project,
            monitor_id=watcher.id,
            name=name,
            notifiers=[{"kind": "log"}],
            renotify_seconds=0,
            **spec,
        )
        for name, spec in wanted.items()
    }
    return watcher, rules


def canary_rollout(
    client: Client,
    *,
    project: str,
    deployment: str,
    model_name: str,
    version: int,
    weight: int,
    check: Any,
    timeout: float = 120.0,
) -> CanaryOutcome:
    """Send ``weight`` percent of the traffic to ``version``, replay the labelled ``check``
    frame in small requests, and promote the canary when its recall is at least the stable
    version's (else roll back); waits until the server serves the final plan."""
    current = client.get_deployment(deployment, project=project)
    stable = current.plan.stable
    if stable == str(version):
        raise InvalidArgument(f"version {version} is the stable version already")
    rolled = client.rollout_deployment(deployment, version, canary=weight, project=project)
    _wait(client, rolled, timeout)
    replay = replay_traffic(rolled.url, model_name, check, batch_rows=25)
    stable_recall, canary_recall = replay.recall(stable), replay.recall(str(version))
    better = math.isfinite(canary_recall) and not canary_recall < _or_zero(stable_recall)
    try:
        if better:
            final = client.promote_deployment(deployment, project=project)
        else:
            final = client.rollback_deployment(deployment, project=project)
    except StewardError:
        client.rollback_deployment(deployment, project=project)
        raise
    _wait(client, final, timeout)
    return CanaryOutcome(better, stable, str(version), stable_recall, canary_recall, replay, final)


def _or_zero(value: float) -> float:
    return value if math.isfinite(value) else 0.0
