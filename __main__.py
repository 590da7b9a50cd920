"""Entry point of the mesh-rollout Pulumi program: stack config -> typed spec -> checks -> Mesh."""

import sys

import pulumi
import pulumi_kubernetes as k8s

from mesh_rollout import Mesh, MeshArgs
from mesh_rollout.mesh import preflight
from mesh_rollout.plan import GRAFANA_PASSWORD_CONFIG, required_secret_config
from mesh_rollout.spec import (
    CLUSTER_KEY,
    CONFIG_KEY,
    MESH_FILE_KEY,
    ClusterSpec,
    ConfigError,
    mesh_data,
    parse_cluster,
    parse_mesh,
)


def provider_for(cluster: ClusterSpec) -> k8s.Provider:
    """The one Kubernetes provider every resource uses: a cluster's, or render mode writing YAML files."""
    if cluster.render_dir is not None:
        # Render mode must get no kubeconfig (and KUBECONFIG must be unset in the environment).
        return k8s.Provider("k8s", render_yaml_to_directory=cluster.render_dir)
    return k8s.Provider(
        "k8s",
        kubeconfig=cluster.kubeconfig_path_or_contents,
        context=cluster.context,
        enable_server_side_apply=cluster.enable_server_side_apply,
        enable_config_map_mutable=cluster.config_map_mutable,
    )


def main() -> None:
    config = pulumi.Config()
    secrets = {}
    password = config.get_secret(GRAFANA_PASSWORD_CONFIG)
    if password is not None:
        secrets[GRAFANA_PASSWORD_CONFIG] = password
    try:
        # Everything is validated, and cross-checked, before the first resource (the provider) is registered.
        data, root = mesh_data({CONFIG_KEY: config.get_object(CONFIG_KEY), MESH_FILE_KEY: config.get(MESH_FILE_KEY)})
        spec = parse_mesh(data, root=root)
        cluster = parse_cluster(config.get_object(CLUSTER_KEY), root=CLUSTER_KEY)
        for key in required_secret_config(spec):  # e.g. the PEM files of a supplied mesh CA
            value = config.get_secret(key)
            if value is not None:
                secrets[key] = value
        preflight(spec, secrets, omit_secrets=cluster.render_dir is not None and not cluster.render_secrets)
    except ConfigError as error:
        pulumi.log.error(str(error))
        sys.exit(1)

    if cluster.render_dir is not None and cluster.render_secrets and secrets:
        pulumi.log.warn(f"cluster.renderSecrets is on: {', '.join(sorted(secrets))} will be written to "
                        f"{cluster.render_dir} in base64 (not encrypted); keep that directory out of version control")
    # The provider goes through resource options, as Pulumi components take it; every child inherits it.
    mesh = Mesh("mesh", MeshArgs(spec=spec, secrets=secrets, nodeless=cluster.nodeless,
                                 omit_secrets=cluster.render_dir is not None and not cluster.render_secrets),
                pulumi.ResourceOptions(provider=provider_for(cluster)))
    pulumi.export("revision", mesh.revision)
    pulumi.export("hosts", mesh.hosts)
    pulumi.export("urls", mesh.urls)
    # What app teams' stacks read through a StackReference (README "Splitting a mesh across stacks").
    pulumi.export("platformFacts", mesh.platform_facts)
    # Rollout progress (python -m mesh_rollout.rollout writes it to the stack file; each of its ups publishes it here).
    pulumi.export("rollout", config.get_object("rollout") or {})


main()
