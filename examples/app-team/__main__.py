"""An app team's program: routing and access for its own service, added to the mesh a platform stack runs.

The platform stack's published facts (its ``platformFacts`` output, read through a StackReference) let the checks
see both stacks: exposing the service through the platform's gateway, or allowing a caller the platform runs, is
accepted; a gateway or caller in neither stack fails the preview with the config path and what the platform
published.
"""

import pulumi
import pulumi_kubernetes as k8s

from mesh_rollout import PLATFORM_FACTS_OUTPUT, Access, AccessArgs, Traffic, TrafficArgs

config = pulumi.Config()
platform = pulumi.StackReference(config.require("platformStack"))
facts = platform.require_output(PLATFORM_FACTS_OUTPUT)
render_dir = config.get("renderDir")
provider = (k8s.Provider("cluster", render_yaml_to_directory=render_dir) if render_dir
            else k8s.Provider("cluster", context=config.get("context") or None))

services = config.require_object("services")
opts = pulumi.ResourceOptions(provider=provider)
traffic = Traffic("payments-traffic", TrafficArgs(services=services, platform=facts), opts)
access = Access("payments-access", AccessArgs(services=services, platform=facts), opts)

pulumi.export("hosts", traffic.hosts)
pulumi.export("policies", access.policies)
