"""The generated mesh CA through the real engine (its dynamic provider runs in pulumi-resource-pulumi-python) on the
local API server: the key never in the state in clear, the Secret on the server what istiod needs, a second up a
no-op, a bumped rotation a new intermediate under the same root.

The control plane is not installed here (``install: false``; the charts' ordering is covered by the unit tests and
tests/integration/test_cluster.py): the Secret goes into a namespace created beforehand, as for a control plane
brought by the user (check MR315 warns about exactly that), with Istio's CRDs applied by hand."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

import yaml
from cryptography import x509
from pulumi import automation as auto

from integration.conftest import Cluster, edit_mesh
from mesh_rollout._ca_provider import check_bundle

MESH = {
    "environment": "ca-test",
    "controlPlane": {"install": False, "namespace": "ca-system", "clusterName": "cluster1"},
    "observability": None,
    "certificateAuthority": {"mode": "generated", "generated": {"keyAlgorithm": "ecdsa-p256",
                                                                 "organization": "Example Corp"}},
}


def clear_keys(deployment: dict) -> list[str]:
    """Where the state holds a PEM private key in clear: ``<urn> <section>.<path>``."""
    found = []

    def walk(node, where):
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{where}.{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{where}[{index}]")
        elif isinstance(node, str) and "PRIVATE KEY" in node:
            found.append(where)

    for resource in deployment.get("resources", []):
        walk({k: v for k, v in resource.items() if k != "urn"}, resource["urn"])
    return found


def exported(project: Path) -> dict:
    """``pulumi stack export`` as a user runs it (the Automation API's export shows secrets in clear)."""
    result = subprocess.run(["pulumi", "stack", "export", "--stack", "local"], cwd=project, capture_output=True,
                            text=True, check=True, timeout=120)
    return json.loads(result.stdout)["deployment"]


def state_files(project: Path) -> str:
    """Every file of the stack's file backend (make_project puts it next to the project), as stored on disk."""
    return "".join(path.read_text(errors="replace") for path in (project.parent / "state").rglob("*")
                   if path.is_file())


def server_files(cluster: Cluster) -> dict[str, str]:
    secret = cluster.get("secret", "cacerts", "-n", "ca-system")
    return {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}


def test_generated_ca_is_made_once_kept_secret_and_rotated_on_request(project, cluster: Cluster, istio_assets):
    # The mesh-wide PeerAuthentication needs Istio's CRDs, which the (not installed) base chart would bring.
    crds = str(istio_assets / "charts" / "base" / "files" / "crd-all.gen.yaml")
    cluster.kubectl("apply", "--server-side", "-f", crds)
    cluster.kubectl("create", "namespace", "ca-system")
    stack_file = project / "stacks" / "Pulumi.local.yaml"
    document = yaml.safe_load(stack_file.read_text())
    document["config"]["mesh-rollout:mesh"] = MESH
    stack_file.write_text(yaml.safe_dump(document, sort_keys=False))
    stack = auto.create_or_select_stack(stack_name="local", work_dir=str(project))
    try:
        assert stack.up().summary.result == "succeeded"

        files = server_files(cluster)
        assert sorted(files) == ["ca-cert.pem", "ca-key.pem", "cert-chain.pem", "root-cert.pem"]
        assert check_bundle(files, "cluster.local") == []  # key matches, chain intermediate -> root, CA flags
        assert files["cert-chain.pem"] == files["ca-cert.pem"] + files["root-cert.pem"]
        first = x509.load_pem_x509_certificate(files["ca-cert.pem"].encode())
        assert first.subject.get_attributes_for_oid(x509.NameOID.LOCALITY_NAME)[0].value == "cluster1"

        deployment = exported(project)
        # The keys and the Secret's values are ciphertext in the state, on disk and in an export.
        assert clear_keys(deployment) == []
        assert "PRIVATE KEY" not in state_files(project)
        assert "BEGIN CERTIFICATE" in json.dumps(deployment)  # the dynamic resources' certificates stay readable
        # The Automation API's export decrypts: the key is there, so the check above looks at the right place.
        assert clear_keys(stack.export_stack().deployment)

        again = stack.up()
        assert {k: v for k, v in again.summary.resource_changes.items() if k != "same"} == {}
        assert server_files(cluster) == files  # a second up never makes a new key

        edit_mesh(project, lambda mesh: mesh["certificateAuthority"]["generated"].update(rotation=1))
        rotated = stack.up()
        # The intermediate, and the Secret: pulumi-kubernetes replaces a Secret whose data change (unless the
        # provider's enableSecretMutable is set). The root is not touched.
        assert {k: v for k, v in rotated.summary.resource_changes.items() if k != "same"} == {"replace": 2}
        assert "mesh-ca-root" not in [line for line in rotated.stdout.splitlines() if "replaced" in line]
        new = server_files(cluster)
        assert new["root-cert.pem"] == files["root-cert.pem"]
        assert new["ca-key.pem"] != files["ca-key.pem"]
        assert x509.load_pem_x509_certificate(new["ca-cert.pem"].encode()).serial_number != first.serial_number
        assert check_bundle(new, "cluster.local") == []
        assert clear_keys(exported(project)) == [] and "PRIVATE KEY" not in state_files(project)
    finally:
        stack.destroy()
        cluster.kubectl("delete", "namespace", "ca-system", "--wait=false", check=False)
        cluster.kubectl("delete", "-f", crds, "--wait=false", check=False)
