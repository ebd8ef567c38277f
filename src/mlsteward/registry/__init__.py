"""The model registry: registered models, versions, aliases with their history, promotion
requests with four-eyes approval, alias policies with pluggable conditions."""

from __future__ import annotations

from ._aliases import alias_history_of as alias_history_of
from ._aliases import delete_alias as delete_alias
from ._aliases import set_alias as set_alias
from ._approvals import apply_promotion as apply_promotion
from ._approvals import approve_promotion as approve_promotion
from ._approvals import cancel_promotion as cancel_promotion
from ._approvals import list_promotion_requests as list_promotion_requests
from ._approvals import reject_promotion as reject_promotion
from ._approvals import request_promotion as request_promotion
from ._model import AliasPeriod as AliasPeriod
from ._model import ModelFile as ModelFile
from ._model import ModelVersion as ModelVersion
from ._model import ModelVersionId as ModelVersionId
from ._model import PromotionRequest as PromotionRequest
from ._model import PromotionRequestId as PromotionRequestId
from ._model import RegisteredModel as RegisteredModel
from ._model import RegisteredModelId as RegisteredModelId
from ._model import RequestStatus as RequestStatus
from ._model import UnmetCondition as UnmetCondition
from ._model_card import EDITABLE_SECTIONS as EDITABLE_SECTIONS
from ._model_card import ModelCard as ModelCard
from ._model_card import ModelDetails as ModelDetails
from ._model_card import check_model_card as check_model_card
from ._model_card import model_card as model_card
from ._model_card import prefill_model_card as prefill_model_card
from ._model_card import render_html as render_html
from ._model_card import render_markdown as render_markdown
from ._model_card import update_model_card as update_model_card
from ._models import create_registered_model as create_registered_model
from ._models import get_model_version as get_model_version
from ._models import get_registered_model as get_registered_model
from ._models import list_model_versions as list_model_versions
from ._models import list_registered_models as list_registered_models
from ._models import parse_model_uri as parse_model_uri
from ._models import record_package as record_package
from ._models import register_model_version as register_model_version
from ._models import resolve_model_uri as resolve_model_uri
from ._models import set_model_card as set_model_card
from ._models import update_registered_model as update_registered_model
from ._policies import ConditionType as ConditionType
from ._policies import PolicyContext as PolicyContext
from ._policies import condition_types as condition_types
from ._policies import get_alias_policy as get_alias_policy
from ._policies import list_alias_policies as list_alias_policies
from ._policies import register_condition as register_condition
from ._policies import set_alias_policy as set_alias_policy

__all__ = [
    "EDITABLE_SECTIONS",
    "AliasPeriod",
    "ConditionType",
    "ModelCard",
    "ModelDetails",
    "ModelFile",
    "ModelVersion",
    "ModelVersionId",
    "PolicyContext",
    "PromotionRequest",
    "PromotionRequestId",
    "RegisteredModel",
    "RegisteredModelId",
    "RequestStatus",
    "UnmetCondition",
    "alias_history_of",
    "apply_promotion",
    "approve_promotion",
    "cancel_promotion",
    "check_model_card",
    "condition_types",
    "create_registered_model",
    "delete_alias",
    "get_alias_policy",
    "get_model_version",
    "get_registered_model",
    "list_alias_policies",
    "list_model_versions",
    "list_promotion_requests",
    "list_registered_models",
    "model_card",
    "parse_model_uri",
    "prefill_model_card",
    "record_package",
    "register_condition",
    "register_model_version",
    "reject_promotion",
    "render_html",
    "render_markdown",
    "request_promotion",
    "resolve_model_uri",
    "set_alias",
    "set_alias_policy",
    "set_model_card",
    "update_model_card",
    "update_registered_model",
]
