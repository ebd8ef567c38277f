"""Model cards for registry versions: the stored form, prefill from tracked facts, and export
as Markdown or as a standalone HTML page."""

from __future__ import annotations

import dataclasses
import html
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from .._wire import canonical_size, iso
from ..errors import Conflict, InvalidArgument, NotFound, PermissionDenied
from ..security import Actor
from ._model import ModelVersion
from ._models import get_model_version, set_model_card

if TYPE_CHECKING:
    from ..platform import Platform
    from ..tracking import Run

CARD_TYPE = "mlsteward.model_card"
CARD_SCHEMA_VERSION = 1
MAX_TEXT_LENGTH = 20_000
MAX_CARD_BYTES = 200_000  # the most ``set_model_card`` stores
MAX_ENTRIES = 1_000
MAX_KEY_LENGTH = 250
MAX_CONFIG_VALUE_LENGTH = 6_000
# Prefill keeps tracked facts within these byte budgets, so a prefilled card can be stored.
_METRICS_BUDGET = 50_000
_CONFIG_BUDGET = 80_000
_DATASETS_CHARS = 10_000
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

_TODO = "Not documented yet: "
_SECTIONS = (  # (card field, heading, text shown while empty), in the order of a card
    ("model_details", "Model details", ""),
    ("intended_use", "Intended use", _TODO + "the primary uses and users; uses out of scope."),
    ("factors", "Factors", _TODO + "groups, instruments, environments that affect results."),
    ("metrics_notes", "Metrics", "No metrics recorded."),
    ("evaluation_data", "Evaluation data", _TODO + "the data the metrics were computed on."),
    ("training_data", "Training data", _TODO + "the data the model was trained on."),
    ("training_configuration", "Training configuration", "No parameters recorded."),
    ("ethical_considerations", "Ethical considerations", _TODO + "sensitive data, risks, harms."),
    ("caveats", "Caveats and recommendations", _TODO + "known limitations, advice to users."),
)
TEXT_SECTIONS = tuple(
    f for f, _, _ in _SECTIONS if f not in ("model_details", "training_configuration")
)
_DETAIL_LIMITS = {
    "name": 200,
    "flavor": 64,
    "created_at": 64,
    "created_by": 200,
    "source_run_id": 200,
    "source_uri": 2_000,
    "signature": 2_000,
    "python_version": 64,
    "git_commit": 64,
}


def _error(field_name: str, problem: str) -> InvalidArgument:
    return InvalidArgument(
        f"model card field {field_name!r} {problem}"[:500], details={"field": field_name}
    )


def _check_str(field_name: str, value: object, limit: int, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str):
        raise _error(field_name, f"must be a string, not {type(value).__name__}")
    if len(value) > limit or "\x00" in value:
        raise _error(field_name, f"must be at most {limit} characters without NUL")


def _valid_key(key: object) -> bool:
    return isinstance(key, str) and 0 < len(key) <= MAX_KEY_LENGTH and not _CONTROL.search(key)


def _check_entries(field_name: str, entries: object, *, metrics: bool) -> None:
    if not isinstance(entries, dict) or len(entries) > MAX_ENTRIES:
        raise _error(field_name, f"must be a mapping of at most {MAX_ENTRIES} entries")
    for key, value in entries.items():
        if not _valid_key(key):
            raise _error(field_name, f"has a bad key {str(key)[:60]!r}: use 1-250 characters")
        if metrics and (isinstance(value, bool) or not isinstance(value, float)):
            raise _error(f"{field_name}.{key}", "must be a number")
        if not metrics:
            _check_str(f"{field_name}.{key}", value, MAX_CONFIG_VALUE_LENGTH)


@dataclass(frozen=True)
class ModelDetails:
    """What the registry knows about the version; None where a fact was not recorded.

    Text fields are limited in length (``InvalidArgument`` beyond); ``created_at`` is ISO 8601.
    """

    name: str
    version: int
    flavor: str = ""
    created_at: str = ""
    created_by: str = ""
    source_run_id: str | None = None
    source_uri: str = ""
    signature: str = ""  # a one-line summary of the signature's inputs and outputs
    python_version: str | None = None
    git_commit: str | None = None
    git_dirty: bool | None = None

    def __post_init__(self) -> None:
        for name, limit in _DETAIL_LIMITS.items():
            optional = name in ("source_run_id", "python_version", "git_commit")
            _check_str(f"model_details.{name}", getattr(self, name), limit, optional=optional)
        if type(self.version) is not int or not 0 < self.version < 2**31:
            raise _error("model_details.version", "must be a positive integer")
        if self.git_dirty is not None and type(self.git_dirty) is not bool:
            raise _error("model_details.git_dirty", "must be true, false or null")


@dataclass(frozen=True)
class ModelCard:
    """A model card (Mitchell et al. 2019): human sections as text (Markdown allowed, never
    rendered as HTML), metrics as name -> value (NaN and infinities allowed), the source run's
    parameters as ``training_configuration``. Raises ``InvalidArgument`` naming the field for a
    wrong type, a text over ``MAX_TEXT_LENGTH`` or a card over ``MAX_CARD_BYTES`` as JSON."""

    model_details: ModelDetails
    intended_use: str = ""
    factors: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    metrics_notes: str = ""
    evaluation_data: str = ""
    training_data: str = ""
    training_configuration: dict[str, str] = field(default_factory=dict)
    ethical_considerations: str = ""
    caveats: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.model_details, ModelDetails):
            raise _error("model_details", "must be a ModelDetails")
        for name in TEXT_SECTIONS:
            _check_str(name, getattr(self, name), MAX_TEXT_LENGTH)
        _check_entries("metrics", self.metrics, metrics=True)
        _check_entries("training_configuration", self.training_configuration, metrics=False)
        size = canonical_size(self.to_dict())
        if size > MAX_CARD_BYTES:
            raise InvalidArgument(
                f"the model card is {size} bytes as JSON; the limit is {MAX_CARD_BYTES}: "
                "shorten its text sections",
                details={"limit": MAX_CARD_BYTES},
            )

    def to_dict(self) -> dict[str, Any]:
        """The stored JSON form: type tag, ``schema_version``, sorted entries; non-finite
        metrics as the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``."""
        body = dataclasses.asdict(self)
        body["metrics"] = {k: _json_float(v) for k, v in sorted(self.metrics.items())}
        body["training_configuration"] = dict(sorted(self.training_configuration.items()))
        return {"type": CARD_TYPE, "schema_version": CARD_SCHEMA_VERSION, **body}

    @classmethod
    def from_dict(cls, data: Any) -> ModelCard:
        """Read ``to_dict``'s output (sections left out are empty). ``InvalidArgument`` naming
        the field for an unknown type tag, ``schema_version`` or key, or a bad value."""
        if not isinstance(data, Mapping):
            raise InvalidArgument("a model card is a JSON object")
        body = dict(data)
        if body.pop("type", None) != CARD_TYPE:
            raise _error("type", f"must be {CARD_TYPE!r}")
        version = body.pop("schema_version", None)
        if type(version) is not int or version != CARD_SCHEMA_VERSION:
            raise _error(
                "schema_version",
                f"must be {CARD_SCHEMA_VERSION}, not {version!r}: upgrade mlsteward",
            )
        _refuse_unknown("", body, {f.name for f in dataclasses.fields(cls)})
        details = body.pop("model_details", None)
        if not isinstance(details, Mapping) or not {"name", "version"} <= set(details):
            raise _error("model_details", "must be an object with the model's name and version")
        _refuse_unknown("model_details.", details, set(_DETAIL_LIMITS) | {"version", "git_dirty"})
        metrics = body.pop("metrics", {})
        if not isinstance(metrics, Mapping):
            raise _error("metrics", "must be an object of metric names to numbers")
        values: dict[str, float] = {}
        for key, value in metrics.items():
            try:
                values[key] = _float_from_json(value)
            except (TypeError, OverflowError):
                raise _error(f"metrics.{str(key)[:60]}", "must be a number") from None
        config = body.pop("training_configuration", {})
        if not isinstance(config, Mapping):
            raise _error("training_configuration", "must be an object of names to strings")
        return cls(
            ModelDetails(**details), metrics=values, training_configuration=dict(config), **body
        )


def _refuse_unknown(prefix: str, body: Mapping[Any, Any], known: set[str]) -> None:
    unknown = sorted(str(key) for key in body if key not in known)
    if unknown:
        raise _error(f"{prefix}{unknown[0][:60]}", "is not a known field")


def _json_float(value: float) -> float | str:
    """JSON has no NaN or infinities: they travel as the strings ``float()`` reads."""
    if math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"


def _float_from_json(value: Any) -> float:
    if value in ("NaN", "Infinity", "-Infinity") or type(value) in (int, float):
        return float(value)
    raise TypeError(value)


def check_model_card(card: Any) -> dict[str, Any]:
    """The normalised stored form of a model card given as a dict (what ``set_model_card``
    should store); ``InvalidArgument`` naming the field when it is not a valid card."""
    return ModelCard.from_dict(card).to_dict()


def _within_budget(entries: Mapping[str, Any], budget: int) -> tuple[dict[str, Any], int]:
    """The first entries by name that fit ``budget`` bytes of JSON, and how many were left out."""
    kept: dict[str, Any] = {}
    used = 0
    for key, value in sorted(entries.items()):
        used += canonical_size([key, _json_float(value) if isinstance(value, float) else value])
        if used > budget or len(kept) == MAX_ENTRIES:
            break
        kept[key] = value
    return kept, len(entries) - len(kept)


def _signature_summary(signature: Mapping[str, Any] | None) -> str:
    if not signature:
        return ""
    parts = []
    for side in ("inputs", "outputs"):
        schema = signature.get(side)
        columns = schema.get("columns") if isinstance(schema, Mapping) else None
        if not isinstance(schema, Mapping) or not isinstance(columns, list):
            continue
        named = [
            f"{c.get('name') or '(unnamed)'}: {c.get('dtype', '?')}"
            + (f"{list(c['shape'])}" if isinstance(c.get("shape"), list) else "")
            for c in columns[:10]
            if isinstance(c, Mapping)
        ]
        more = f", and {len(columns) - 10} more" if len(columns) > 10 else ""
        kind = str(schema.get("kind", "schema"))
        parts.append(f"{side}: {kind} of {len(columns)} ({', '.join(named)}{more})")
    return ("; ".join(parts) or "recorded, in a form not summarised here")[:2_000]


def _plain(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def _source_run(platform: Platform, actor: Actor, run_id: str | None) -> Run | None:
    """The version's source run, or None when it is gone or out of the actor's reach."""
    if not run_id:
        return None
    from ..tracking import get_run

    try:
        return get_run(platform, actor, run_id)
    except (NotFound, PermissionDenied, InvalidArgument):
        return None


def prefill_model_card(platform: Platform, actor: Actor, version: ModelVersion) -> ModelCard:
    """A card filled from tracked facts: model details, the metrics snapshot over the source
    run's latest metrics, dataset references, the run's parameters and environment. The human
    sections stay empty (renderers show a placeholder). A missing, deleted or unreadable run
    leaves its facts out; never raises for a missing fact."""
    run = _source_run(platform, actor, version.source_run_id)
    metrics = dict(run.metrics) if run is not None else {}
    metrics.update(version.metrics)  # the registered snapshot wins over the run's values
    metrics = {k: v for k, v in metrics.items() if _valid_key(k)}
    kept_metrics, metrics_left = _within_budget(metrics, _METRICS_BUDGET)
    params = dict(run.params) if run is not None else {}
    kept_params, params_left = _within_budget(params, _CONFIG_BUDGET)
    notes = [f"Snapshot registered with version {version.version}."] if version.metrics else []
    if run is not None and run.metrics:
        notes.append(f"Other values are the latest logged by run {run.id}.")
    if metrics_left:
        notes.append(f"{metrics_left} more metrics are not listed here.")
    datasets = sorted(
        "- " + ", ".join(f"{k}: {_plain(v)}" for k, v in sorted(ref.items(), key=str))
        for ref in version.datasets
    )
    training_data = "\n".join(datasets)[:_DATASETS_CHARS]
    if params_left:
        training_data += f"\n\n{params_left} more parameters of run {version.source_run_id} "
        training_data += "are not listed under training configuration."
    environment = run.environment if run is not None else None
    environment = environment if isinstance(environment, Mapping) else {}
    git = environment.get("git")
    git = git if isinstance(git, Mapping) else {}
    python, commit, dirty = environment.get("python"), git.get("commit"), git.get("dirty")
    details = ModelDetails(
        name=version.model_name,
        version=version.version,
        flavor=version.flavor,
        created_at=iso(version.created_at) or "",
        created_by=version.created_by[:200],
        source_run_id=version.source_run_id[:200] if version.source_run_id else None,
        source_uri=version.source_uri,
        signature=_signature_summary(version.signature),
        python_version=python[:64] if isinstance(python, str) else None,
        git_commit=commit[:64] if isinstance(commit, str) else None,
        git_dirty=dirty if isinstance(dirty, bool) else None,
    )
    return ModelCard(
        details,
        metrics=kept_metrics,
        metrics_notes=" ".join(notes),
        training_data=training_data.strip(),
        training_configuration=kept_params,
    )


_Table = tuple[tuple[str, str], list[tuple[str, str]]]


def _number(value: float) -> str:
    text = _json_float(value)
    return text if isinstance(text, str) else repr(value)


def card_section_table(card: ModelCard, section: str) -> _Table | None:
    """The section's table (headers, rows sorted by name), if it has one."""
    d = card.model_details
    if section == "metrics_notes":
        return ("Metric", "Value"), [(k, _number(v)) for k, v in sorted(card.metrics.items())]
    if section == "training_configuration":
        return ("Parameter", "Value"), sorted(card.training_configuration.items())
    if section != "model_details":
        return None
    dirty = {None: None, True: "yes", False: "no"}[d.git_dirty]
    facts = [
        ("Name", d.name),
        ("Version", str(d.version)),
        ("Flavor", d.flavor),
        ("Created at", d.created_at),
        ("Created by", d.created_by),
        ("Source run", d.source_run_id),
        ("Source URI", d.source_uri),
        ("Signature", d.signature),
        ("Python", d.python_version),
        ("Git commit", d.git_commit),
        ("Uncommitted changes", dirty),
    ]
    return ("Fact", "Value"), [(k, v or "not recorded") for k, v in facts]


def _sections(card: ModelCard) -> list[tuple[str, str, str, _Table | None]]:
    """(heading, text, placeholder or "", table) per section; the placeholder only when the
    section has neither text nor table rows."""
    found = []
    for section, heading, placeholder in _SECTIONS:
        text = getattr(card, section) if section in TEXT_SECTIONS else ""
        table = card_section_table(card, section)
        rows = table is not None and bool(table[1])
        found.append((heading, text.strip(), "" if text.strip() or rows else placeholder, table))
    return found


def _md_cell(text: str) -> str:
    return " ".join(text.split()).replace("\\", "\\\\").replace("|", "\\|")


def render_markdown(card: ModelCard) -> str:
    """The card as Markdown: one ``##`` heading per section, section text as written, metrics
    and parameters as tables sorted by name."""
    d = card.model_details
    out = [f"# Model card: {_md_cell(d.name)} version {d.version}"]
    for heading, text, placeholder, table in _sections(card):
        out += ["", f"## {heading}", ""]
        out += [text] if text else [f"_{placeholder}_"] if placeholder else []
        if table and table[1]:
            out += [""] if text else []
            out += [f"| {table[0][0]} | {table[0][1]} |", "| --- | --- |"]
            out += [f"| {_md_cell(k)} | {_md_cell(v)} |" for k, v in table[1]]
    return "\n".join(out) + "\n"


_CSS = """\
body{font-family:system-ui,sans-serif;max-width:56rem;margin:2rem auto;padding:0 1rem;
color:#1a1a1a;line-height:1.5}
h2{font-size:1.2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
p.text{white-space:pre-wrap}p.placeholder{color:#777;font-style:italic}
table{border-collapse:collapse}th,td{border:1px solid #ddd;padding:.25rem .6rem;
text-align:left;vertical-align:top;overflow-wrap:anywhere}"""
_CSP = "default-src 'none'; style-src 'unsafe-inline'"


def render_html(card: ModelCard) -> str:
    """The card as a standalone HTML page (inline CSS; no script, no external asset). Every
    value is HTML-escaped; section text keeps its Markdown, shown as plain paragraphs."""
    e = html.escape
    title = f"Model card: {e(card.model_details.name)} version {card.model_details.version}"
    out = [
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        f"<title>{title}</title>\n<style>\n{_CSS}\n</style>\n</head>",
        f"<body>\n<main>\n<h1>{title}</h1>",
    ]
    for heading, text, placeholder, table in _sections(card):
        out += ["<section>", f"<h2>{e(heading)}</h2>"]
        paragraphs = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
        out += [f'<p class="text">{e(p)}</p>' for p in paragraphs]
        out += [f'<p class="placeholder">{e(placeholder)}</p>'] if placeholder else []
        if table and table[1]:
            out.append(f"<table>\n<thead><tr><th>{e(table[0][0])}</th><th>{e(table[0][1])}</th>")
            out.append("</tr></thead>\n<tbody>")
            out += [f"<tr><td>{e(k)}</td><td>{e(v)}</td></tr>" for k, v in table[1]]
            out.append("</tbody>\n</table>")
        out.append("</section>")
    out.append("</main>\n</body>\n</html>")
    return "\n".join(out) + "\n"


CardFormat = Literal["json", "markdown", "html"]


def model_card(
    platform: Platform,
    actor: Actor,
    project: str,
    name: str,
    version: int,
    *,
    format: CardFormat = "json",
) -> str:
    """A version's model card as JSON text, Markdown or HTML (viewers): the stored card, or
    one prefilled from tracked facts when none is stored. ``InvalidArgument`` for another
    format; ``NotFound`` for an unknown model or version; ``Conflict`` when the stored card is
    not valid (replace it with one ``check_model_card`` accepts)."""
    if format not in ("json", "markdown", "html"):
        raise InvalidArgument(f"format must be 'json', 'markdown' or 'html', not {format!r}")
    found = get_model_version(platform, actor, project, name, version)
    try:
        card = ModelCard.from_dict(found.model_card) if found.model_card else None
    except InvalidArgument as exc:
        raise Conflict(
            f"the model card stored with {found.uri} is not a valid {CARD_TYPE}: {exc.message}; "
            "replace it with one that check_model_card accepts",
            details={"field": exc.details.get("field")},
        ) from None
    card = card or prefill_model_card(platform, actor, found)
    if format == "markdown":
        return render_markdown(card)
    if format == "html":
        return render_html(card)
    return json.dumps(card.to_dict(), indent=2, ensure_ascii=False) + "\n"


EDITABLE_SECTIONS = frozenset(
    {
        "intended_use",
        "factors",
        "metrics_notes",
        "evaluation_data",
        "training_data",
        "ethical_considerations",
        "caveats",
    }
)


def update_model_card(
    platform: Platform,
    actor: Actor,
    project: str,
    name: str,
    version: int,
    sections: Mapping[str, str],
) -> ModelCard:
    """Write the human sections of a version's card (editors): ``sections`` maps any of
    ``EDITABLE_SECTIONS`` to text; the rest comes from the stored card, or from tracked facts
    when none is stored yet. Returns the stored card."""
    unknown = sorted(set(sections) - EDITABLE_SECTIONS)
    if unknown:
        raise InvalidArgument(
            f"unknown model card sections {unknown}: write {sorted(EDITABLE_SECTIONS)}",
            details={"field": unknown[0]},
        )
    found = get_model_version(platform, actor, project, name, version)
    try:
        current = ModelCard.from_dict(found.model_card) if found.model_card else None
    except InvalidArgument:
        current = None  # an unreadable stored card is replaced by a fresh one
    base = current or prefill_model_card(platform, actor, found)
    card = ModelCard.from_dict({**base.to_dict(), **dict(sections)})  # checks the texts
    set_model_card(platform, actor, project, name, version, card.to_dict())
    return card
