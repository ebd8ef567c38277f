"""``mlsteward serve``: the inference server for a package or a registered model version."""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ._extras import missing_extra
from ._output import print_message, print_success

if TYPE_CHECKING:
    from ..serving import ServedModel

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
) -> None:
    """Serve a model over the Open Inference Protocol v2 (/v2), MLflow's /invocations and
    /v1/models/NAME/predict. A package is verified (every byte and its signature) before its
    model loads; a model whose loading would run code it carries is refused."""
    try:
        from ..serving import ModelRepository
        from ..serving._run import check_protection, run_inference_server
    except ImportError as exc:
        missing = missing_extra(exc, "`mlsteward serve`")
        if missing is None:
            raise
        raise missing from None
    protection = check_protection(  # before the model loads: a bad option fails at once
        host=host,
        api_key_file=api_key_file,
        tls_certfile=tls_certfile,
        tls_keyfile=tls_keyfile,
        rate_limit=rate_limit,
        burst=burst,
        redis_url=redis_url,
    )
    # The server runs predictions in parallel itself (threads, workers); a model's own OpenMP
    # pool on top of that fights for the same cores: measured under load, a 1-row predict of a
    # HistGradientBoosting model took 74 ms with OpenMP's default and 2.4 ms with one thread.
    # Set before the model's libraries load, where OpenMP reads it; a value you set wins.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    started = time.perf_counter()
    model = _load(source, name=name, trusted_key=trusted_key, project=project)
    model = dataclasses.replace(model, load_seconds=time.perf_counter() - started)
    scheme = "https" if tls_certfile else "http"
    shown_host = f"[{host}]" if ":" in host else host
    url = f"{scheme}://{shown_host}:{port}"
    print_success(f"serving {model.name} version {model.version} ({model.platform}) at {url}")
    print_message(f"  OIP v2:  {url}/v2/models/{model.name}/infer   ready: {url}/v2/health/ready")
    print_message(
        f"  MLflow:  {url}/invocations   plain JSON: {url}/v1/models/{model.name}/predict"
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
    )


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
