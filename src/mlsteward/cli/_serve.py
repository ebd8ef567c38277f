"""``mlsteward serve``: the inference server for a package or a registered model version."""

from __future__ import annotations

import dataclasses
import enum
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ._extras import missing_extra
from ._output import print_message, print_success

if TYPE_CHECKING:
    from ..client import Client
    from ..platform import Platform
    from ..security import Actor
    from ..serving import ServedModel
    from ..serving._prediction_log import PredictionLogOptions
    from ..settings import Settings


class InputRangesChoice(enum.StrEnum):
    reject = "reject"
    off = "off"


class UnseenCategoriesChoice(enum.StrEnum):
    allow = "allow"
    reject = "reject"


InputRangesOption = Annotated[
    InputRangesChoice,
    typer.Option(
        "--input-ranges",
        help="reject: refuse values outside the training data's ranges (when the model carries "
        "its training profile); off: do not check.",
    ),
]
RangeToleranceOption = Annotated[
    float,
    typer.Option(
        "--range-tolerance",
        min=0,
        max=100,
        help="Widen each training min..max by this fraction of its span on each side.",
    ),
]
LogSampleRateOption = Annotated[
    float,
    typer.Option("--log-sample-rate", min=0, max=1, help="Share of rows kept in the row log."),
]
LogWindowOption = Annotated[
    float,
    typer.Option("--log-window", min=0.1, max=86400, help="Seconds per prediction-log window."),
]
"""Options ``mlsteward serve`` and ``mlsteward deploy create`` share."""

SourceArg = Annotated[
    str,
    typer.Argument(
        help="A package file (.mlsb), or a registered version: models:/NAME/VERSION or "
        "models:/NAME@ALIAS."
    ),
]


def serve(
    source: SourceArg,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port.")] = 8080,
    name: Annotated[
        str | None, typer.Option("--name", help="Serve the model under this name.")
    ] = None,
    trusted_key: Annotated[
        list[Path] | None,
        typer.Option(
            "--trusted-key",
            help="A package must be signed by this public key (PEM; repeat for several) "
            "instead of one the platform trusts. Needs no database.",
        ),
    ] = None,
    api_key_file: Annotated[
        Path | None,
        typer.Option(
            "--api-key-file", help="Accept only requests with one of these keys (one a line)."
        ),
    ] = None,
    tls_certfile: Annotated[
        Path | None, typer.Option("--tls-certfile", help="TLS certificate (PEM).")
    ] = None,
    tls_keyfile: Annotated[
        Path | None, typer.Option("--tls-keyfile", help="TLS private key (PEM).")
    ] = None,
    predict_threads: Annotated[
        int,
        typer.Option("--predict-threads", min=1, max=64, help="Predictions run at once."),
    ] = 2,
    max_batch_rows: Annotated[
        int,
        typer.Option("--max-batch-rows", min=1, help="Rows at most in one batched model call."),
    ] = 512,
    max_queue_rows: Annotated[
        int,
        typer.Option(
            "--max-queue-rows", min=1, help="Rows waiting at most; more get 503 + Retry-After."
        ),
    ] = 8192,
    request_timeout: Annotated[
        float,
        typer.Option(
            "--request-timeout",
            min=0.001,
            help="Seconds a request may wait for its prediction; then 503 + Retry-After.",
        ),
    ] = 60.0,
    rate_limit: Annotated[
        str | None,
        typer.Option(
            "--rate-limit", help="Requests per caller (API key, else address): 100/s, 600/min."
        ),
    ] = None,
    burst: Annotated[
        int | None,
        typer.Option("--burst", min=1, help="Requests a caller may send at once (default: 1 s)."),
    ] = None,
    redis_url: Annotated[
        str | None,
        typer.Option("--redis-url", help="Share the rate limits of several servers in Redis."),
    ] = None,
    project: Annotated[
        str, typer.Option("--project", help="Project of a models:/ source.")
    ] = "default",
    workers: Annotated[
        int,
        typer.Option(
            "--workers", min=1, max=64, help="Server processes sharing the port (forked)."
        ),
    ] = 1,
    platform_tokens: Annotated[
        bool | None,
        typer.Option(
            "--platform-tokens/--no-platform-tokens",
            help="Require platform tokens with the predict scope (default: on for a models:/ "
            "source on a non-loopback address).",
        ),
    ] = None,
    token_cache_seconds: Annotated[
        float,
        typer.Option(
            "--token-cache-seconds",
            min=0,
            max=30,
            help="Seconds a token's check is remembered; revocation takes effect within it.",
        ),
    ] = 30.0,
    input_ranges: InputRangesOption = InputRangesChoice.reject,
    range_tolerance: RangeToleranceOption = 0.1,
    unseen_categories: Annotated[
        UnseenCategoriesChoice,
        typer.Option(
            "--unseen-categories",
            help="allow or reject string values never seen in training.",
        ),
    ] = UnseenCategoriesChoice.allow,
    prediction_log: Annotated[
        str | None,
        typer.Option(
            "--prediction-log",
            help="Log predictions (per-window profiles, sampled rows, feedback labels) to this "
            "folder, or to the platform with 'platform'.",
        ),
    ] = None,
    log_sample_rate: LogSampleRateOption = 0.01,
    log_window: LogWindowOption = 60.0,
    mask_column: Annotated[
        list[str] | None,
        typer.Option(
            "--mask-column",
            help="Mask this input column in the row log (repeat for several; the catalog's "
            "PII columns of the training data are masked too).",
        ),
    ] = None,
) -> None:
    """Serve a model over the Open Inference Protocol v2 (/v2), MLflow's /invocations and
    /v1/models/NAME/predict. A package is verified (every byte and its signature) before its
    model loads; a model whose loading would run code it carries is refused."""
    try:
        from ..serving import ModelRepository
        from ..serving._platform_tokens import PlatformTokens
        from ..serving._run import check_protection, run_inference_server
    except ImportError as exc:
        missing = missing_extra(exc, "`mlsteward serve`")
        if missing is None:
            raise
        raise missing from None
    from_platform = source.startswith("models:/")
    if platform_tokens and not from_platform:
        from ..errors import ConfigurationError

        raise ConfigurationError(
            "--platform-tokens needs a models:/ source: a package is served without the "
            "platform; protect it with --api-key-file"
        )
    tokens = None
    if wants_platform_tokens(platform_tokens, from_platform=from_platform, host=host):
        tokens = PlatformTokens(project, cache_seconds=token_cache_seconds)
    protection = check_protection(  # before the model loads: a bad option fails at once
        host=host,
        api_key_file=api_key_file,
        tls_certfile=tls_certfile,
        tls_keyfile=tls_keyfile,
        rate_limit=rate_limit,
        burst=burst,
        redis_url=redis_url,
        platform_tokens=tokens,
    )
    log_options = _prediction_log_options(  # before the model loads, like the protection
        prediction_log,
        source=source,
        project=project,
        from_platform=from_platform,
        sample_rate=log_sample_rate,
        window_seconds=log_window,
        mask_columns=mask_column or [],
    )
    # The server runs predictions in parallel itself (threads, workers); a model's own OpenMP
    # pool on top of that fights for the same cores: measured under load, a 1-row predict of a
    # HistGradientBoosting model took 74 ms with OpenMP's default and 2.4 ms with one thread.
    # Set before the model's libraries load, where OpenMP reads it; a value you set wins.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    started = time.perf_counter()
    model = _load(source, name=name, trusted_key=trusted_key, project=project)
    model = dataclasses.replace(model, load_seconds=time.perf_counter() - started)
    if input_ranges is InputRangesChoice.reject:
        model = _with_input_ranges(model, range_tolerance, unseen_categories.value)
    scheme = "https" if tls_certfile else "http"
    shown_host = f"[{host}]" if ":" in host else host
    url = f"{scheme}://{shown_host}:{port}"
    print_success(f"serving {model.name} version {model.version} ({model.platform}) at {url}")
    print_message(f"  OIP v2:  {url}/v2/models/{model.name}/infer   ready: {url}/v2/health/ready")
    print_message(
        f"  MLflow:  {url}/invocations   plain JSON: {url}/v1/models/{model.name}/predict"
    )
    if tokens is not None:
        print_message(f"  accepts platform tokens with the predict scope (project {project})")
    if model.input_ranges is not None:
        print_message(
            f"  inputs checked against the training data's value ranges "
            f"({len(model.input_ranges.ranges)} columns, tolerance {range_tolerance:g})"
        )
    run_inference_server(
        ModelRepository([model]),
        host=host,
        port=port,
        protection=protection,
        predict_threads=predict_threads,
        max_batch_rows=max_batch_rows,
        max_queue_rows=max_queue_rows,
        workers=workers,
        request_timeout=request_timeout,
        prediction_log=log_options,
    )


def _prediction_log_options(
    target: str | None,
    *,
    source: str,
    project: str,
    from_platform: bool,
    sample_rate: float,
    window_seconds: float,
    mask_columns: list[str],
) -> PredictionLogOptions | None:
    """The prediction log the options ask for (None without ``--prediction-log``)."""
    from ..errors import ConfigurationError
    from ..serving._prediction_log import PredictionLogOptions
    from ..serving._prediction_sinks import FolderSink, PlatformSink

    if target is None:
        if mask_columns:
            raise ConfigurationError("--mask-column needs --prediction-log")
        return None
    masked: dict[str, str | None] = dict.fromkeys(mask_columns)
    if target != "platform":
        folder = Path(target)
        if folder.exists() and not folder.is_dir():
            raise ConfigurationError(f"--prediction-log {folder} is a file, not a folder")
        folder.mkdir(parents=True, exist_ok=True)
        if from_platform:
            masked = {**_training_pii(source, project), **masked}
        return PredictionLogOptions(lambda: FolderSink(folder), window_seconds, sample_rate, masked)
    from ..settings import load_settings

    settings = load_settings()
    token = settings.token.get_secret_value() if settings.token is not None else None
    if settings.server_url:
        return _remote_prediction_log(
            settings,
            source=source,
            project=project,
            from_platform=from_platform,
            sample_rate=sample_rate,
            window_seconds=window_seconds,
            masked=masked,
        )
    if from_platform:
        masked = {**_training_pii(source, project), **masked}

    def sink() -> PlatformSink:
        from ..platform import Platform

        platform = Platform.open(settings)
        return PlatformSink(platform, _local_actor(platform, token), project)

    return PredictionLogOptions(sink, window_seconds, sample_rate, masked)


def _remote_prediction_log(
    settings: Settings,
    *,
    source: str,
    project: str,
    from_platform: bool,
    sample_rate: float,
    window_seconds: float,
    masked: dict[str, str | None],
) -> PredictionLogOptions:
    """The prediction log of ``--prediction-log platform`` with a remote platform
    (``MLSTEWARD_SERVER_URL``): windows go over HTTP with the settings' token, which is
    checked now (reachable platform, project editor) rather than when the first window
    would be dropped."""
    from ..client import Client
    from ..serving._prediction_log import PredictionLogOptions
    from ..serving._prediction_sinks import ClientSink

    with Client(settings) as client:
        _check_remote_log_access(client, project, str(settings.server_url))
    if from_platform:
        masked = {**_training_pii(source, project), **masked}

    def sink() -> ClientSink:  # in each serving process: an HTTP pool must not cross a fork
        return ClientSink(Client(settings), project)

    return PredictionLogOptions(sink, window_seconds, sample_rate, masked)


def _check_remote_log_access(client: Client, project: str, url: str) -> None:
    """``ConfigurationError`` unless the platform at ``url`` answers, knows the token and lets
    it write prediction windows to ``project`` (editor role, ``write`` scope)."""
    from ..errors import ConfigurationError, StewardError
    from ..security import Role, Scope

    where = f"--prediction-log platform: the platform at {url}"
    try:
        actor = client.whoami()
        if not actor.is_authenticated:
            raise ConfigurationError(
                f"{where} needs a token (MLSTEWARD_TOKEN) of a project {project!r} editor"
            )
        client.list_prediction_windows(project, limit=1)
        role = Role.OWNER if actor.is_admin else None
        if role is None:
            members = client.list_members(project)
            role = next((m.role for m in members if m.username == actor.name), None)
    except ConfigurationError:
        raise
    except StewardError as exc:
        raise ConfigurationError(f"{where} cannot take the prediction log: {exc}") from None
    if Scope.WRITE not in actor.scopes or role is None or role < Role.EDITOR:
        raise ConfigurationError(
            f"{where}: {actor.name} may not record prediction windows in project {project!r} "
            "(it needs the editor role and a token with the write scope)"
        )


def _local_actor(platform: Platform, token: str | None) -> Actor:
    from .. import security

    return security.LOCAL_ADMIN if token is None else security.authenticate_token(platform, token)


def _training_pii(source: str, project: str) -> dict[str, str | None]:
    """The catalog's PII columns of the training data of the ``models:/`` version served,
    asked of the local platform or of the remote one ({} when it knows none)."""
    from ..client import Client
    from ..monitoring import training_pii_columns
    from ..platform import Platform
    from ..settings import load_settings

    settings = load_settings()
    if settings.server_url:
        with Client(settings) as client:
            version = client.resolve_model_uri(project, source)
            return dict(client.training_pii_columns(project, version.model_name, version.version))
    version = Client(settings).resolve_model_uri(project, source)
    token = settings.token.get_secret_value() if settings.token is not None else None
    platform = Platform.open(settings)
    try:
        actor = _local_actor(platform, token)
        found = training_pii_columns(platform, actor, project, version.model_name, version.version)
    finally:
        platform.close()
    return dict(found)


def _with_input_ranges(model: ServedModel, tolerance: float, unseen: str) -> ServedModel:
    """``model`` checking its inputs against the training profile it carries, if any."""
    from typing import cast

    from ..errors import MissingExtra
    from ..serving._input_ranges import InputRanges, UnseenCategories

    try:
        ranges = InputRanges.of_model(
            model.loaded, tolerance=tolerance, unseen_categories=cast(UnseenCategories, unseen)
        )
    except MissingExtra as exc:
        raise MissingExtra(
            f"{exc} (this model carries its training data's profile; or serve it with "
            "--input-ranges off)"
        ) from None
    return model if ranges is None else dataclasses.replace(model, input_ranges=ranges)


def wants_platform_tokens(option: bool | None, *, from_platform: bool, host: str) -> bool:
    """Whether the server requires platform tokens: as ``--platform-tokens`` says, else by
    default for a ``models:/`` source reachable from other machines (on loopback a models:/
    server is as open as the embedded platform)."""
    from .._loopback import is_loopback

    if option is not None:
        return option
    return from_platform and not is_loopback(host)


def _load(
    source: str, *, name: str | None, trusted_key: list[Path] | None, project: str
) -> ServedModel:
    from ..serving import ServedModel

    if source.startswith("models:/"):
        from ..client import Client

        client = Client()
        version = client.resolve_model_uri(project, source)
        loaded = client.load_model(source, project=project)
        return ServedModel(name or version.model_name, str(version.version), loaded, version.flavor)
    from ..serving._sources import load_package_model
    from ._package import _platform_keys, _trusted_keys

    package = Path(source)
    keys = _trusted_keys(trusted_key)
    return load_package_model(
        package, trusted_keys=keys if keys is not None else _platform_keys(), name=name
    )
