"""Deployment files for a package: a Dockerfile and Kubernetes manifests.

The image serves the package with ``mlsteward serve`` on port 8080 and the Open Inference
Protocol v2 health endpoints ``/v2/health/live`` and ``/v2/health/ready`` (the serving
subsystem implements that command). Every Dockerfile command is in exec (JSON array) form,
so no shell ever parses a value that came from a package; the image verifies the package
against its publisher's public key while it is built, and runs as an unprivileged numeric
user, so Kubernetes can prove ``runAsNonRoot``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import yaml

from .. import __version__
from ..errors import InvalidArgument
from ._manifest import _REQUIREMENT, PackageInfo

PORT = 8080
LIVE_PATH = "/v2/health/live"
READY_PATH = "/v2/health/ready"
PACKAGE_PATH = "/models/model.mlsb"
PUBLIC_KEY_PATH = "/models/signing-key.pub.pem"
API_KEYS_DIR = "/run/secrets/mlsteward"
API_KEYS_FILE = "api-keys"
API_KEYS_PATH = f"{API_KEYS_DIR}/{API_KEYS_FILE}"
# Inside its container the server must listen on every interface to be reachable at all, so it
# needs API keys (a secret mounted at API_KEYS_PATH) and verifies the package again on start.
SERVE_ARGS = (
    "serve",
    PACKAGE_PATH,
    "--host",
    "0.0.0.0",  # noqa: S104
    "--port",
    str(PORT),
    "--trusted-key",
    PUBLIC_KEY_PATH,
    "--api-key-file",
    API_KEYS_PATH,
)
"""Arguments of ``mlsteward`` that serve the package (the image's ``CMD``)."""
RUNTIME_UID = 10001
DEFAULT_BASE_IMAGE = "python:3.11.10-slim-bookworm"
# /tmp is a per-pod emptyDir (the root filesystem is read-only), shared with no one.
TMP_DIR = "/tmp"  # noqa: S108
HOME_IN_CONTAINER = f"{TMP_DIR}/mlsteward"

_IMAGE = re.compile(
    r"(?:[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?(?::[0-9]{1,5})?/)?"  # registry host[:port]/
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[0-9a-f]{64}))?"
)
_FILE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]{0,254}")
_DNS_LABEL = re.compile(r"[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?")
_LABEL_VALUE = re.compile(r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?")
_CPU = re.compile(r"[0-9]{1,6}m|[0-9]{1,4}(?:\.[0-9]{1,3})?")
_MEMORY = re.compile(r"[0-9]{1,7}(?:\.[0-9]{1,3})?(?:Ki|Mi|Gi|Ti|k|M|G|T)?")
_SAFE_TEXT = re.compile(r"[A-Za-z0-9._:/@+-]{1,200}")


def check_image(image: str, what: str = "image") -> str:
    """``image`` if it is a pinned image reference (a tag other than ``latest``, or a
    digest); ``InvalidArgument`` otherwise."""
    match = _IMAGE.fullmatch(image) if isinstance(image, str) else None
    if match is None:
        raise InvalidArgument(f"{str(image)[:200]!r} is not a valid {what} reference")
    if match["digest"] is None and match["tag"] in (None, "latest"):
        raise InvalidArgument(
            f"the {what} {image!r} is not pinned: name a version tag or a @sha256: digest"
        )
    return image


def _file_name(name: str, what: str) -> str:
    if not isinstance(name, str) or _FILE_NAME.fullmatch(name) is None or ".." in name:
        raise InvalidArgument(
            f"the {what} {str(name)[:200]!r} must be a plain file name in the build folder"
        )
    return name


def _argv(words: list[str] | tuple[str, ...]) -> str:
    """A JSON array: the exec form of a Dockerfile command (no shell involved)."""
    return json.dumps(list(words), ensure_ascii=False)


def _model(info: PackageInfo) -> Mapping[str, Any]:
    model = info.metadata.get("model")
    return model if isinstance(model, Mapping) else {}


def _pip_requirements(info: PackageInfo) -> list[str]:
    """The lock's pins as pip arguments, each re-checked (a package is untrusted input)."""
    pins = []
    for line in info.requirements:
        if line.startswith("-") or _REQUIREMENT.fullmatch(line) is None:
            raise InvalidArgument(f"requirements.lock line {line[:200]!r} is not an exact pin")
        if "--hash" in line:
            raise InvalidArgument(
                "requirements.lock has --hash options, which the Dockerfile cannot pass to pip "
                "on its command line yet"
            )
        pins.append(line)
    return pins


def render_dockerfile(
    info: PackageInfo,
    *,
    package_file: str,
    public_key_file: str,
    base_image: str = DEFAULT_BASE_IMAGE,
    mlsteward_requirement: str | None = None,
) -> str:
    """A Dockerfile that serves the package ``package_file`` (a file of the build folder).

    The image installs mlsteward and the package's lock, verifies the package against
    ``public_key_file`` (also in the build folder) at build time, runs as uid 10001 and
    has a health check on ``/v2/health/live``. Raises ``InvalidArgument`` for an unpinned
    base image, a file name that is not plain, or a lock line that is not an exact pin.
    """
    check_image(base_image, "base image")
    package_file = _file_name(package_file, "package file")
    public_key_file = _file_name(public_key_file, "public key file")
    requirement = mlsteward_requirement or f"mlsteward=={__version__}"
    if _REQUIREMENT.fullmatch(requirement) is None:
        raise InvalidArgument(f"{requirement!r} is not an exact pin of mlsteward")
    model = _model(info)
    uid = str(RUNTIME_UID)
    pip = ["python", "-m", "pip", "install", "--no-cache-dir"]
    probe = (
        "import urllib.request; "
        f"urllib.request.urlopen('http://127.0.0.1:{PORT}{LIVE_PATH}', timeout=4)"
    )
    lines = [
        "# syntax=docker/dockerfile:1",
        f"# Generated by mlsteward {__version__}. Build with this folder as the context; it",
        f"# must hold {package_file} and {public_key_file}. For reproducible builds pin the",
        "# base image by digest: --build-arg BASE_IMAGE=<image>@sha256:<digest>.",
        f"ARG BASE_IMAGE={base_image}",
        "FROM ${BASE_IMAGE}",
        "ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 "
        f"MLSTEWARD_HOME={HOME_IN_CONTAINER}",
    ]
    labels = {
        "org.opencontainers.image.title": model.get("name"),
        "io.mlsteward.model.version": model.get("version"),
        "io.mlsteward.package.key-id": info.key_id,
    }
    for key, value in labels.items():
        if value is not None and _SAFE_TEXT.fullmatch(str(value)):
            lines.append(f"LABEL {key}={json.dumps(str(value))}")
    lines += [
        "RUN " + _argv(["groupadd", "--system", "--gid", uid, "mlsteward"]),
        "RUN "
        + _argv(
            [
                "useradd",
                "--system",
                "--uid",
                uid,
                "--gid",
                uid,
                "--no-create-home",
                "--home-dir",
                "/nonexistent",
                "--shell",
                "/usr/sbin/nologin",
                "mlsteward",
            ]
        ),
        "RUN " + _argv([*pip, requirement]),
        "WORKDIR /models",
        "COPY --chown=0:0 --chmod=0444 " + _argv([package_file, PACKAGE_PATH]),
        "COPY --chown=0:0 --chmod=0444 " + _argv([public_key_file, PUBLIC_KEY_PATH]),
        "RUN "
        + _argv(["mlsteward", "package", "verify", PACKAGE_PATH, "--trusted-key", PUBLIC_KEY_PATH]),
    ]
    if pins := _pip_requirements(info):
        lines.append("RUN " + _argv([*pip, *pins]))
    lines += [
        f"USER {uid}:{uid}",
        f"EXPOSE {PORT}",
        "HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 CMD "
        + _argv(["python", "-c", probe]),
        "ENTRYPOINT " + _argv(["mlsteward"]),
        "CMD " + _argv(list(SERVE_ARGS)),
    ]
    return "\n".join(lines) + "\n"


def deployment_name(info: PackageInfo) -> str:
    """A DNS-1035 label (Kubernetes Service names) derived from the package's model name."""
    raw = str(_model(info).get("name") or "model").lower()
    name = re.sub(r"[^a-z0-9-]+", "-", raw).strip("-")
    if not name or not name[0].isalpha():
        name = f"model-{name}".strip("-")
    return name[:63].rstrip("-")


def kubernetes_manifests(
    info: PackageInfo,
    *,
    image: str,
    name: str | None = None,
    replicas: int = 2,
    cpu: str = "500m",
    memory: str = "1Gi",
) -> list[dict[str, Any]]:
    """A Deployment (apps/v1) and a Service (v1) that run ``image`` serving the package.

    Requests and limits are equal (Guaranteed QoS); readiness and liveness probes use the
    health endpoints; the container runs as uid 10001, with a read-only root filesystem,
    no privilege escalation and no capabilities (``/tmp`` is an ``emptyDir``). Raises
    ``InvalidArgument`` for an unpinned image, a name that is not a DNS label, replicas
    outside 0-1000 or a malformed CPU or memory quantity.
    """
    check_image(image)
    name = name if name is not None else deployment_name(info)
    if not isinstance(name, str) or _DNS_LABEL.fullmatch(name) is None:
        raise InvalidArgument(
            f"{str(name)[:100]!r} is not a Kubernetes name: up to 63 lowercase letters, digits "
            "and '-', starting with a letter"
        )
    if isinstance(replicas, bool) or not isinstance(replicas, int) or not 0 <= replicas <= 1000:
        raise InvalidArgument(f"replicas must be an integer from 0 to 1000, not {replicas!r}")
    if not isinstance(cpu, str) or _CPU.fullmatch(cpu) is None:
        raise InvalidArgument(f"{str(cpu)[:50]!r} is not a CPU quantity (e.g. 500m or 2)")
    if not isinstance(memory, str) or _MEMORY.fullmatch(memory) is None:
        raise InvalidArgument(f"{str(memory)[:50]!r} is not a memory quantity (e.g. 512Mi)")
    model = _model(info)
    selector = {"app.kubernetes.io/name": name, "app.kubernetes.io/component": "model-server"}
    labels = {**selector, "app.kubernetes.io/managed-by": "mlsteward"}
    version = str(model.get("version", ""))
    if _LABEL_VALUE.fullmatch(version) and version:
        labels["app.kubernetes.io/version"] = version
    annotations = {
        "mlsteward.io/model-uri": str(model.get("uri", ""))[:1000],
        "mlsteward.io/package-key-id": info.key_id,
    }
    resources = {"cpu": cpu, "memory": memory}
    probe_timing = {"periodSeconds": 10, "timeoutSeconds": 3, "failureThreshold": 3}
    container = {
        "name": "model",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        "env": [{"name": "MLSTEWARD_HOME", "value": HOME_IN_CONTAINER}],
        "resources": {"requests": dict(resources), "limits": dict(resources)},
        "startupProbe": {
            "httpGet": {"path": LIVE_PATH, "port": "http"},
            "periodSeconds": 5,
            "timeoutSeconds": 3,
            "failureThreshold": 60,
        },
        "livenessProbe": {"httpGet": {"path": LIVE_PATH, "port": "http"}, **probe_timing},
        "readinessProbe": {"httpGet": {"path": READY_PATH, "port": "http"}, **probe_timing},
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUNTIME_UID,
            "runAsGroup": RUNTIME_UID,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "privileged": False,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "tmp", "mountPath": TMP_DIR},
            {"name": "api-keys", "mountPath": API_KEYS_DIR, "readOnly": True},
        ],
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels, "annotations": annotations},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": selector},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {
                "metadata": {"labels": labels, "annotations": annotations},
                "spec": {
                    "automountServiceAccountToken": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": RUNTIME_UID,
                        "runAsGroup": RUNTIME_UID,
                        "fsGroup": RUNTIME_UID,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [container],
                    "volumes": [
                        {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}},
                        {
                            "name": "api-keys",
                            "secret": {
                                "secretName": f"{name}-api-keys",
                                "items": [{"key": API_KEYS_FILE, "path": API_KEYS_FILE}],
                                "defaultMode": 0o440,
                            },
                        },
                    ],
                    "terminationGracePeriodSeconds": 30,
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "type": "ClusterIP",
            "selector": selector,
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }
    return [deployment, service]


def render_kubernetes(info: PackageInfo, **options: Any) -> str:
    """``kubernetes_manifests`` as one YAML stream (``---`` between documents)."""
    text: str = yaml.safe_dump_all(
        kubernetes_manifests(info, **options), sort_keys=False, explicit_start=True
    )
    return text
