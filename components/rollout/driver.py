"""The rollout command: reads the stack's policy, moves the split step by step through the Automation API, asks
Prometheus after every soak, and records its progress in the stack file.

The engine and Prometheus are behind small interfaces (:class:`PulumiEngine`, :class:`~.prometheus.PrometheusClient`)
so the whole loop also runs against fakes in the unit tests; every decision comes from :mod:`.steps`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, Protocol, TextIO

from ..checks import errors, run_checks
from ..plan import endpoints
from ..spec import ConfigError, RolloutSpec, duration_seconds, mesh_data, parse_mesh, read_stack_file
from .prometheus import PrometheusClient, QueryResult
from .queries import Gate, gates_for, window_of
from .stackfile import EditError, StackFiles, stack_config_dir
from .steps import Decision, Measurement, Start, StartPlan, Step, Verdict, decide, format_weights, plan_start

#: Exit statuses of ``python -m mesh_rollout.rollout``.
OK, ROLLED_BACK, USAGE, REFUSED, ENGINE_FAILED, INTERRUPTED = 0, 1, 2, 3, 4, 130


class RolloutError(Exception):
    """The rollout cannot start: bad config, unknown service, nothing deployed. Nothing was changed."""

    def __init__(self, message: str, status: int = USAGE):
        super().__init__(message)
        self.status = status


class StackLocked(Exception):
    """Another update holds the stack's lock (Pulumi's ``ConcurrentUpdateError``)."""


class EngineFailed(Exception):
    """``pulumi up`` failed for another reason; the message is the end of its output."""


@dataclass(frozen=True)
class Deployed:
    """What the stack's state holds for the service."""

    #: URN of the service's VirtualService, the only resource a step's ``up`` targets.
    virtual_service: str
    #: Subsets of the service's deployed DestinationRule.
    subsets: frozenset[str]


class Engine(Protocol):
    def locate(self, service: str, namespace: str) -> Deployed | None: ...

    def up(self, targets: list[str], message: str) -> dict[str, int]: ...


class PulumiEngine:
    """The stack through Pulumi's Automation API, with the project directory's program (a local workspace)."""

    def __init__(self, project: Path, stack_name: str):
        from pulumi import automation as auto

        self._auto = auto
        self.stack_name = stack_name
        try:
            # Select, never create: a rollout of a stack that was never deployed has nothing to roll.
            self.stack = auto.select_stack(stack_name=stack_name, work_dir=str(project))
        except auto.StackNotFoundError:
            backend = os.environ.get("PULUMI_BACKEND_URL") or "the current pulumi login"
            raise RolloutError(f"stack {stack_name!r} does not exist in {backend}: create and deploy it first "
                               f"(pulumi stack init, pulumi up)") from None
        except auto.CommandError as error:
            raise RolloutError(f"cannot select stack {stack_name!r}:\n{_tail(str(error))}", ENGINE_FAILED) from None
        #: URNs of the resources the last up changed (anything but "same").
        self.changed: list[str] = []

    def locate(self, service: str, namespace: str) -> Deployed | None:
        try:
            resources = (self.stack.export_stack().deployment or {}).get("resources") or []
        except self._auto.CommandError as error:
            raise RolloutError(f"cannot read the state of stack {self.stack_name!r}:\n{_tail(str(error))}",
                               ENGINE_FAILED) from None
        route: str | None = None
        subsets: frozenset[str] = frozenset()
        for resource in resources:
            kind, inputs = resource.get("type", ""), resource.get("inputs") or {}
            meta = inputs.get("metadata") or {}
            if not kind.startswith("kubernetes:networking.istio.io/") or \
                    (meta.get("name"), meta.get("namespace")) != (service, namespace):
                continue
            if kind.endswith(":VirtualService"):
                route = resource["urn"]
            elif kind.endswith(":DestinationRule"):
                subsets = frozenset(str(s["name"]) for s in (inputs.get("spec") or {}).get("subsets") or []
                                    if s.get("name"))
        return Deployed(route, subsets) if route else None

    def up(self, targets: list[str], message: str) -> dict[str, int]:
        auto = self._auto
        self.changed = []

        def collect(event: Any) -> None:
            pre = getattr(event, "resource_pre_event", None)
            if pre is not None and pre.metadata.op != auto.OpType.SAME:
                self.changed.append(pre.metadata.urn)

        try:
            result = self.stack.up(target=targets, message=message, color="never", on_event=collect)
        except auto.ConcurrentUpdateError as error:
            raise StackLocked(str(error)) from None
        except auto.CommandError as error:
            raise EngineFailed(_tail(str(error))) from None
        # The engine's JSON names the operations ("create", "same"); the SDK annotates the keys as OpType (a str enum).
        changes = result.summary.resource_changes or {}
        return {str(getattr(op, "value", op)): count for op, count in changes.items()}


def _tail(text: str, lines: int = 12) -> str:
    kept = [line for line in text.splitlines() if line.strip()]
    return "\n".join(kept[-lines:])


# ----------------------------------------------------------------------------------------------------- the command

@dataclass
class Options:
    #: A stack name (``dev``) or a stack file (``stacks/Pulumi.dev.yaml``).
    stack: str
    service: str
    project: Path | None = None
    dry_run: bool = False
    resume: bool = False


def find_project(start: Path) -> Path | None:
    for directory in (start, *start.parents):
        if (directory / "Pulumi.yaml").is_file():
            return directory
    return None


def resolve(options: Options) -> tuple[str, Path, Path]:
    """``(stack name, stack file, project directory)``."""
    given = Path(options.stack)
    if given.suffix in (".yaml", ".yml") or "/" in options.stack:
        if not given.is_file():
            raise RolloutError(f"{options.stack}: no such stack file")
        name = given.name.removeprefix("Pulumi.").rsplit(".", 1)[0]
        project = options.project or find_project(given.resolve().parent)
        if project is None:
            raise RolloutError(f"{options.stack}: no Pulumi.yaml above it (pass --project)")
        return name, given, project
    project = options.project or find_project(Path.cwd()) or Path(__file__).resolve().parents[2]
    if not (project / "Pulumi.yaml").is_file():
        raise RolloutError(f"{project}: not a Pulumi project (no Pulumi.yaml); pass --project")
    stack_file = stack_config_dir(project) / f"Pulumi.{options.stack}.yaml"
    if not stack_file.is_file():
        raise RolloutError(f"stack {options.stack!r}: no stack file {stack_file}")
    return options.stack, stack_file, project


def _now_iso(now: Callable[[], float]) -> str:
    return dt.datetime.fromtimestamp(now(), dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _age(timestamp: Any, now: Callable[[], float]) -> str:
    try:
        then = dt.datetime.strptime(str(timestamp), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)
    except ValueError:
        return "an unknown time"
    seconds = max(0, int(now() - then.timestamp()))
    return f"{seconds}s" if seconds < 120 else f"{seconds // 60}m"


def owner_alive(owner: Any, host: str) -> bool | None:
    """Whether the process ``host:pid`` still runs: ``None`` when it ran on another host (cannot be told)."""
    owner_host, _, pid = str(owner or "").rpartition(":")
    if owner_host != host:
        return None
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


@dataclass
class Rollout:
    """One run of the command. :meth:`run` returns the exit status."""

    options: Options
    engine_factory: Callable[[Path, str], Engine] = PulumiEngine
    prometheus_factory: Callable[[str], Any] = PrometheusClient
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    sleep: Callable[[float], None] = time.sleep
    now: Callable[[], float] = time.time
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)

    # --- output

    def _say(self, text: str, end: str = "\n") -> None:
        self.out.write(text + end)
        self.out.flush()

    def _warn(self, text: str) -> None:
        self.err.write(text + "\n")
        self.err.flush()

    # --- setup

    def _load(self) -> None:
        self.stack_name, self.stack_file, self.project = resolve(self.options)
        try:
            config = read_stack_file(self.stack_file)
            data, root = mesh_data(config, self.project)
            self.spec = spec = parse_mesh(data, root=root)
        except ConfigError as error:
            raise RolloutError(str(error)) from None
        found = errors(run_checks(spec))
        if found:
            raise RolloutError("the stack's mesh does not pass its checks:\n" + "\n".join(f"  - {f}" for f in found))
        name = self.options.service
        if name not in spec.services:
            raise RolloutError(f"stack {self.stack_name!r} has no service {name!r} (services: "
                               f"{', '.join(sorted(spec.services)) or 'none'})")
        self.service = spec.services[name]
        if self.service.rollout is None:
            raise RolloutError(f"services.{name} has no rollout policy: add services.{name}.rollout "
                               f"(canary, stable, steps, soak, gates) to the mesh of stack {self.stack_name!r}")
        self.policy: RolloutSpec = self.service.rollout
        prometheus_url = self.policy.prometheus or (
            endpoints(spec.observability, spec.cluster_domain).prometheus if spec.observability else None)
        if not prometheus_url:
            raise RolloutError(f"services.{name}.rollout has no Prometheus to query: set rollout.prometheus "
                               f"(or observability.prometheus.url)")
        self.prometheus_url: str = prometheus_url
        self.gates: list[Gate] = gates_for(self.policy, name, self.service.namespace)
        self.files = StackFiles(self.stack_file, self.project)

    def _header(self) -> str:
        policy = self.policy
        return (f"rollout of {self.options.service} ({self.service.namespace}) on stack {self.stack_name}: "
                f"{policy.stable} -> {policy.canary}, steps {' '.join(map(str, policy.steps))}, soak {policy.soak}, "
                f"gates {', '.join(g.condition() for g in self.gates)} over {window_of(policy)}, "
                f"prometheus {self.prometheus_url}")

    def _dry_run(self) -> int:
        plan = plan_start(self.policy, self.service.traffic.split, self.files.records().get(self.options.service),
                          resume=False, owner_alive=False)
        self._say(f"dry run (nothing is changed): {self._header()}")
        self._say(f"  now: {format_weights(plan.last_good) or '(no split)'}")
        for step in plan.steps:
            self._say(f"  step {step.label}  {format_weights(step.weights)}: set the split, up targeting only the "
                      f"{self.options.service} VirtualService, soak {self.policy.soak}, check the gates")
        if not plan.steps:
            self._say(f"  no step to run: {plan.reason}")
        self._say(f"  gates (GET {self.prometheus_url}/api/v1/query):")
        for gate in self.gates:
            self._say(f"    {gate.condition()}:  {gate.promql}")
        self._say(f"  no data or Prometheus unreachable: hold (at most {self.policy.max_holds} per step), then roll "
                  f"back to the last good weights")
        return OK

    # --- progress record

    def _save(self, status: str, message: str, **changes: Any) -> None:
        self.record.update(changes)
        self.record.update(status=status, message=message, owner=f"{self.host}:{self.pid}",
                           updatedAt=_now_iso(self.now))
        with self.files.locked():
            self.files.write_record(self.options.service, self.record)

    def _claim(self, take: bool = True) -> int | None:
        """Check and (with ``take``) take the stack's rollout lease (one rollout per stack); returns an exit status
        to stop with. Checked once before anything else (a second rollout is refused at once), then again and taken
        under the lock once the stack's state has been read."""
        name = self.options.service
        with self.files.locked():
            records = self.files.records()
            for other, record in sorted(records.items()):
                if other != name and record.get("status") == "running" and \
                        owner_alive(record.get("owner"), self.host) is not False:
                    self._warn(f"refused: a rollout of {other} on stack {self.stack_name} is running (owner "
                               f"{record.get('owner')}, {record.get('message', '')}, updated "
                               f"{_age(record.get('updatedAt'), self.now)} ago). One rollout per stack at a time: "
                               f"wait for it to finish.")
                    return REFUSED
            mine = records.get(name)
            self.previous = dict(mine or {})
            alive = owner_alive(mine.get("owner"), self.host) if mine else False
            self.start: StartPlan = plan_start(self.policy, self.service.traffic.split, mine, self.options.resume,
                                               alive)
            if self.start.kind is Start.REFUSE:
                if self.start.reason.startswith("nothing to resume"):
                    self._warn(f"{self.start.reason}: start a new rollout without --resume")
                    return USAGE
                where = "" if alive else ", on another machine"
                running = mine or {}
                self._warn(f"refused: a rollout of {name} on stack {self.stack_name} is already running (owner "
                           f"{running.get('owner')}{where}, {running.get('message', '')}, updated "
                           f"{_age(running.get('updatedAt'), self.now)} ago). One rollout per stack at a time: wait "
                           f"for it to finish"
                           + (", or stop it (Ctrl-C) and rerun: it resumes where it stopped." if alive else
                              "; if it is no longer running, rerun with --resume to continue where it stopped."))
                return REFUSED
            if self.start.kind is Start.DONE:
                self._say(f"nothing to do: {self.start.reason} ({format_weights(self.start.last_good)})")
                return OK
            if not take:
                return None
            #: The progress record as the stack file holds it (plain YAML data: weights, counters, texts).
            self.record: dict[str, Any] = {"status": "running", "step": self.start.steps[0].number - 1,
                           "steps": len(self.policy.steps), "weights": dict(self.start.last_good),
                           "lastGood": dict(self.start.last_good), "baseline": dict(self.start.baseline),
                           "holds": 0, "message": "", "owner": "", "updatedAt": ""}
            verb = "resuming" if self.start.kind is Start.RESUME else "starting"
            self.record.update(status="running", message=f"{verb} at step {self.start.steps[0].label}",
                               owner=f"{self.host}:{self.pid}", updatedAt=_now_iso(self.now))
            self.files.write_record(name, self.record)
        return None

    # --- the loop

    def run(self) -> int:
        try:
            self._load()
        except RolloutError as error:
            self._warn(str(error))
            return error.status
        if self.options.dry_run:
            return self._dry_run()
        stop = self._claim(take=False)
        if stop is not None:
            return stop
        try:
            self.engine = self.engine_factory(self.project, self.stack_name)
            self.deployed = self.engine.locate(self.options.service, self.service.namespace)
        except RolloutError as error:
            self._warn(str(error))
            return error.status
        problem = self._deployment_problem()
        if problem:
            self._warn(problem)
            return USAGE
        self.prometheus = self.prometheus_factory(self.prometheus_url)
        stop = self._claim()
        if stop is not None:
            return stop
        self._say(self._header())
        if self.start.kind is Start.RESUME:
            self._say(f"resuming at step {self.start.steps[0].label} from {format_weights(self.start.last_good)} "
                      f"(previous run: {self.previous.get('message') or self.previous.get('status')})")
        self.started = time.monotonic()
        self.current: Step | None = None
        self.applied = False
        previous = signal.signal(signal.SIGTERM, _interrupt) if _main_thread() else None
        try:
            for step in self.start.steps:
                status = self._run_step(step)
                if status is not None:
                    return status
            return self._finish()
        except KeyboardInterrupt:
            return self._interrupted()
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)

    def _deployment_problem(self) -> str | None:
        name, namespace = self.options.service, self.service.namespace
        if self.deployed is None:
            return (f"stack {self.stack_name!r} has no VirtualService for {namespace}/{name} in its state: deploy the "
                    f"service with its versions and a split first (pulumi up); a rollout only changes the weights")
        missing = sorted({self.policy.stable, self.policy.canary} - self.deployed.subsets)
        if missing:
            return (f"the DestinationRule of {namespace}/{name} deployed on stack {self.stack_name!r} has no subset "
                    f"{', '.join(missing)}: run pulumi up first (a rollout deploys only the VirtualService, and "
                    f"routing to a missing subset fails with 503)")
        return None

    def _deploy(self, weights: dict[str, int], what: str) -> str:
        """Write ``weights`` to the split and up only the VirtualService; ``applied`` or ``unchanged``."""
        assert self.deployed is not None, "checked by _deployment_problem before the first step"
        with self.files.locked():
            self.files.write_split(self.options.service, weights)
        changes = self.engine.up([self.deployed.virtual_service],
                                 message=f"rollout {self.options.service}: {what}: {format_weights(weights)}")
        others = [urn for urn in getattr(self.engine, "changed", []) if urn != self.deployed.virtual_service]
        if others:
            self._warn(f"warning: the up also changed {', '.join(others)}")
        return "applied" if changes.get("update") or changes.get("create") else "unchanged"

    def _restore_split(self) -> None:
        """Put the last good weights back in the file after an up that did not deploy anything."""
        with self.files.locked():
            self.files.write_split(self.options.service, self.record["lastGood"])

    def _run_step(self, step: Step) -> int | None:
        self.current, self.applied = step, False
        self._save("running", f"step {step.label}: deploying {format_weights(step.weights)}",
                   weights=dict(step.weights), holds=0)
        self._say(f"step {step.label}  {format_weights(step.weights)}:", end="")
        try:
            result = self._deploy(step.weights, f"step {step.label}")
        except StackLocked:
            return self._locked(step)
        except (EngineFailed, EditError) as error:
            return self._engine_failed(step, error)
        self.applied = True
        soak = duration_seconds(self.policy.soak)
        holds = 0
        self._save("running", f"step {step.label}: {format_weights(step.weights)} {result}, soaking {self.policy.soak}")
        self._say(f" {result}", end="")
        while True:
            self._say(f", soak {self.policy.soak}", end="")
            self.sleep(soak)
            measurements = [self._measure(gate) for gate in self.gates]
            decision = decide(measurements, holds, self.policy.max_holds)
            if decision.verdict is Verdict.PROMOTE:
                self._say(f": promote ({decision.reason})")
                self._save("running", f"step {step.label} promoted: {decision.reason}", step=step.number,
                           lastGood=dict(step.weights), holds=0)
                return None
            if decision.verdict is Verdict.HOLD:
                holds = decision.holds
                self._say(f": hold {holds}/{self.policy.max_holds} ({decision.reason})", end="")
                self._save("running", f"step {step.label}: hold {holds}/{self.policy.max_holds}, {decision.reason}",
                           holds=holds)
                continue
            self._say(f": ROLLBACK ({decision.reason})")
            return self._rollback(step, decision)

    def _measure(self, gate: Gate) -> Measurement:
        result: QueryResult = self.prometheus.query(gate.promql)
        return Measurement(gate, tuple(result.values), result.problem)

    def _rollback(self, step: Step, decision: Decision) -> int:
        good = dict(self.record["lastGood"])
        at = "the weights before the rollout" if self.record["step"] == 0 else \
            f"the last good weights, step {self.record['step']}/{self.record['steps']}"
        why = f"{self.policy.canary} failed step {step.label}: {decision.reason}"
        self._save("rolled-back", f"rolled back to {format_weights(good)} ({at}): {why}", weights=good)
        try:
            self._deploy(good, f"roll back from step {step.label}")
        except (StackLocked, EngineFailed, EditError) as error:
            self._save("rollback-failed", f"the rollback to {format_weights(good)} was NOT deployed: "
                                          f"{_first_line(error)}", weights=dict(step.weights))
            self._warn(f"ROLLBACK NOT DEPLOYED: {self.options.service} still runs {format_weights(step.weights)}; the "
                       f"split in the stack file says {format_weights(good)}: run `pulumi up --stack "
                       f"{self.stack_name}` to deploy it.\n{error}")
            return ENGINE_FAILED
        self._say(f"rolled back: {self.options.service} is back at {format_weights(good)} ({at}): {why}")
        return ROLLED_BACK

    def _finish(self) -> int:
        final = self.policy.weights(100)
        took = int(time.monotonic() - self.started)
        self._save("promoted", f"promoted: {self.policy.canary} has 100% of the traffic", weights=final,
                   lastGood=final, holds=0)
        try:
            self._deploy(final, "promoted")  # publishes the final record in the stack's outputs; no resource changes
        except (StackLocked, EngineFailed, EditError) as error:
            self._warn(f"warning: the final record was not published to the stack outputs: {_first_line(error)}")
        self._say(f"promoted: {self.options.service} sends 100% to {self.policy.canary} ({len(self.policy.steps)} "
                  f"steps, {took}s); progress in {self._where()}")
        return OK

    def _where(self) -> str:
        path = os.path.relpath(self.stack_file) if not os.path.relpath(self.stack_file).startswith("..") \
            else str(self.stack_file)
        return f"{path} (mesh-rollout:rollout.{self.options.service})"

    def _locked(self, step: Step) -> int:
        self._restore_split()
        self._save("interrupted", f"step {step.label} not deployed: the stack was locked by another update",
                   weights=dict(self.record["lastGood"]))
        self._say(" not deployed (stack locked)")
        self._warn(f"refused: stack {self.stack_name} is locked by another update (another rollout, or a pulumi up, "
                   f"refresh or destroy). Step {step.label} was not deployed and the split is back at "
                   f"{format_weights(self.record['lastGood'])}. Rerun when that update has finished: the rollout "
                   f"resumes at step {step.label}. If no update is running (its process was killed), `pulumi cancel "
                   f"--stack {self.stack_name}` removes the stale lock.")
        return REFUSED

    def _engine_failed(self, step: Step, error: Exception) -> int:
        with contextlib.suppress(EditError):  # the failure is reported either way
            self._restore_split()
        self._save("failed", f"step {step.label} not deployed: {_first_line(error)}",
                   weights=dict(self.record["lastGood"]))
        self._say(" FAILED")
        self._warn(f"pulumi up of step {step.label} failed; the split is back at "
                   f"{format_weights(self.record['lastGood'])} and the rollout resumes at step {step.label} when "
                   f"rerun:\n{error}")
        return ENGINE_FAILED

    def _interrupted(self) -> int:
        step = self.current
        state = "deployed" if self.applied else "being deployed"
        where = f"step {step.label} ({format_weights(step.weights)} {state})" if step else "the start"
        self._save("interrupted", f"interrupted at {where}; rerun to resume")
        self._say(f"\ninterrupted at {where}: rerun to resume from step {step.label if step else 1}")
        return INTERRUPTED


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[-1] if text else type(error).__name__


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()

