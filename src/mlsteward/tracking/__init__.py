"""Experiment tracking: experiments, runs, parameters, metrics, tags and search."""

from ._active_run import ActiveRun as ActiveRun
from ._artifacts import ArtifactInfo as ArtifactInfo
from ._artifacts import get_artifact as get_artifact
from ._artifacts import list_artifacts as list_artifacts
from ._artifacts import log_artifact as log_artifact
from ._artifacts import open_artifact as open_artifact
from ._compare import MetricSeries as MetricSeries
from ._compare import RunComparison as RunComparison
from ._compare import best_run as best_run
from ._compare import compare_runs as compare_runs
from ._environment import capture_environment as capture_environment
from ._environment import git_diff as git_diff
from ._experiments import create_experiment as create_experiment
from ._experiments import get_experiment as get_experiment
from ._experiments import get_or_create_experiment as get_or_create_experiment
from ._experiments import list_experiments as list_experiments
from ._experiments import set_experiment_deleted as set_experiment_deleted
from ._ingest import log_batch as log_batch
from ._ingest import metric_history as metric_history
from ._ingest import metric_keys as metric_keys
from ._model import Experiment as Experiment
from ._model import ExperimentId as ExperimentId
from ._model import MetricPoint as MetricPoint
from ._model import Run as Run
from ._model import RunId as RunId
from ._model import RunStatus as RunStatus
from ._retention import PurgeReport as PurgeReport
from ._retention import purge_deleted as purge_deleted
from ._runs import end_run as end_run
from ._runs import get_run as get_run
from ._runs import heartbeat as heartbeat
from ._runs import reap_dead_runs as reap_dead_runs
from ._runs import set_run_deleted as set_run_deleted
from ._runs import set_run_notes as set_run_notes
from ._runs import start_run as start_run
from ._search import RunPage as RunPage
from ._search import search_runs as search_runs

__all__ = [
    "ActiveRun",
    "ArtifactInfo",
    "Experiment",
    "ExperimentId",
    "MetricPoint",
    "MetricSeries",
    "PurgeReport",
    "Run",
    "RunComparison",
    "RunId",
    "RunPage",
    "RunStatus",
    "best_run",
    "capture_environment",
    "compare_runs",
    "create_experiment",
    "end_run",
    "get_artifact",
    "get_experiment",
    "get_or_create_experiment",
    "get_run",
    "git_diff",
    "heartbeat",
    "list_artifacts",
    "list_experiments",
    "log_artifact",
    "log_batch",
    "metric_history",
    "metric_keys",
    "open_artifact",
    "purge_deleted",
    "reap_dead_runs",
    "search_runs",
    "set_experiment_deleted",
    "set_run_deleted",
    "set_run_notes",
    "start_run",
]
