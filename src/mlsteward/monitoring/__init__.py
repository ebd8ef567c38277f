"""Monitoring: the prediction windows inference servers ship (per-window profiles of inputs and
outputs, sampled rows, delayed labels), the ground drift, quality and fairness monitors build
on; data drift between two profiles (:func:`compare_profiles`); model quality from delayed
labels (:func:`join_feedback`, :func:`quality_over_time`) and fairness across the segments of a
sensitive attribute (:func:`fairness_report`)."""

from __future__ import annotations

from ._alert_actions import ActionResult as ActionResult
from ._alert_actions import AlertContext as AlertContext
from ._alert_actions import register_retraining_action as register_retraining_action
from ._alert_actions import unregister_retraining_action as unregister_retraining_action
from ._alert_dispatch import AlertDispatcher as AlertDispatcher
from ._alert_evaluation import RuleEvaluation as RuleEvaluation
from ._alert_evaluation import evaluate_rules_for_monitor as evaluate_rules_for_monitor
from ._alert_links import AlertLink as AlertLink
from ._alert_links import link_alert as link_alert
from ._alert_model import Alert as Alert
from ._alert_model import AlertNotification as AlertNotification
from ._alert_model import AlertRule as AlertRule
from ._alert_rule_updates import update_alert_rule as update_alert_rule
from ._alerts import acknowledge_alert as acknowledge_alert
from ._alerts import create_alert_rule as create_alert_rule
from ._alerts import delete_alert_rule as delete_alert_rule
from ._alerts import get_alert as get_alert
from ._alerts import list_alert_notifications as list_alert_notifications
from ._alerts import list_alert_rules as list_alert_rules
from ._alerts import list_alerts as list_alerts
from ._alerts import resolve_alert as resolve_alert
from ._domain_classifier import DomainClassifierDrift as DomainClassifierDrift
from ._domain_classifier import domain_classifier_drift as domain_classifier_drift
from ._drift import ColumnDrift as ColumnDrift
from ._drift import DriftReport as DriftReport
from ._drift import compare_profiles as compare_profiles
from ._drift_options import ColumnDriftSpec as ColumnDriftSpec
from ._drift_options import DriftOptions as DriftOptions
from ._fairness import FairnessReport as FairnessReport
from ._fairness import SegmentFairness as SegmentFairness
from ._fairness import fairness_report as fairness_report
from ._monitor_model import Monitor as Monitor
from ._monitor_model import MonitorResult as MonitorResult
from ._monitor_report import monitor_report as monitor_report
from ._monitor_runs import evaluate_monitor as evaluate_monitor
from ._monitor_runs import run_due_evaluations as run_due_evaluations
from ._monitors import create_monitor as create_monitor
from ._monitors import delete_monitor as delete_monitor
from ._monitors import get_monitor as get_monitor
from ._monitors import list_monitor_results as list_monitor_results
from ._monitors import list_monitors as list_monitors
from ._monitors import update_monitor as update_monitor
from ._notifiers import DeliveryOptions as DeliveryOptions
from ._quality import ClassificationQuality as ClassificationQuality
from ._quality import RegressionQuality as RegressionQuality
from ._quality import WindowQuality as WindowQuality
from ._quality import classification_quality as classification_quality
from ._quality import join_feedback as join_feedback
from ._quality import quality_over_time as quality_over_time
from ._quality import regression_quality as regression_quality
from ._quality_intervals import MetricEstimate as MetricEstimate
from ._report import FeatureDistribution as FeatureDistribution
from ._report import MonitoringReport as MonitoringReport
from ._report import ReportWindow as ReportWindow
from ._report import build_report as build_report
from ._report import distributions_from_profiles as distributions_from_profiles
from ._report_html import render_report_html as render_report_html
from ._training_pii import training_pii_columns as training_pii_columns
from ._windows import PredictionWindow as PredictionWindow
from ._windows import list_prediction_windows as list_prediction_windows
from ._windows import record_prediction_window as record_prediction_window

__all__ = [
    "ActionResult",
    "Alert",
    "AlertContext",
    "AlertDispatcher",
    "AlertLink",
    "AlertNotification",
    "AlertRule",
    "ClassificationQuality",
    "ColumnDrift",
    "ColumnDriftSpec",
    "DeliveryOptions",
    "DomainClassifierDrift",
    "DriftOptions",
    "DriftReport",
    "FairnessReport",
    "FeatureDistribution",
    "MetricEstimate",
    "Monitor",
    "MonitorResult",
    "MonitoringReport",
    "PredictionWindow",
    "RegressionQuality",
    "ReportWindow",
    "RuleEvaluation",
    "SegmentFairness",
    "WindowQuality",
    "acknowledge_alert",
    "build_report",
    "classification_quality",
    "compare_profiles",
    "create_alert_rule",
    "create_monitor",
    "delete_alert_rule",
    "delete_monitor",
    "distributions_from_profiles",
    "domain_classifier_drift",
    "evaluate_monitor",
    "evaluate_rules_for_monitor",
    "fairness_report",
    "get_alert",
    "get_monitor",
    "join_feedback",
    "link_alert",
    "list_alert_notifications",
    "list_alert_rules",
    "list_alerts",
    "list_monitor_results",
    "list_monitors",
    "list_prediction_windows",
    "monitor_report",
    "quality_over_time",
    "record_prediction_window",
    "register_retraining_action",
    "regression_quality",
    "render_report_html",
    "resolve_alert",
    "run_due_evaluations",
    "training_pii_columns",
    "unregister_retraining_action",
    "update_alert_rule",
    "update_monitor",
]
