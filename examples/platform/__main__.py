"""A platform team's program: the shared mesh, composed with the platform's own cluster resources, and the facts
app teams' stacks read from it (the stack output ``platformFacts``)."""

import pulumi
import pulumi_kubernetes as k8s

from mesh_rollout import PLATFORM_FACTS_OUTPUT, Mesh, MeshArgs

config = pulumi.Config()
render_dir = config.get("renderDir")
# One explicit provider for everything: the mesh gets it through resource options, like any other resource.
provider = (k8s.Provider("cluster", render_yaml_to_directory=render_dir) if render_dir
            else k8s.Provider("cluster", context=config.get("context") or None))

# Bad mesh config raises mesh_rollout.ConfigError (every problem with its config path) before anything registers.
mesh = Mesh("mesh", MeshArgs(spec=config.require_object("mesh")), pulumi.ResourceOptions(provider=provider))

# The platform's own resources next to the mesh: every team namespace the mesh enrols gets a quota, once the
# namespace exists.
for namespace in config.require_object("mesh")["namespaces"]:
    k8s.core.v1.ResourceQuota(
        f"quota-{namespace}",
        metadata={"name": "team-quota", "namespace": namespace},
        spec={"hard": {"requests.cpu": "8", "requests.memory": "16Gi", "pods": "100"}},
        opts=pulumi.ResourceOptions(provider=provider, depends_on=[mesh.injection]),
    )

# What app teams' Traffic and Access read through a StackReference (examples/README.md).
pulumi.export(PLATFORM_FACTS_OUTPUT, mesh.platform_facts)
pulumi.export("hosts", mesh.hosts)
