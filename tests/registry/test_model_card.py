"""Model cards: prefill from a real run, the stored form and its checks, Markdown and HTML
export, and the ``model_card`` service on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import math
import time
from html.parser import HTMLParser
from typing import Any

import pytest
from sqlalchemy import update

from mlsteward.errors import Conflict, InvalidArgument, NotFound, PermissionDenied
from mlsteward.platform import Platform
from mlsteward.registry import ModelFile, ModelVersion, register_model_version, set_model_card
from mlsteward.registry._model_card import (
    MAX_CARD_BYTES,
    MAX_TEXT_LENGTH,
    ModelCard,
    ModelDetails,
    check_model_card,
    model_card,
    prefill_model_card,
    render_html,
    render_markdown,
)
from mlsteward.registry._tables import model_versions
from mlsteward.security import SYSTEM, Actor, authenticate_password, create_user
from mlsteward.tracking import MetricPoint, create_experiment, log_batch, set_run_deleted, start_run

HEADINGS = [
    "Model details",
    "Intended use",
    "Factors",
    "Metrics",
    "Evaluation data",
    "Training data",
    "Training configuration",
    "Ethical considerations",
    "Caveats and recommendations",
]
SIGNATURE = {
    "type": "mlsteward.signature",
    "schema_version": 1,
    "inputs": {
        "kind": "table",
        "columns": [{"name": "amount", "dtype": "float64", "shape": None, "nullable": False}],
    },
    "outputs": None,
}


def tracked_run(platform: Platform, params: dict[str, str] | None = None) -> str:
    create_experiment(platform, SYSTEM, "default", "fraud-training")
    run = start_run(
        platform,
        SYSTEM,
        "default",
        "fraud-training",
        environment={"python": "3.11.9", "git": {"commit": "a" * 40, "dirty": True}},
    )
    now = int(time.time() * 1000)
    log_batch(
        platform,
        SYSTEM,
        run.id,
        metrics=[
            MetricPoint("auc", 0.81, 0, now),
            MetricPoint("loss", 0.25, 3, now),
            MetricPoint("calibration", math.nan, 0, now),
        ],
        params=params if params is not None else {"max_depth": "6", "learning_rate": "0.1"},
    )
    return run.id


def add_version(platform: Platform, run_id: str | None = None, **extra: Any) -> ModelVersion:
    blob = platform.blobs.put_bytes(b"weights")
    return register_model_version(
        platform,
        SYSTEM,
        "default",
        "fraud",
        source_uri="runs:/abc/model",
        flavor="sklearn",
        files=[ModelFile("model.skops", blob.address, blob.size)],
        source_run_id=run_id,
        metrics={"auc": 0.93},
        **extra,
    )


def hostile_card() -> ModelCard:
    return ModelCard(
        ModelDetails("fraud", 1, flavor="sklearn"),
        intended_use="Scores payments.\n\n<script>alert('x')</script> & more",
        metrics={"<b>auc</b>": 0.9, "loss": math.nan, "gain": math.inf},
        training_configuration={"note": '"quoted" <i>'},
        caveats="Line one\nline two",
    )


def test_prefill_takes_facts_from_the_version_and_its_source_run(
    backend_platform: Platform,
) -> None:
    run_id = tracked_run(backend_platform)
    version = add_version(
        backend_platform,
        run_id,
        signature=SIGNATURE,
        datasets=[{"name": "payments", "version": 3}],
    )
    card = prefill_model_card(backend_platform, SYSTEM, version)
    details = card.model_details
    assert (details.name, details.version, details.flavor) == ("fraud", 1, "sklearn")
    assert (details.source_run_id, details.created_by) == (run_id, "system")
    assert (details.python_version, details.git_commit, details.git_dirty) == (
        "3.11.9",
        "a" * 40,
        True,
    )
    assert details.signature == "inputs: table of 1 (amount: float64)"
    # the registered snapshot wins over the run's latest value; the run fills in the rest
    assert card.metrics["auc"] == 0.93
    assert card.metrics["loss"] == 0.25
    assert math.isnan(card.metrics["calibration"])
    assert card.training_configuration == {"learning_rate": "0.1", "max_depth": "6"}
    assert card.training_data == "- name: payments, version: 3"
    assert card.intended_use == card.factors == card.caveats == ""
    assert "Not documented yet" in render_markdown(card)
    assert check_model_card(card.to_dict()) == card.to_dict()


def test_prefill_without_a_readable_run_keeps_the_version_facts(platform: Platform) -> None:
    bare = prefill_model_card(platform, SYSTEM, add_version(platform))
    assert bare.metrics == {"auc": 0.93}
    assert bare.training_configuration == {}
    assert bare.model_details.git_commit is None
    run_id = tracked_run(platform)
    version = add_version(platform, run_id)
    set_run_deleted(platform, SYSTEM, run_id, True)
    assert prefill_model_card(platform, SYSTEM, version).metrics["loss"] == 0.25
    stranger = outsider(platform)  # may see neither the run nor the project
    card = prefill_model_card(platform, stranger, version)
    assert card.metrics == {"auc": 0.93}
    assert card.model_details.python_version is None


def test_a_prefilled_card_stays_within_the_stored_size(platform: Platform) -> None:
    params = {f"param_{i:04d}": "v" * 1000 for i in range(1000)}
    version = add_version(platform, tracked_run(platform, params))
    card = prefill_model_card(platform, SYSTEM, version)
    assert len(json.dumps(card.to_dict()).encode()) <= MAX_CARD_BYTES
    assert 0 < len(card.training_configuration) < 1000
    assert "more parameters" in card.training_data
    set_model_card(platform, SYSTEM, "default", "fraud", 1, check_model_card(card.to_dict()))


def test_to_dict_and_from_dict_round_trip() -> None:
    card = hostile_card()
    stored = json.loads(json.dumps(card.to_dict(), allow_nan=False))
    assert stored["type"] == "mlsteward.model_card"
    assert stored["schema_version"] == 1
    assert stored["metrics"]["loss"] == "NaN"
    assert stored["metrics"]["gain"] == "Infinity"
    again = ModelCard.from_dict(stored)
    assert again.to_dict() == card.to_dict()
    assert again.intended_use == card.intended_use
    minimal = ModelCard.from_dict(
        {
            "type": "mlsteward.model_card",
            "schema_version": 1,
            "model_details": {"name": "m", "version": 2},
        }
    )
    assert minimal == ModelCard(ModelDetails("m", 2))


def test_markdown_has_every_section_and_sorted_metrics() -> None:
    card = ModelCard(
        ModelDetails("fraud", 4),
        metrics={"recall": 0.7, "auc": 0.93, "loss": -math.inf},
        metrics_notes="Measured on the **holdout**.",
    )
    text = render_markdown(card)
    assert text.startswith("# Model card: fraud version 4\n")
    for heading in HEADINGS:
        assert f"\n## {heading}\n" in text
    assert "| auc | 0.93 |\n| loss | -Infinity |\n| recall | 0.7 |" in text
    assert "Measured on the **holdout**." in text
    assert render_markdown(card) == text


class _TagBalance(HTMLParser):
    VOID = frozenset({"meta", "br", "hr", "img", "input", "link"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack.pop() != tag:
            self.problems.append(f"unexpected </{tag}>")


def test_html_escapes_user_text_and_is_well_formed() -> None:
    page = render_html(hostile_card())
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; more" in page
    assert "&lt;b&gt;auc&lt;/b&gt;" in page
    assert "&quot;quoted&quot; &lt;i&gt;" in page
    assert "<td>NaN</td>" in page
    assert "<td>Infinity</td>" in page
    parser = _TagBalance()
    parser.feed(page)
    parser.close()
    assert parser.problems == []
    assert parser.stack == []
    assert set(parser.tags) <= {
        "html", "head", "meta", "title", "style", "body", "main", "h1", "h2", "section",
        "p", "table", "thead", "tbody", "tr", "th", "td",
    }  # fmt: skip
    assert "http" not in page.replace("http-equiv", "")  # no external asset
    assert render_html(hostile_card()) == page


def card_dict(**changes: Any) -> dict[str, Any]:
    data = ModelCard(ModelDetails("fraud", 1), intended_use="scores payments").to_dict()
    data.update(changes)
    return data


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        (card_dict(owner="me"), "owner"),
        (card_dict(type="mlsteward.signature"), "type"),
        (card_dict(schema_version=2), "schema_version"),
        (card_dict(schema_version="1"), "schema_version"),
        (card_dict(schema_version=True), "schema_version"),
        (card_dict(intended_use=["a list"]), "intended_use"),
        (card_dict(caveats="x" * (MAX_TEXT_LENGTH + 1)), "caveats"),
        (card_dict(factors="nul\x00"), "factors"),
        (card_dict(metrics={"auc": "high"}), "metrics.auc"),
        (card_dict(metrics={"auc": True}), "metrics.auc"),
        (card_dict(metrics={"auc": 10**400}), "metrics.auc"),
        (card_dict(metrics=[1.0]), "metrics"),
        (card_dict(training_configuration={"lr": 0.1}), "training_configuration.lr"),
        (card_dict(model_details={"name": "fraud"}), "model_details"),
        (
            card_dict(model_details={"name": "fraud", "version": 1, "team": "x"}),
            "model_details.team",
        ),
        (card_dict(model_details={"name": "fraud", "version": 0}), "model_details.version"),
        (card_dict(model_details="fraud/1"), "model_details"),
    ],
)
def test_bad_cards_are_refused_naming_the_field(bad: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        check_model_card(bad)
    assert caught.value.details["field"] == field
    assert repr(field) in caught.value.message


def test_oversized_and_non_object_cards_are_refused() -> None:
    texts = {
        name: "€" * MAX_TEXT_LENGTH
        for name in ("intended_use", "factors", "caveats", "evaluation_data")
    }
    with pytest.raises(InvalidArgument, match="bytes as JSON; the limit is 200000"):
        check_model_card(card_dict(**texts))
    with pytest.raises(InvalidArgument, match="a model card is a JSON object"):
        check_model_card(["not", "a", "card"])


def outsider(platform: Platform) -> Actor:
    create_user(platform, SYSTEM, "stranger", "a-long-password-1")
    return authenticate_password(platform, "stranger", "a-long-password-1")


def test_service_serves_the_stored_card_over_the_prefill(backend_platform: Platform) -> None:
    add_version(backend_platform, tracked_run(backend_platform))

    def served(fmt: Any) -> str:
        return model_card(backend_platform, SYSTEM, "default", "fraud", 1, format=fmt)

    prefilled = json.loads(served("json"))
    assert prefilled["intended_use"] == ""
    assert prefilled["metrics"]["calibration"] == "NaN"
    card = ModelCard.from_dict(prefilled)
    edited = ModelCard(
        card.model_details, intended_use="Score card payments in the EU.", metrics=card.metrics
    )
    set_model_card(
        backend_platform, SYSTEM, "default", "fraud", 1, check_model_card(edited.to_dict())
    )
    assert json.loads(served("json"))["intended_use"] == "Score card payments in the EU."
    assert "Score card payments in the EU." in served("markdown")
    assert '<p class="text">Score card payments in the EU.</p>' in served("html")
    with pytest.raises(InvalidArgument, match="format must be"):
        served("pdf")


def test_service_checks_permission_and_refuses_an_invalid_stored_card(platform: Platform) -> None:
    add_version(platform)
    with pytest.raises(PermissionDenied):
        model_card(platform, outsider(platform), "default", "fraud", 1, format="html")
    with pytest.raises(NotFound):
        model_card(platform, SYSTEM, "default", "fraud", 2, format="html")
    with pytest.raises(InvalidArgument):  # the service stores complete cards only
        set_model_card(platform, SYSTEM, "default", "fraud", 1, {"intended_use": "free form"})
    with platform.db.write() as conn:  # as an older release or a manual edit might leave it
        conn.execute(update(model_versions).values(model_card={"intended_use": "free form"}))
    with pytest.raises(Conflict, match=r"not a valid mlsteward\.model_card") as caught:
        model_card(platform, SYSTEM, "default", "fraud", 1, format="markdown")
    assert caught.value.details["field"] == "type"
