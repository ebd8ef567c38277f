"""``mlsteward models``: the model registry: models, versions, aliases, promotion requests
(four-eyes approval), alias policies, webhooks and model cards.

Like every command, these act as the local operator (``local-admin``). Four eyes still hold:
the operator cannot approve a request the operator made.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ._output import (
    emit_json,
    format_time,
    print_error,
    print_message,
    print_success,
    print_table,
    print_warning,
)

if TYPE_CHECKING:
    from ..registry import ModelVersion, PromotionRequest

models_app = typer.Typer(
    name="models",
    help="The model registry: models, versions, aliases, promotions, alias policies, webhooks "
    "and model cards.",
    no_args_is_help=True,
)
alias_app = typer.Typer(name="alias", help="Point aliases at versions.", no_args_is_help=True)
promote_app = typer.Typer(
    name="promote",
    help="Promotion requests: request, approve (four eyes), reject, cancel, apply, list.",
    no_args_is_help=True,
)
policy_app = typer.Typer(
    name="policy", help="The conditions a version needs to take an alias.", no_args_is_help=True
)
models_app.add_typer(alias_app, name="alias")
models_app.add_typer(promote_app, name="promote")
webhook_app = typer.Typer(
    name="webhook",
    help="Registry webhooks: subscriptions, their deliveries, and hosts allowed past the "
    "address guard.",
    no_args_is_help=True,
)
models_app.add_typer(policy_app, name="policy")
models_app.add_typer(webhook_app, name="webhook")

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON to stdout.")]
ProjectOption = Annotated[str, typer.Option("--project", help="The model's project.")]
NameArg = Annotated[str, typer.Argument(help="Registered model name.")]
VersionArg = Annotated[int, typer.Argument(help="Version number.")]
AliasArg = Annotated[str, typer.Argument(help="Alias, e.g. production.")]
RequestArg = Annotated[str, typer.Argument(help="Promotion request id.")]
ModelOption = Annotated[
    str | None,
    typer.Option("--model", help="One model's policy (default: the project's default policy)."),
]
WebhookArg = Annotated[str, typer.Argument(help="Webhook id (see `models webhook list`).")]
HostArg = Annotated[
    str, typer.Argument(help="Host name or IP address, e.g. hooks.internal or 10.0.0.5.")
]
_OPEN = ("PENDING", "APPROVED")
_MAX_SHOWN_COLUMNS = 10


@contextlib.contextmanager
def _policy_refusals() -> Iterator[None]:
    """A ``PolicyNotMet`` prints every unmet condition on its own line, then exits with 1."""
    from ..errors import PolicyNotMet

    try:
        yield
    except PolicyNotMet as exc:
        unmet = exc.details.get("unmet") or []
        alias = exc.details.get("alias", "the alias")
        print_error(f"the policy of @{alias} refuses the move: {len(unmet)} unmet condition(s)")
        for entry in unmet:
            print_message(f"  - {entry.get('condition')}: {entry.get('message')}")
        raise typer.Exit(1) from None


def _number(value: float) -> str:
    return f"{value:g}"


def _metrics_text(metrics: Mapping[str, float]) -> str:
    return ", ".join(f"{k}={_number(v)}" for k, v in sorted(metrics.items()))


def _schema_text(schema: object) -> str:
    """``table: a (float64), b (int64)`` from a signature's inputs or outputs (any shape:
    the record comes from clients)."""
    if not isinstance(schema, Mapping):
        return "none"
    columns = schema.get("columns")
    columns = columns if isinstance(columns, list) else []
    shown = []
    for column in columns[:_MAX_SHOWN_COLUMNS]:
        if isinstance(column, Mapping):
            shown.append(f"{column.get('name') or '?'} ({column.get('dtype') or '?'})")
    more = len(columns) - len(shown)
    text = f"{schema.get('kind') or '?'}, {len(columns)} column(s)"
    if shown:
        text += ": " + ", ".join(shown) + (f", … {more} more" if more > 0 else "")
    return text


def signature_summary(signature: Mapping[str, Any] | None) -> str:
    """One line per side of a signature, or ``none``."""
    if not signature:
        return "none"
    return (
        f"inputs {_schema_text(signature.get('inputs'))}; "
        f"outputs {_schema_text(signature.get('outputs'))}"
    )


def _package_text(package: Mapping[str, Any] | None) -> str:
    if not package:
        return "none"
    signed = f"signed by {package['key_id']}" if package.get("key_id") else "unsigned"
    verified = "verified" if package.get("verified") else "not verified"
    return f"{signed}, {verified}"


def _scan_text(scan: Mapping[str, Any]) -> str:
    status = str(scan.get("status", "not_scanned"))
    found = scan.get("globals")
    if isinstance(found, list) and found:
        return f"{status} (imports {', '.join(str(g) for g in found[:5])})"
    return status


def _version_row(version: ModelVersion) -> list[object]:
    return [
        version.version,
        format_time(version.created_at),
        version.created_by,
        version.flavor,
        ", ".join(f"@{a}" for a in version.aliases),
        _scan_text(version.scan),
        _metrics_text(version.metrics),
    ]


_VERSION_COLUMNS = ["version", "created (UTC)", "by", "flavor", "aliases", "scan", "metrics"]


def _request_row(request: PromotionRequest) -> list[object]:
    return [
        request.id,
        request.version,
        f"@{request.alias}",
        request.status.value,
        request.requested_by,
        format_time(request.requested_at),
        request.decided_by,
        request.comment,
    ]


_REQUEST_COLUMNS = [
    "request",
    "version",
    "alias",
    "status",
    "by",
    "at (UTC)",
    "decided by",
    "comment",
]


def _print_version(version: ModelVersion) -> None:
    rows: list[tuple[str, object]] = [
        ("uri", version.uri),
        ("source", version.source_uri),
        ("source run", version.source_run_id or ""),
        ("flavor", version.flavor),
        ("created (UTC)", f"{format_time(version.created_at)} by {version.created_by}"),
        ("aliases", ", ".join(f"@{a}" for a in version.aliases)),
        ("files", ", ".join(f"{f.path} ({f.size} B)" for f in version.files)),
        ("signature", signature_summary(version.signature)),
        ("metrics", _metrics_text(version.metrics)),
        ("scan", _scan_text(version.scan)),
        ("package", _package_text(version.package)),
        ("description", version.description),
    ]
    print_table(["field", "value"], rows, title=f"{version.model_name} version {version.version}")


@models_app.command("list")
def list_(project: ProjectOption = "default", json_output: JsonOption = False) -> None:
    """List a project's registered models by name."""
    from ..registry import list_registered_models
    from ._local import local_platform, operator

    with local_platform() as platform:
        models = list_registered_models(platform, operator(), project)
    if json_output:
        emit_json([m.to_json() for m in models])
        return
    print_table(
        ["model", "latest", "aliases", "description", "updated (UTC)"],
        [
            [
                m.name,
                m.latest_version,
                ", ".join(f"@{a}={v}" for a, v in m.aliases.items()),
                m.description,
                format_time(m.updated_at),
            ]
            for m in models
        ],
        empty=f"no registered models in {project!r}",
    )


@models_app.command("show")
def show(
    name: NameArg, project: ProjectOption = "default", json_output: JsonOption = False
) -> None:
    """A model with its versions, aliases and open promotion requests."""
    from ..registry import get_registered_model, list_model_versions, list_promotion_requests
    from ._local import local_platform, operator

    with local_platform() as platform:
        model = get_registered_model(platform, operator(), project, name)
        versions = list_model_versions(platform, operator(), project, name)
        requests = list_promotion_requests(platform, operator(), project, name)
    open_requests = [r for r in requests if r.status.value in _OPEN]
    if json_output:
        emit_json(
            {
                **model.to_json(),
                "versions": [v.to_json() for v in versions],
                "open_requests": [r.to_json() for r in open_requests],
            }
        )
        return
    print_message(f"{model.name}: {model.description}" if model.description else model.name)
    aliases = ", ".join(f"@{a} → {v}" for a, v in model.aliases.items())
    print_message(f"aliases: {aliases or 'none'}")
    print_table(_VERSION_COLUMNS, [_version_row(v) for v in versions], title="versions")
    print_table(
        _REQUEST_COLUMNS,
        [_request_row(r) for r in open_requests],
        title="open promotion requests",
        empty="no open promotion requests",
    )


@models_app.command("versions")
def versions(
    name: NameArg, project: ProjectOption = "default", json_output: JsonOption = False
) -> None:
    """A model's versions, newest first."""
    from ..registry import list_model_versions
    from ._local import local_platform, operator

    with local_platform() as platform:
        found = list_model_versions(platform, operator(), project, name)
    if json_output:
        emit_json([v.to_json() for v in found])
        return
    print_table(_VERSION_COLUMNS, [_version_row(v) for v in found], empty=f"{name} has no versions")


@models_app.command("version")
def version(
    name: NameArg,
    number: VersionArg,
    project: ProjectOption = "default",
    json_output: JsonOption = False,
) -> None:
    """One version: source, files, signature summary, metrics, scan and package."""
    from ..registry import get_model_version
    from ._local import local_platform, operator

    with local_platform() as platform:
        found = get_model_version(platform, operator(), project, name, number)
    if json_output:
        emit_json(found.to_json())
    else:
        _print_version(found)


@models_app.command("resolve")
def resolve(
    uri: Annotated[str, typer.Argument(help="models:/NAME/VERSION or models:/NAME@ALIAS.")],
    project: ProjectOption = "default",
    json_output: JsonOption = False,
) -> None:
    """The version a model URI names now."""
    from ..registry import resolve_model_uri
    from ._local import local_platform, operator

    with local_platform() as platform:
        found = resolve_model_uri(platform, operator(), project, uri)
    if json_output:
        emit_json(found.to_json())
        return
    print_message(f"{uri} → {found.uri}")
    _print_version(found)


# -- aliases -------------------------------------------------------------------------------------


@alias_app.command("set")
def alias_set(
    name: NameArg,
    alias: AliasArg,
    number: VersionArg,
    project: ProjectOption = "default",
    json_output: JsonOption = False,
) -> None:
    """Point ALIAS at VERSION, if the alias's policy allows it without an approval."""
    from ..registry import set_alias
    from ._local import local_platform, operator

    with _policy_refusals(), local_platform() as platform:
        moved = set_alias(platform, operator(), project, name, alias, number)
    if json_output:
        emit_json(moved.to_json())
    else:
        print_success(f"@{alias} of {name!r} now points at version {moved.version}")


@alias_app.command("delete")
def alias_delete(
    name: NameArg,
    alias: AliasArg,
    project: ProjectOption = "default",
    json_output: JsonOption = False,
) -> None:
    """Remove ALIAS from the model (its history keeps the period that ends now)."""
    from ..registry import delete_alias
    from ._local import local_platform, operator

    with local_platform() as platform:
        delete_alias(platform, operator(), project, name, alias)
    if json_output:
        emit_json({"model": name, "alias": alias, "deleted": True})
    else:
        print_success(f"removed @{alias} from {name!r}")


@alias_app.command("history")
def alias_history(
    name: NameArg,
    alias: Annotated[str | None, typer.Option("--alias", help="Only this alias.")] = None,
    project: ProjectOption = "default",
    json_output: JsonOption = False,
) -> None:
    """Which version held each alias, from when to when, set and ended by whom."""
    from ..registry import alias_history_of
    from ._local import local_platform, operator

    with local_platform() as platform:
        periods = alias_history_of(platform, operator(), project, name, alias)
    if json_output:
        emit_json([p.to_json() for p in periods])
        return
    print_table(
        ["alias", "version", "from (UTC)", "to (UTC)", "set by", "ended by", "request"],
        [
            [
                f"@{p.alias}",
                p.version,
                format_time(p.valid_from),
                format_time(p.valid_to) or "now",
                p.set_by,
                p.ended_by,
                p.request_id,
            ]
            for p in periods
        ],
        empty=f"{name} has no alias history",
    )


# -- promotion requests --------------------------------------------------------------------------


def _emit_request(request: PromotionRequest, json_output: bool, message: str) -> None:
    if json_output:
        emit_json(request.to_json())
    else:
        print_success(message)


@promote_app.command("request")
def promote_request(
    name: NameArg,
    number: VersionArg,
    alias: AliasArg,
    comment: Annotated[str, typer.Option("--comment", help="Why this version.")] = "",
    project: ProjectOption = "default",
    json_output: JsonOption = False,
) -> None:
    """Ask for VERSION to take ALIAS; a maintainer other than you approves."""
    from ..registry import request_promotion
    from ._local import local_platform, operator

    with local_platform() as platform:
        request = request_promotion(platform, operator(), project, name, number, alias, comment)
    _emit_request(
        request,
        json_output,
        f"requested version {number} of {name!r} for @{alias} (request {request.id}); another "
        f"maintainer approves with `mlsteward models promote approve {request.id} --comment ...`",
    )


@promote_app.command("approve")
def promote_approve(
    request_id: RequestArg,
    comment: Annotated[str, typer.Option("--comment", help="Why you approve (required).")],
    project: ProjectOption = "default",
    json_output: JsonOption = False,
) -> None:
    """Approve a pending request (not your own: four eyes). The alias moves when every
    other condition of its policy holds; otherwise the unmet ones are listed."""
    from ..registry import approve_promotion
    from ._local import local_platform, operator

    with local_platform() as platform:
        request, unmet = approve_promotion(platform, operator(), project, request_id, comment)
    if json_output:
        emit_json({**request.to_json(), "unmet": unmet})
        return
    if not unmet:
        print_success(
            f"approved: @{request.alias} of {request.model_name!r} now points at version "
            f"{request.version}"
        )
        return
    print_warning(f"approved, but @{request.alias} did not move: {len(unmet)} condition(s) unmet")
    for entry in unmet:
        print_message(f"  - {entry['condition']}: {entry['message']}")
    print_message(f"fix them, then `mlsteward models promote apply {request.id}`")


@promote_app.command("apply")
def promote_apply(
    request_id: RequestArg, project: ProjectOption = "default", json_output: JsonOption = False
) -> None:
    """Move the alias of an approved request once its policy holds."""
    from ..registry import apply_promotion
    from ._local import local_platform, operator

    with _policy_refusals(), local_platform() as platform:
        request = apply_promotion(platform, operator(), project, request_id)
    _emit_request(
        request,
        json_output,
        f"@{request.alias} of {request.model_name!r} now points at version {request.version}",
    )


@promote_app.command("reject")
def promote_reject(
    request_id: RequestArg,
    comment: Annotated[str, typer.Option("--comment", help="Why you reject (required).")],
    project: ProjectOption = "default",
    json_output: JsonOption = False,
) -> None:
    """Reject an open request."""
    from ..registry import reject_promotion
    from ._local import local_platform, operator

    with local_platform() as platform:
        request = reject_promotion(platform, operator(), project, request_id, comment)
    _emit_request(request, json_output, f"rejected request {request.id}")


@promote_app.command("cancel")
def promote_cancel(
    request_id: RequestArg, project: ProjectOption = "default", json_output: JsonOption = False
) -> None:
    """Withdraw your own open request."""
    from ..registry import cancel_promotion
    from ._local import local_platform, operator

    with local_platform() as platform:
        request = cancel_promotion(platform, operator(), project, request_id)
    _emit_request(request, json_output, f"cancelled request {request.id}")


@promote_app.command("list")
def promote_list(
    name: NameArg,
    status: Annotated[
        str | None,
        typer.Option(
            "--status", help="Only PENDING, APPROVED, APPLIED, REJECTED or CANCELLED (any case)."
        ),
    ] = None,
    project: ProjectOption = "default",
    json_output: JsonOption = False,
) -> None:
    """A model's promotion requests, newest first."""
    from ..errors import InvalidArgument
    from ..registry import RequestStatus, list_promotion_requests
    from ._local import local_platform, operator

    wanted = None
    if status is not None:
        try:
            wanted = RequestStatus(status.upper())
        except ValueError:
            known = ", ".join(s.value for s in RequestStatus)
            raise InvalidArgument(f"--status must be one of {known}, not {status!r}") from None
    with local_platform() as platform:
        requests = list_promotion_requests(platform, operator(), project, name, status=wanted)
    if json_output:
        emit_json([r.to_json() for r in requests])
        return
    print_table(
        _REQUEST_COLUMNS,
        [_request_row(r) for r in requests],
        empty=f"{name} has no promotion requests" + (f" {wanted.value}" if wanted else ""),
    )


# -- alias policies ------------------------------------------------------------------------------


def _scalar(text: str) -> Any:
    """A condition parameter: a number when it reads as one, else the text."""
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() and text.lstrip("+-").isdigit() else number


def parse_condition(spec: str) -> dict[str, Any]:
    """``TYPE`` or ``TYPE:key=value,key=value`` as ``{"type": TYPE, key: value, ...}``."""
    from ..errors import InvalidArgument

    kind, _, params = spec.partition(":")
    if not kind.strip():
        raise InvalidArgument(f"--condition {spec!r}: give a type, e.g. 'approval'")
    condition: dict[str, Any] = {"type": kind.strip()}
    for pair in filter(None, params.split(",")):
        key, sep, value = pair.partition("=")
        if not sep or not key.strip() or key.strip() == "type":
            raise InvalidArgument(
                f"--condition {spec!r}: parameters are key=value pairs separated by commas, "
                "e.g. 'metric_at_least:metric=auc,threshold=0.9'"
            )
        condition[key.strip()] = _scalar(value.strip())
    return condition


def _conditions_from_file(path: Path) -> list[dict[str, Any]]:
    from ..errors import InvalidArgument, NotFound

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotFound(f"no such file: {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidArgument(f"{path} is not a JSON policy: {exc}") from None
    if isinstance(data, dict):
        data = data.get("conditions")
    if not isinstance(data, list):
        raise InvalidArgument(
            f'{path} must hold a list of conditions or {{"conditions": [...]}}, e.g. '
            '[{"type": "approval"}]'
        )
    return data


def _print_policy(alias: str, model: str | None, conditions: Sequence[Mapping[str, Any]]) -> None:
    scope = f"model {model!r}" if model else "the project default"
    print_table(
        ["condition", "parameters"],
        [
            [c.get("type"), ", ".join(f"{k}={v}" for k, v in c.items() if k != "type")]
            for c in conditions
        ],
        title=f"@{alias} ({scope})",
        empty=f"@{alias} has no conditions ({scope})",
    )


@policy_app.command("get")
def policy_get(
    alias: AliasArg,
    model: ModelOption = None,
    project: ProjectOption = "default",
    json_output: JsonOption = False,
) -> None:
    """The conditions ALIAS needs (the model's own, else the project's default)."""
    from ..registry import get_alias_policy
    from ._local import local_platform, operator

    with local_platform() as platform:
        conditions = get_alias_policy(platform, operator(), project, alias, model=model)
    if json_output:
        emit_json({"alias": alias, "model": model, "conditions": conditions})
    else:
        _print_policy(alias, model, conditions)


@policy_app.command("set")
def policy_set(
    alias: AliasArg,
    condition: Annotated[
        list[str] | None,
        typer.Option(
            "--condition",
            help="TYPE[:key=value,...], e.g. approval or metric_at_least:metric=auc,"
            "threshold=0.9; repeat for several.",
        ),
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option("--file", help="A JSON file with the list of conditions ([] clears them)."),
    ] = None,
    model: ModelOption = None,
    project: ProjectOption = "default",
    json_output: JsonOption = False,
) -> None:
    """Replace the conditions ALIAS needs, for one model or the project's default."""
    from ..errors import InvalidArgument
    from ..registry import set_alias_policy
    from ._local import local_platform, operator

    if (condition is None) == (file is None):
        raise InvalidArgument("give --condition (repeatable) or --file, not both or neither")
    conditions = (
        _conditions_from_file(file) if file else [parse_condition(c) for c in condition or []]
    )
    with local_platform() as platform:
        stored = set_alias_policy(platform, operator(), project, alias, conditions, model=model)
    if json_output:
        emit_json({"alias": alias, "model": model, "conditions": stored})
        return
    print_success(f"set {len(stored)} condition(s) for @{alias}")
    _print_policy(alias, model, stored)


# Registered here so that importing this module gives the whole command group.
from . import _model_cards, _model_webhooks  # noqa: E402, F401
