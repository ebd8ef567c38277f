"""The deployment's server process with a failing canary: the server rolls it back on its own
and the platform records the rollback (as the system actor, naming the deployment)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from mlsteward.deployments import (
    EventKind,
    create_deployment,
    deployment_history,
    get_deployment,
    rollout,
)
from mlsteward.deployments._control import read_server_stats, wait_for_revision
from mlsteward.deployments._supervisor import start_supervisor, stop_supervisor
from mlsteward.platform import Platform
from mlsteward.registry import ModelFile, register_model_version
from mlsteward.security import SYSTEM, list_audit_events
from mlsteward.serving._routing import AutoRollbackRule, Route

from ..serving._support import iris_frame, save_iris_model


def _register(platform: Platform, folder: Path) -> None:
    files = []
    for path in sorted(folder.iterdir()):
        blob = platform.blobs.put_bytes(path.read_bytes())
        files.append(ModelFile(path.name, blob.address, blob.size))
    register_model_version(
        platform, SYSTEM, "default", "iris", source_uri="runs:/r/m", flavor="sklearn",
        files=files,
    )  # fmt: skip


def test_a_failing_canary_is_rolled_back_by_the_server_and_recorded(
    platform: Platform, tmp_path: Path
) -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier

    from mlsteward.models._model_dir import load_model_dir, save_model

    good, broken = tmp_path / "good", tmp_path / "broken"
    save_iris_model(good)
    x, y = iris_frame()
    # Trained on three columns while its signature states four: every prediction raises.
    model = HistGradientBoostingClassifier(max_iter=5).fit(x.iloc[:, :3], y)
    save_model(model, broken, signature=load_model_dir(good).signature)
    _register(platform, good)
    _register(platform, broken)
    rule = AutoRollbackRule(max_error_rate=0.5, min_requests=5)
    created = create_deployment(
        platform, SYSTEM, "default", "guarded", "models:/iris/1", auto_rollback=rule
    )
    settings = platform.settings
    try:
        start_supervisor(settings, "default", "guarded")
        assert wait_for_revision(lambda: read_server_stats(platform, created), 1, timeout=90)
        canary = rollout(platform, SYSTEM, "default", "guarded", 2, canary=50)
        assert wait_for_revision(lambda: read_server_stats(platform, canary), 2, timeout=60)
        body = {"records": x.head(1).to_dict("records")}
        url = f"{created.url}/v1/models/iris/predict"
        versions = []
        deadline = time.monotonic() + 60
        while get_deployment(platform, SYSTEM, "default", "guarded").revision == 2:
            assert time.monotonic() < deadline, "the canary was never rolled back"
            answer = httpx.post(url, json=body, timeout=10)
            versions.append(answer.headers["X-Model-Version"])
            time.sleep(0.02)
        assert "2" in versions
    finally:
        stop_supervisor(settings, "default", "guarded")
    now = get_deployment(platform, SYSTEM, "default", "guarded")
    assert (now.revision, now.plan.routes) == (3, (Route("1", 100),))
    last = deployment_history(platform, SYSTEM, "default", "guarded")[-1]
    assert (last.kind, last.actor, last.details["from_revision"]) == (
        EventKind.AUTO_ROLLBACK,
        "system",
        2,
    )
    assert "canary version 2" in last.details["reason"]
    audit = list_audit_events(platform, SYSTEM, action="deployment.auto_rollback")
    assert [(e.actor_name, e.target_id) for e in audit] == [("system", "guarded")]
    assert audit[0].details["deployment"] == "guarded"
