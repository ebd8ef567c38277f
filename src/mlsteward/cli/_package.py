"""``mlsteward package``: build, verify, inspect and test signed model packages, and generate
their Dockerfile, Kubernetes manifests and CI workflow."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ._blobs import JsonOption, steward_errors
from ._keys import KeyPasswordOption, key_password_bytes
from ._output import emit_json, print_message, print_success, print_table, print_warning

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from ..packaging import PackageInfo, VerifyReport

__all__ = ["package_app"]

package_app = typer.Typer(
    help="Signed model packages: build, verify, inspect, test; Dockerfile, Kubernetes, CI.",
    no_args_is_help=True,
)

PackageArg = Annotated[Path, typer.Argument(help="Package file (.mlsb).")]
OverwriteOption = Annotated[
    bool, typer.Option("--overwrite", help="Replace the output file if it exists.")
]
TrustedKeyOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--trusted-key",
        help="Trust this public key file (PEM) instead of the platform's trusted keys; "
        "repeat for several. Needs no database (used inside images).",
    ),
]


def _info_json(info: PackageInfo) -> dict[str, Any]:
    return {
        "path": str(info.path),
        "key_id": info.key_id,
        "verified": info.verified,
        "archive_size": info.archive_size,
        "metadata": info.metadata,
        "requirements": info.requirements,
        "files": [{"path": f.path, "size": f.size, "blake3": f.blake3} for f in info.files],
    }


def _report_json(report: VerifyReport) -> dict[str, Any]:
    return {
        "path": str(report.path),
        "ok": report.ok,
        "key_id": report.key_id,
        "files_checked": report.files_checked,
        "bytes_checked": report.bytes_checked,
        "problems": [
            {"kind": str(p.kind), "path": p.path, "message": p.message} for p in report.problems
        ],
    }


def _trusted_keys(files: list[Path] | None) -> dict[str, Ed25519PublicKey] | None:
    """Keys from ``--trusted-key`` files, or None to use the platform's trusted keys."""
    if not files:
        return None
    from ..errors import InvalidArgument, NotFound
    from ..packaging import load_public_key, public_key_id

    keys = {}
    for path in files:
        try:
            with path.open("rb") as handle:
                data = handle.read(8192)
        except FileNotFoundError:
            raise NotFound(f"public key file {path} does not exist") from None
        except IsADirectoryError:
            raise InvalidArgument(f"{path} is a folder, not a key file") from None
        key = load_public_key(data)
        keys[public_key_id(key)] = key
    return keys


def _platform_keys() -> dict[str, Ed25519PublicKey]:
    from ..packaging._trust import trusted_public_keys
    from ._local import local_platform

    with local_platform() as platform:
        return trusted_public_keys(platform)


def _write_output(path: Path, text: str, overwrite: bool) -> None:
    from ..errors import AlreadyExists, NotFound

    if not path.parent.is_dir():
        raise NotFound(f"the folder {path.parent} does not exist")
    try:
        with path.open("w" if overwrite else "x", encoding="utf-8") as handle:
            handle.write(text)
    except FileExistsError:
        raise AlreadyExists(f"{path} exists: choose another file or pass --overwrite") from None
    except IsADirectoryError:
        from ..errors import InvalidArgument

        raise InvalidArgument(f"{path} is a folder: name the file to write") from None


@package_app.command("build")
def build(
    uri: Annotated[str, typer.Argument(help="Model version: models:/NAME/VERSION or @ALIAS.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Package file to write.")],
    key: Annotated[
        str, typer.Option("--key", help="Signing key name (<home>/signing-keys/NAME.pem).")
    ] = "default",
    project: Annotated[str, typer.Option("--project", help="The model's project.")] = "default",
    overwrite: OverwriteOption = False,
    key_password: KeyPasswordOption = None,
    json_output: JsonOption = False,
) -> None:
    """Build the signed package of a model version and record it on the version."""
    from ..packaging._registry_build import build_version_package
    from ..packaging._trust import trusted_public_keys
    from ._local import local_platform, operator

    with steward_errors(), local_platform() as platform:
        info = build_version_package(
            platform,
            operator(),
            project,
            uri,
            output,
            key_name=key,
            key_password=key_password_bytes(key_password),
            overwrite=overwrite,
        )
        trusted = info.key_id in trusted_public_keys(platform)
    if json_output:
        emit_json({**_info_json(info), "trusted": trusted})
        return
    model = info.metadata.get("model", {})
    print_success(
        f"built {output} from {model.get('uri')}: {len(info.files)} files, "
        f"{info.archive_size} bytes, signed by {info.key_id}"
    )
    if not trusted:
        print_warning(
            f"key {key} is not trusted here, so `package verify` will refuse the package: "
            f"`mlsteward keys signing export-public {key}`, then `mlsteward keys signing trust`"
        )


@package_app.command("verify")
def verify(
    package: PackageArg,
    trusted_key: TrustedKeyOption = None,
    json_output: JsonOption = False,
) -> None:
    """Check every byte, the file list and the signature; exit 1 listing every problem."""
    from ..packaging import verify_package

    with steward_errors():
        keys = _trusted_keys(trusted_key)
        report = verify_package(
            package, trusted_keys=keys if keys is not None else _platform_keys()
        )
    if json_output:
        emit_json(_report_json(report))
    elif report.ok:
        print_success(
            f"{package} is intact and signed by trusted key {report.key_id} "
            f"({report.files_checked} files, {report.bytes_checked} bytes checked)"
        )
    if not report.ok:
        if not json_output:
            from ._output import print_error

            print_error(
                f"package {package} failed verification ({len(report.problems)} problems); "
                "do not deploy it"
            )
            for problem in report.problems:
                print_message(f"  {problem.kind}: {problem.message}")
        raise typer.Exit(1)


@package_app.command("inspect")
def inspect(package: PackageArg, json_output: JsonOption = False) -> None:
    """Show what a package says it holds (nothing is verified: use `package verify`)."""
    from ..packaging import inspect_package

    with steward_errors():
        info = inspect_package(package)
    if json_output:
        emit_json(_info_json(info))
        return
    import yaml

    model = info.metadata.get("model") if isinstance(info.metadata.get("model"), dict) else {}
    print_table(
        ["field", "value"],
        [
            ["model", (model or {}).get("uri", "")],
            ["flavor", info.metadata.get("flavor", "")],
            ["signed by key", info.key_id],
            ["archive bytes", info.archive_size],
            ["requirements", "\n".join(info.requirements) or "(none)"],
        ],
        title=f"package {package} (unverified)",
    )
    print_table(
        ["path", "bytes", "blake3"],
        [[f.path, f.size, f.blake3[:16]] for f in info.files],
        title="files",
    )
    sys.stdout.write(yaml.safe_dump(info.metadata, sort_keys=False, allow_unicode=True))


@package_app.command("test")
def package_test(
    package: PackageArg,
    pip_args: Annotated[
        str,
        typer.Option(
            "--pip-args",
            help='Extra pip install arguments, e.g. "--no-index --find-links DIR" (offline).',
        ),
    ] = "",
    python: Annotated[
        str, typer.Option("--python", help="Python that creates the environment.")
    ] = sys.executable,
    base_site_packages: Annotated[
        Path | None,
        typer.Option(
            "--base-site-packages",
            help="Offline: take the lock from this existing site-packages folder (pip runs "
            "with --no-index and only confirms it); every pin must match exactly.",
        ),
    ] = None,
    trusted_key: TrustedKeyOption = None,
    json_output: JsonOption = False,
) -> None:
    """Install the lock into a fresh virtual environment and check the model there; exit 1
    when a pin is not held at its version or the predictions differ from the recorded ones."""
    from ..errors import InvalidArgument
    from ..packaging._package_test import run_package_test

    with steward_errors():
        try:
            extra = shlex.split(pip_args)
        except ValueError as exc:
            raise InvalidArgument(f"--pip-args cannot be parsed: {exc}") from None
        keys = _trusted_keys(trusted_key)
        result = run_package_test(
            package,
            trusted_keys=keys if keys is not None else _platform_keys(),
            pip_args=extra,
            python=python,
            base_site_packages=base_site_packages,
        )
    if json_output:
        emit_json(
            {
                "path": str(result.path),
                "key_id": result.key_id,
                "requirements": result.requirements,
                "status": result.status,
                "message": result.message,
            }
        )
    else:
        print_success(f"{package}: {result.status}: {result.message}")


@package_app.command("dockerfile")
def dockerfile(
    package: PackageArg,
    output: Annotated[Path, typer.Option("--output", "-o", help="Dockerfile to write.")],
    base_image: Annotated[
        str, typer.Option("--base-image", help="Pinned base image (tag or @sha256 digest).")
    ] = "python:3.11.10-slim-bookworm",
    overwrite: OverwriteOption = False,
    json_output: JsonOption = False,
) -> None:
    """Write a Dockerfile serving the package, and the signer's public key next to it."""
    from ..errors import AlreadyExists
    from ..packaging import verify_package
    from ..packaging._deploy import render_dockerfile
    from ..packaging._signing import public_key_to_pem

    key_file = "signing-key.pub.pem"
    with steward_errors():
        keys = _platform_keys()
        report = verify_package(package, trusted_keys=keys)
        report.raise_for_problems()
        from ..packaging import inspect_package

        info = inspect_package(package)
        text = render_dockerfile(
            info, package_file=package.name, public_key_file=key_file, base_image=base_image
        )
        pem = public_key_to_pem(keys[info.key_id]).decode("ascii")
        key_path = output.parent / key_file
        if key_path.exists() and key_path.read_text(errors="replace") != pem and not overwrite:
            raise AlreadyExists(f"{key_path} holds another key: pass --overwrite to replace it")
        _write_output(output, text, overwrite)
        key_path.write_text(pem)
    context = output.parent.resolve()
    in_context = package.resolve().parent == context
    if json_output:
        emit_json(
            {
                "dockerfile": str(output),
                "public_key": str(key_path),
                "key_id": info.key_id,
                "package_in_context": in_context,
            }
        )
        return
    print_success(f"wrote {output} and {key_path}")
    if not in_context:
        print_warning(f"copy {package} into {context} before `docker build {context}`")


@package_app.command("k8s")
def k8s(
    package: PackageArg,
    output: Annotated[Path, typer.Option("--output", "-o", help="Manifest file to write.")],
    image: Annotated[
        str | None,
        typer.Option("--image", help="Image to run (default NAME:VERSION of the model)."),
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="Deployment and Service name (DNS label).")
    ] = None,
    replicas: Annotated[int, typer.Option("--replicas", help="Pod replicas.")] = 2,
    cpu: Annotated[str, typer.Option("--cpu", help="CPU request and limit.")] = "500m",
    memory: Annotated[str, typer.Option("--memory", help="Memory request and limit.")] = "1Gi",
    overwrite: OverwriteOption = False,
    json_output: JsonOption = False,
) -> None:
    """Write a Kubernetes Deployment and Service that serve the package's image."""
    from ..packaging import inspect_package
    from ..packaging._deploy import deployment_name, kubernetes_manifests, render_kubernetes

    with steward_errors():
        info = inspect_package(package)
        chosen_name = name or deployment_name(info)
        model = info.metadata.get("model")
        version = model.get("version") if isinstance(model, dict) else None
        chosen_image = image or f"{chosen_name}:{version}"
        options: dict[str, Any] = {
            "image": chosen_image,
            "name": chosen_name,
            "replicas": replicas,
            "cpu": cpu,
            "memory": memory,
        }
        text = render_kubernetes(info, **options)
        _write_output(output, text, overwrite)
    if json_output:
        emit_json({"path": str(output), "manifests": kubernetes_manifests(info, **options)})
    else:
        print_success(f"wrote {output}: Deployment and Service {chosen_name} ({chosen_image})")


@package_app.command("ci-template")
def ci_template(
    output: Annotated[Path, typer.Option("--output", "-o", help="Workflow file to write.")],
    model_uri: Annotated[
        str, typer.Option("--model-uri", help="Default model URI of the workflow.")
    ] = "models:/fraud@production",
    overwrite: OverwriteOption = False,
    json_output: JsonOption = False,
) -> None:
    """Write a GitHub Actions workflow that builds, tests, signs and publishes a package."""
    from ..packaging._ci import render_ci_workflow

    with steward_errors():
        text = render_ci_workflow(model_uri=model_uri)
        output.parent.mkdir(parents=True, exist_ok=True)
        _write_output(output, text, overwrite)
    if json_output:
        emit_json({"path": str(output)})
    else:
        print_success(
            f"wrote {output}; add the secrets MLSTEWARD_SIGNING_KEY, MLSTEWARD_DATABASE_URL "
            "(and MLSTEWARD_BLOB_STORAGE_OPTIONS) and the variable MLSTEWARD_BLOB_URL"
        )
