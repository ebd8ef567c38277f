"""Deployments managed by the platform: named endpoints serving one registered model under
one or more versions (canary weights, sticky routing, shadow, rollback), their history, and
the supervisor that keeps each deployment's server process running."""

from ._control import deployment_log as deployment_log
from ._control import deployment_stats as deployment_stats
from ._lifecycle import start_deployment as start_deployment
from ._lifecycle import stop_deployment as stop_deployment
from ._model import Deployment as Deployment
from ._model import DeploymentEvent as DeploymentEvent
from ._model import DeploymentId as DeploymentId
from ._model import DeploymentStatus as DeploymentStatus
from ._model import EventKind as EventKind
from ._model import InputRangesMode as InputRangesMode
from ._rollouts import promote as promote
from ._rollouts import record_auto_rollback as record_auto_rollback
from ._rollouts import rollback as rollback
from ._rollouts import rollout as rollout
from ._rollouts import set_canary_weight as set_canary_weight
from ._service import create_deployment as create_deployment
from ._service import deployment_history as deployment_history
from ._service import get_deployment as get_deployment
from ._service import list_deployments as list_deployments

__all__ = [
    "Deployment",
    "DeploymentEvent",
    "DeploymentId",
    "DeploymentStatus",
    "EventKind",
    "InputRangesMode",
    "create_deployment",
    "deployment_history",
    "deployment_log",
    "deployment_stats",
    "get_deployment",
    "list_deployments",
    "promote",
    "record_auto_rollback",
    "rollback",
    "rollout",
    "set_canary_weight",
    "start_deployment",
    "stop_deployment",
]
