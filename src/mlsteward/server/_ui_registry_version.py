"""The version page of the registry UI: facts, lineage, signature, metrics, scan, package, and
the model card (shown, downloaded as Markdown or HTML, and its human sections edited).

The card on the page is the structured ``ModelCard``: the stored one, or one prefilled from
tracked facts while none is stored. Section text is shown as written (Markdown is never
rendered as markup); a stored card that is not valid is shown as raw entries with a warning.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form
from starlette.responses import RedirectResponse, Response

from ..errors import InvalidArgument, NotFound, PermissionDenied, StewardError

# Not re-exported by mlsteward.registry (yet): the sections ``update_model_card`` accepts.
from ..registry import (
    EDITABLE_SECTIONS,
    ModelCard,
    ModelVersion,
    get_model_version,
    model_card,
    prefill_model_card,
    update_model_card,
)
from ..registry._model_card import card_section_table
from ..security import Role, my_role
from ..tracking import get_run
from ._ui_render import UIRoute, render, status_for
from ._ui_session import Page, flash, viewer, writer

__all__ = ["router", "version_path"]

router = APIRouter(route_class=UIRoute, include_in_schema=False)
Viewer = Annotated[Page, Depends(viewer)]
Writer = Annotated[Page, Depends(writer)]
FormSection = Annotated[str | None, Form()]

CARD_DOWNLOAD_CSP = "default-src 'none'; style-src 'unsafe-inline'"
"""The downloaded HTML card: no script, no external asset, only its own inline style."""
MAX_SECTION_LENGTH = 20_000  # a card section's limit in the service; the form says so too
_DOWNLOADS: Mapping[str, tuple[Literal["markdown", "html"], str]] = {
    "md": ("markdown", "text/markdown; charset=utf-8"),
    "html": ("html", "text/html; charset=utf-8"),
}
_CARD_SECTIONS = (  # (field, heading) in a model card's order (Mitchell et al. 2019)
    ("model_details", "Model details"),
    ("intended_use", "Intended use"),
    ("factors", "Factors"),
    ("metrics_notes", "Metrics"),
    ("evaluation_data", "Evaluation data"),
    ("training_data", "Training data"),
    ("training_configuration", "Training configuration"),
    ("ethical_considerations", "Ethical considerations"),
    ("caveats", "Caveats and recommendations"),
)
_HEADINGS = dict(_CARD_SECTIONS)
_CARD_META_KEYS = frozenset({"type", "schema_version"})


def version_path(project: str, name: str, version: int) -> str:
    return f"/projects/{quote(project, safe='')}/models/{quote(name, safe='')}/versions/{version}"


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


# -- views of free-form records ---------------------------------------------------------------


@dataclass(frozen=True)
class SchemaView:
    """One side of a signature (inputs or outputs) as table rows."""

    title: str
    kind: str
    columns: list[dict[str, str]]


def signature_view(signature: Mapping[str, Any] | None) -> list[SchemaView] | None:
    """The signature's column tables, or None when it is not in the known shape."""
    if not signature:
        return []
    views = []
    for side in ("inputs", "outputs"):
        schema = signature.get(side)
        if schema is None:
            continue
        if not isinstance(schema, Mapping) or not isinstance(schema.get("columns"), list):
            return None
        rows = []
        for column in schema["columns"]:
            if not isinstance(column, Mapping):
                return None
            shape = column.get("shape")
            rows.append(
                {
                    "name": "—" if column.get("name") is None else _text(column.get("name")),
                    "dtype": _text(column.get("dtype", "")),
                    "shape": "—" if shape is None else _text(shape),
                    "nullable": "yes" if column.get("nullable") else "no",
                }
            )
        views.append(SchemaView(side.capitalize(), _text(schema.get("kind", "")), rows))
    return views


def dataset_refs(version: ModelVersion) -> list[list[tuple[str, str]]]:
    """Each dataset reference of the version as (key, value) pairs."""
    return [[(str(k), _text(v)) for k, v in ref.items()] for ref in version.datasets]


@dataclass(frozen=True)
class RawSection:
    """One entry of a stored card that is not a valid ``ModelCard``, shown as text or JSON."""

    title: str
    text: str
    is_json: bool


def raw_card_sections(card: Mapping[str, Any]) -> list[RawSection]:
    """The non-empty entries of an unreadable stored card, in a model card's order."""
    rank = {key: index for index, (key, _) in enumerate(_CARD_SECTIONS)}
    found = []
    for key, value in sorted(card.items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0])):
        if key in _CARD_META_KEYS or value in ("", None, [], {}):
            continue
        title = _HEADINGS.get(key) or str(key).replace("_", " ").strip().capitalize() or "?"
        found.append(RawSection(title, _text(value), not isinstance(value, str)))
    return found


@dataclass(frozen=True)
class CardSectionView:
    """One section of a model card: its paragraphs, a table, or a placeholder when empty."""

    key: str
    heading: str
    paragraphs: tuple[str, ...] = ()
    columns: tuple[str, str] | None = None
    rows: tuple[tuple[str, str], ...] = ()
    placeholder: str = ""


def card_view(card: ModelCard) -> list[CardSectionView]:
    """Every section of the card in order; an empty one says what belongs there."""
    views = []
    for key, heading in _CARD_SECTIONS:
        text = getattr(card, key) if key in EDITABLE_SECTIONS else ""
        paragraphs = tuple(p.strip("\n") for p in re.split(r"\n\s*\n", text) if p.strip())
        table = card_section_table(card, key)
        rows = tuple(table[1]) if table else ()
        placeholder = ""
        if not paragraphs and not rows:
            placeholder = "Not documented yet." if key in EDITABLE_SECTIONS else "None recorded."
        columns = table[0] if table and rows else None
        views.append(CardSectionView(key, heading, paragraphs, columns, rows, placeholder))
    return views


@dataclass(frozen=True)
class CardState:
    """The card a version page shows: ``source`` is ``stored``, ``prefilled`` or ``invalid``
    (a stored card that is not a valid ``ModelCard``: ``problem`` says why)."""

    source: str
    sections: list[CardSectionView] = field(default_factory=list)
    raw: list[RawSection] = field(default_factory=list)
    problem: str = ""
    texts: dict[str, str] = field(default_factory=dict)  # what the edit form starts from


def card_state(page: Page, found: ModelVersion) -> CardState:
    editable = [key for key, _ in _CARD_SECTIONS if key in EDITABLE_SECTIONS]
    if found.model_card:
        try:
            card = ModelCard.from_dict(found.model_card)
        except InvalidArgument as exc:
            stored = found.model_card
            texts = {k: v for k in editable if isinstance(v := stored.get(k, ""), str)}
            raw = raw_card_sections(stored)
            return CardState("invalid", raw=raw, problem=exc.message, texts=texts)
        source = "stored"
    else:
        card, source = prefill_model_card(page.platform, page.actor, found), "prefilled"
    texts = {key: getattr(card, key) for key in editable}
    return CardState(source, sections=card_view(card), texts=texts)


# -- pages ------------------------------------------------------------------------------------


def _version_page(
    page: Page,
    project: str,
    name: str,
    version: int,
    *,
    status: int = 200,
    error: str | None = None,
    card_form: dict[str, str] | None = None,
) -> Response:
    found = get_model_version(page.platform, page.actor, project, name, version)
    run_name = None
    if found.source_run_id:
        try:
            run_name = get_run(page.platform, page.actor, found.source_run_id).name
        except (NotFound, PermissionDenied, InvalidArgument):
            run_name = None  # the run is gone or elsewhere: the id is still the lineage
    scan = dict(found.scan)
    globals_found = scan.pop("globals", None)
    scan_status = _text(scan.pop("status", "not_scanned"))
    role = my_role(page.platform, page.actor, project)
    card = card_state(page, found)
    models_base = f"/projects/{quote(project, safe='')}/models"
    return render(
        page,
        "registry_version.html",
        status=status,
        active="models",
        error=error,
        project=project,
        model_version=found,  # not "version": the frame shows mlsteward's own
        run_name=run_name,
        signature=signature_view(found.signature),
        signature_json=_text(found.signature),
        metrics=sorted(found.metrics.items()),
        scan_status=scan_status,
        scan_globals=[_text(g) for g in globals_found] if isinstance(globals_found, list) else [],
        scan_other=sorted((k, _text(v)) for k, v in scan.items()),
        package=found.package,
        card=card,
        card_form={**card.texts, **(card_form or {})},
        editable_sections=[(k, h) for k, h in _CARD_SECTIONS if k in EDITABLE_SECTIONS],
        max_section_length=MAX_SECTION_LENGTH,
        can_edit=role is not None and role >= Role.EDITOR,
        datasets=dataset_refs(found),
        base=f"{models_base}/{quote(name, safe='')}",
        here=version_path(project, name, version),
        models_base=models_base,
    )


@router.get("/projects/{project}/models/{name}/versions/{version}")
def version_page(page: Viewer, project: str, name: str, version: int) -> Response:
    return _version_page(page, project, name, version)


@router.get("/projects/{project}/models/{name}/versions/{version}/model-card.{suffix}")
def model_card_download(
    page: Viewer, project: str, name: str, version: int, suffix: str
) -> Response:
    """The version's card as a Markdown or standalone HTML file (viewers)."""
    if suffix not in _DOWNLOADS:
        raise NotFound(f"a model card downloads as .md or .html, not .{suffix[:20]}")
    kind, media_type = _DOWNLOADS[suffix]
    text = model_card(page.platform, page.actor, project, name, version, format=kind)
    filename = re.sub(r"[^A-Za-z0-9._-]", "_", f"{name}-{version}-model-card.{suffix}")
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    if kind == "html":
        headers["Content-Security-Policy"] = CARD_DOWNLOAD_CSP  # replaces the UI's own policy
    return Response(text, media_type=media_type, headers=headers)


@router.post("/projects/{project}/models/{name}/versions/{version}/model-card")
def model_card_edit(
    page: Writer,
    project: str,
    name: str,
    version: int,
    intended_use: FormSection = None,
    factors: FormSection = None,
    metrics_notes: FormSection = None,
    evaluation_data: FormSection = None,
    training_data: FormSection = None,
    ethical_considerations: FormSection = None,
    caveats: FormSection = None,
) -> Response:
    """Save the human sections sent (editors); a section left out of the form is kept."""
    sent = {
        "intended_use": intended_use,
        "factors": factors,
        "metrics_notes": metrics_notes,
        "evaluation_data": evaluation_data,
        "training_data": training_data,
        "ethical_considerations": ethical_considerations,
        "caveats": caveats,
    }
    # Browsers send a textarea's line breaks as CRLF; the card keeps plain newlines.
    sections = {k: v.replace("\r\n", "\n") for k, v in sent.items() if v is not None}
    try:
        update_model_card(page.platform, page.actor, project, name, version, sections)
    except StewardError as exc:
        if isinstance(exc, NotFound):
            raise  # no such version: the error page, not a form to retry
        return _version_page(
            page,
            project,
            name,
            version,
            status=status_for(exc),
            error=exc.message,
            card_form=sections,
        )
    flash(page.request, f"Saved the model card of version {version}.")
    return RedirectResponse(version_path(project, name, version), status_code=303)
