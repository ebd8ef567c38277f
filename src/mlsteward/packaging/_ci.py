"""A GitHub Actions workflow that builds, tests, signs, verifies and publishes a package.

Secrets reach the steps only through ``env:`` and are written to files, never printed and
never pasted into a script with ``${{ }}`` (which would also let a crafted input run
commands). Workflow inputs travel the same way. The publishing job alone may write to the
repository.
"""

from __future__ import annotations

from typing import Any

import yaml

from .. import __version__
from ..errors import InvalidArgument
from ._manifest import _REQUIREMENT

DEFAULT_MODEL_URI = "models:/fraud@production"
KEY_NAME = "ci"
PACKAGE_FILE = "model.mlsb"


class _Dumper(yaml.SafeDumper):  # type: ignore[misc]  # PyYAML ships no types
    """Multi-line strings (the scripts) as literal blocks, so the workflow reads well."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def ci_workflow(
    *,
    model_uri: str = DEFAULT_MODEL_URI,
    python_version: str = "3.11",
    mlsteward_requirement: str | None = None,
) -> dict[str, Any]:
    """The workflow as data (see ``render_ci_workflow``)."""
    requirement = mlsteward_requirement or f"mlsteward=={__version__}"
    if _REQUIREMENT.fullmatch(requirement) is None:
        raise InvalidArgument(f"{requirement!r} is not an exact pin of mlsteward")
    if not isinstance(model_uri, str) or not model_uri.startswith("models:/") or "\n" in model_uri:
        raise InvalidArgument(f"{str(model_uri)[:100]!r} is not a models:/ URI")
    if python_version not in {"3.11", "3.12", "3.13"}:
        raise InvalidArgument(f"python_version must be 3.11, 3.12 or 3.13, not {python_version!r}")
    platform_env = {
        "MLSTEWARD_DATABASE_URL": "${{ secrets.MLSTEWARD_DATABASE_URL }}",
        "MLSTEWARD_BLOB_URL": "${{ vars.MLSTEWARD_BLOB_URL }}",
        "MLSTEWARD_BLOB_STORAGE_OPTIONS": "${{ secrets.MLSTEWARD_BLOB_STORAGE_OPTIONS }}",
    }
    package_steps: list[dict[str, Any]] = [
        {
            "name": "Set up Python",
            "uses": "actions/setup-python@v5",
            "with": {"python-version": python_version},
        },
        {
            "name": "Install mlsteward",
            "env": {"MLSTEWARD_REQUIREMENT": requirement},
            "run": 'python -m pip install "$MLSTEWARD_REQUIREMENT"\n',
        },
        {
            "name": "Prepare the mlsteward home",
            "run": 'echo "MLSTEWARD_HOME=$RUNNER_TEMP/mlsteward" >> "$GITHUB_ENV"\n',
        },
        {
            "name": "Install the signing key",
            "env": {"SIGNING_KEY": "${{ secrets.MLSTEWARD_SIGNING_KEY }}"},
            "run": (
                "umask 077\n"
                f'mkdir -p "$MLSTEWARD_HOME/signing-keys"\n'
                f'printf \'%s\\n\' "$SIGNING_KEY" > "$MLSTEWARD_HOME/signing-keys/{KEY_NAME}.pem"\n'
            ),
        },
        {
            "name": "Build and sign the package",
            "env": {
                "MODEL_URI": "${{ inputs.model_uri }}",
                "MLSTEWARD_SIGNING_KEY_PASSWORD": "${{ secrets.MLSTEWARD_SIGNING_KEY_PASSWORD }}",
            },
            "run": (
                f'mlsteward package build "$MODEL_URI" -o {PACKAGE_FILE} --key {KEY_NAME} --json'
                " > build.json\n"
            ),
        },
        {"name": "Verify the package", "run": f"mlsteward package verify {PACKAGE_FILE}\n"},
        {
            "name": "Test the package in a fresh environment",
            "run": f"mlsteward package test {PACKAGE_FILE}\n",
        },
        {
            "name": "Remove the signing key",
            "if": "always()",
            "run": f'rm -f "$MLSTEWARD_HOME/signing-keys/{KEY_NAME}.pem"\n',
        },
        {
            "name": "Upload the package",
            "uses": "actions/upload-artifact@v4",
            "with": {
                "name": "model-package",
                "path": f"{PACKAGE_FILE}\nbuild.json\n",
                "if-no-files-found": "error",
            },
        },
    ]
    release_steps: list[dict[str, Any]] = [
        {
            "name": "Download the package",
            "uses": "actions/download-artifact@v4",
            "with": {"name": "model-package"},
        },
        {
            "name": "Publish a release",
            "env": {
                "GH_TOKEN": "${{ github.token }}",
                "RELEASE_TAG": "${{ inputs.release_tag }}",
                "MODEL_URI": "${{ inputs.model_uri }}",
            },
            "run": (
                'gh release create "$RELEASE_TAG" '
                f'{PACKAGE_FILE} build.json --repo "$GITHUB_REPOSITORY" '
                '--title "$RELEASE_TAG" --notes "Signed package of $MODEL_URI"\n'
            ),
        },
    ]
    return {
        "name": "Package model",
        "on": {
            "workflow_dispatch": {
                "inputs": {
                    "model_uri": {
                        "description": "Model version to package (models:/name/version or "
                        "models:/name@alias)",
                        "required": True,
                        "default": model_uri,
                        "type": "string",
                    },
                    "release_tag": {
                        "description": "Publish the package as a release with this tag "
                        "(empty: artifact only)",
                        "required": False,
                        "default": "",
                        "type": "string",
                    },
                }
            }
        },
        "permissions": {"contents": "read"},
        "concurrency": {"group": "package-${{ inputs.model_uri }}", "cancel-in-progress": False},
        "jobs": {
            "package": {
                "runs-on": "ubuntu-latest",
                "timeout-minutes": 60,
                "env": platform_env,
                "steps": package_steps,
            },
            "release": {
                "needs": "package",
                "if": "${{ inputs.release_tag != '' }}",
                "runs-on": "ubuntu-latest",
                "permissions": {"contents": "write"},
                "steps": release_steps,
            },
        },
    }


def render_ci_workflow(**options: Any) -> str:
    """The workflow YAML: on manual dispatch with a model URI, build the package signed with
    the key in the ``MLSTEWARD_SIGNING_KEY`` secret, verify it, test it in a fresh
    environment, upload it as an artifact, and publish a release when a tag is given.

    The platform is reached through the ``MLSTEWARD_DATABASE_URL`` and
    ``MLSTEWARD_BLOB_STORAGE_OPTIONS`` secrets and the ``MLSTEWARD_BLOB_URL`` variable; the
    signing key's public half must be trusted on the platform (``mlsteward keys signing
    trust``) for ``package verify`` to pass.
    """
    header = (
        f"# Generated by mlsteward {__version__}: build, test, sign, verify and publish a\n"
        "# model package. Pin the actions to commit SHAs if your policy requires it.\n"
    )
    body: str = yaml.dump(ci_workflow(**options), Dumper=_Dumper, sort_keys=False, width=100)
    return header + body
