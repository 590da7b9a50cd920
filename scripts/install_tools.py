#!/usr/bin/env python3
"""Builds mesh-rollout's command-line tools from the committed Go modules under tools/ into one bin dir.

    scripts/install-tools.sh [TOOL...]            # the usual entry point, a thin wrapper of this script
    export PATH="$(scripts/install-tools.sh | tail -1):$PATH"
    python3 scripts/install_tools.py --verify [TOOL...]   # check go.mod/go.sum against the modules, build nothing

TOOLs (default: all, built in this order, one at a time): pulumi language-python language-yaml kubernetes istioctl
istio-assets cluster prometheus. Progress goes to stderr; the last line of stdout is the bin dir.

Every tool is built from tools/<module>/go.mod + go.sum with -mod=readonly: each module is the one go.sum names
(checked against it on download and on every build), nothing is resolved at build time, and every substitution the
Go module proxy forces is a commented `replace` in that go.mod. There is no fallback: a module that does not match
go.sum, a go.mod that disagrees with the repo's pins, or a binary that reports another version is an error.
A tool is rebuilt only when its stamp (a hash of its go.mod + go.sum and of the recipe below) changes or one of its
files is missing. See docs/tools.md.

Environment:
  MESH_ROLLOUT_TOOLS_DIR         install dir (default ${XDG_CACHE_HOME:-~/.cache}/mesh-rollout/tools): bin/, stamps/
  MESH_ROLLOUT_TOOLS_FORCE=1     rebuild even when the stamp is current
  MESH_ROLLOUT_ISTIO_HUB         image hub stamped into istioctl and Istio's charts (default docker.io/istio)
  MESH_ROLLOUT_ISTIO_ASSETS_DIR  where Istio's charts and add-ons go (default <tools dir>/../istio-<version>)
Needs: go (the version the go.mod files allow; GOTOOLCHAIN=local), a C compiler (cgo on), the Go module proxy for
modules not yet in the module cache.
"""
from __future__ import annotations

import base64
import dataclasses
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

# Bump when the build steps change in a way the table below does not show, so every stamp is invalidated.
RECIPE = 4
REPO_ROOT = Path(__file__).resolve().parent.parent
# Every go command: go.mod/go.sum are never changed, no VCS stamp (the repo's state is not the tool's), no
# workspace, no toolchain download, cgo as the existing binaries were built (fixed, not whatever `go env` guesses).
GO_ENV = {"GOFLAGS": "-mod=readonly -buildvcs=false", "GOWORK": "off", "GOTOOLCHAIN": "local", "CGO_ENABLED": "1"}
# Fixed flags of every build: paths trimmed and symbol tables dropped, so the output depends on the inputs only.
BUILD_FLAGS = ["-trimpath"]
BASE_LDFLAGS = "-s -w"


class ToolError(Exception):
    pass


def log(msg: str) -> None:
    print(f"[install-tools] {msg}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------------- helpers
def go(args: list[str], cwd: Path, env: dict | None = None, what: str = "") -> str:
    """Runs go; returns stdout; raises ToolError with go's own message (minus download chatter)."""
    full_env = {**os.environ, **GO_ENV, **(env or {})}
    proc = subprocess.run(["go", *args], cwd=cwd, env=full_env, capture_output=True, text=True)
    if proc.returncode:
        err = "\n".join(line_ for line_ in proc.stderr.splitlines() if not line_.startswith("go: downloading"))
        hint = ""
        if "checksum mismatch" in err or "missing go.sum entry" in err or "updates to go.mod needed" in err:
            hint = ("\n  go.mod/go.sum do not match the modules: the files were edited by hand, or a download was "
                    "tampered with. Nothing was built. To change a tool's modules see docs/tools.md.")
        raise ToolError(f"{what or 'go ' + ' '.join(args[:2])} failed in {rel(cwd)}:\n{err.strip()}{hint}")
    return proc.stdout


def rel(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def module(moddir: Path, path: str) -> dict:
    """go.mod's view of a module: Path, Version (as required) and Replace (if replaced). No download."""
    return json.loads(go(["list", "-m", "-json", path], moddir))


def download(moddir: Path, path: str) -> dict:
    """Downloads (or finds in the module cache) the module go.mod selects for `path`, checked against go.sum by go,
    then re-hashes the extracted directory (go's h1: dirhash) so an edited module cache is caught too."""
    info = json.loads(go(["mod", "download", "-json", path], moddir, what=f"go mod download {path}"))
    if info.get("Error"):
        raise ToolError(f"go mod download {path} in {rel(moddir)}: {info['Error']}")
    got = dirhash(Path(info["Dir"]), f"{info['Path']}@{info['Version']}")
    if got != info["Sum"]:
        raise ToolError(f"{info['Dir']} hashes to {got}, go.sum says {info['Sum']}: the module cache was modified "
                        "(go clean -modcache, then retry)")
    return info


def dirhash(directory: Path, prefix: str) -> str:
    """golang.org/x/mod/sumdb/dirhash.Hash1: the h1: hash go.sum records for a module's files."""
    names = sorted(f"{prefix}/{p.relative_to(directory).as_posix()}" for p in directory.rglob("*") if p.is_file())
    summary = "".join(
        f"{hashlib.sha256((directory / n[len(prefix) + 1:]).read_bytes()).hexdigest()}  {n}\n" for n in names)
    return "h1:" + base64.b64encode(hashlib.sha256(summary.encode()).digest()).decode()


def pin(name: str) -> str:
    """The version requirements.txt pins with ==."""
    text = (REPO_ROOT / "requirements.txt").read_text()
    m = re.search(rf"(?mi)^{re.escape(name)}\s*==\s*([0-9][0-9A-Za-z.+-]*)", text)
    if not m:
        raise ToolError(f"no '{name}==X.Y.Z' pin in requirements.txt")
    return m.group(1)


def istio_pin() -> str:
    text = (REPO_ROOT / "components" / "versions.py").read_text()
    m = re.search(r"""(?m)^DEFAULT_ISTIO_VERSION\s*(?::[^=]*)?=\s*["']([^"']+)["']""", text)
    if not m:
        raise ToolError('no DEFAULT_ISTIO_VERSION = "X.Y.Z" in components/versions.py')
    return m.group(1)


def same(what: str, built: str, pinned: str, where: str) -> None:
    if built != pinned:
        raise ToolError(f"{where} builds {what} {built}, but the repo pins {pinned}: bump {where} (docs/tools.md)")


def run_version(cmd: list[str], pattern: str) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PULUMI_SKIP_UPDATE_CHECK": "true"})
    m = re.search(pattern, proc.stdout + proc.stderr, re.M)
    return m.group(1) if m else f"<nothing matching {pattern!r} in: {(proc.stdout + proc.stderr).strip()[:200]}>"


def expect(tool: str, what: str, got: str, want: str) -> None:
    if got != want:
        raise ToolError(f"{tool}: the built {what} reports {got!r}, expected {want!r}; not installed")


# ----------------------------------------------------------------------------------------------- the table
@dataclasses.dataclass
class Build:
    """One `go build` in the tool's module: main packages (each a `tool` of its go.mod), output names, -X flags."""
    packages: list[str]
    outputs: list[str]
    ldflags: str = ""


@dataclasses.dataclass
class Tool:
    name: str
    module: str  # tools/<module>: the go.mod + go.sum this tool is built from
    facts: Callable[[Path], dict]  # versions read from go.mod and checked against the repo's pins
    builds: Callable[[dict], list[Build]] = lambda f: []
    check: Callable[[Path, dict], None] = lambda out, f: None  # runs the built binaries in out/
    reads: tuple[str, ...] = ()  # other tools/ modules the recipe uses (part of the stamp)
    prepare: Callable[[Path, Path, dict], Path] | None = None  # (module, scratch, facts) -> module to build in
    extra: Callable[[Path, dict], list[str]] | None = None  # (out, facts) -> non-Go files it put in out/
    assets: Callable[[dict, Path], None] | None = None  # (facts, scratch) -> copies files, no build
    register: Callable[[dict], None] | None = None  # after install


# pulumi -----------------------------------------------------------------------------------------------------
def pulumi_facts(moddir: Path) -> dict:
    v = module(moddir, "github.com/pulumi/pulumi/pkg/v3")["Version"]
    same("pulumi", v, "v" + pin("pulumi"), "tools/pulumi/go.mod")
    return {"version": v, "built": v, "source": f"github.com/pulumi/pulumi/pkg/v3@{v}"}


def pulumi_check(out: Path, f: dict) -> None:
    expect("pulumi", "pulumi version", run_version([str(out / "pulumi"), "version"], r"^(v\S+)$"), f["version"])


# Python language host ------------------------------------------------------------------------------------------
LANGUAGE_SCRIPTS = {  # file in bin/ -> (module dir that selects the sdk/v3 version, path inside sdk/v3)
    "pulumi-language-python-exec": ("tools/pulumi", "python/cmd/pulumi-language-python-exec"),
    "pulumi-resource-pulumi-python": ("tools/pulumi", "python/dist/pulumi-resource-pulumi-python"),
    # launcher for Python policy packs used by this old host
    "pulumi-analyzer-policy-python": ("tools/language-python", "python/dist/pulumi-analyzer-policy-python"),
}


def language_facts(moddir: Path) -> dict:
    host = module(moddir, "github.com/pulumi/pulumi/sdk/v3")["Version"]
    scripts = module(REPO_ROOT / "tools/pulumi", "github.com/pulumi/pulumi/sdk/v3")["Version"]
    same("the Python language host's scripts (sdk/v3)", scripts, "v" + pin("pulumi"), "tools/pulumi/go.mod")
    return {"version": host, "built": host, "source": f"github.com/pulumi/pulumi/sdk/v3@{host}",
            "scripts": f"github.com/pulumi/pulumi/sdk/v3@{scripts}"}


def language_extra(out: Path, f: dict) -> list[str]:
    for name, (moddir, inside) in LANGUAGE_SCRIPTS.items():
        src = Path(download(REPO_ROOT / moddir, "github.com/pulumi/pulumi/sdk/v3")["Dir"]) / inside
        shutil.copyfile(src, out / name)
        (out / name).chmod(0o755)
    return list(LANGUAGE_SCRIPTS)


def buildinfo_check(tool: str, binary: Path, path: str, version: str) -> None:
    """The binary's embedded build info names the module and version go.mod selects."""
    info = subprocess.run(["go", "version", "-m", str(binary)], capture_output=True, text=True).stdout
    m = re.search(r"(?m)^\tmod\t(\S+)\t(\S+)", info)
    expect(tool, f"{binary.name} (go version -m)", f"{m.group(1)}@{m.group(2)}" if m else "?", f"{path}@{version}")


# YAML language host ---------------------------------------------------------------------------------------------
YAML_HOST = "github.com/pulumi/pulumi-yaml"


def yaml_facts(moddir: Path) -> dict:
    v = module(moddir, YAML_HOST)["Version"]
    return {"version": v, "built": f"pulumi-language-yaml {v}", "source": f"{YAML_HOST}@{v}"}


# Kubernetes provider ----------------------------------------------------------------------------------------------
K8S_PROVIDER = "github.com/pulumi/pulumi-kubernetes/provider/v4"
K8S_CMD = K8S_PROVIDER + "/cmd/pulumi-resource-kubernetes"


def kubernetes_facts(moddir: Path) -> dict:
    m = module(moddir, K8S_PROVIDER)
    release = m["Version"].removeprefix("v")
    same("pulumi-kubernetes", release, pin("pulumi-kubernetes"), "tools/kubernetes/go.mod")
    src = m.get("Replace") or m
    return {"version": release, "built": release, "source": f"{K8S_PROVIDER}@{src['Version']} (v{release})"}


def kubernetes_prepare(moddir: Path, scratch: Path, f: dict) -> Path:
    """The provider's main package embeds files made by its go:generate step: copy the verified provider source
    next to a copy of go.mod + go.sum, generate them there, and point provider/v4 at that copy."""
    info = download(moddir, K8S_PROVIDER)
    build = scratch / "kubernetes-module"
    build.mkdir()
    for name in ("go.mod", "go.sum"):
        shutil.copyfile(moddir / name, build / name)
    shutil.copytree(info["Dir"], build / "provider")
    for p in [build / "provider", *(build / "provider").rglob("*")]:
        p.chmod(p.stat().st_mode | 0o200)
    cmd = build / "provider/cmd/pulumi-resource-kubernetes"
    go(["build", *BUILD_FLAGS, "-o", str(scratch / "generate"), str(cmd / "generate.go")], moddir,
       what="go build generate.go")
    subprocess.run([str(scratch / "generate")], cwd=cmd, env={**os.environ, "VERSION": f["version"]}, check=True)
    for name in ("schema-embed.json", "terraform-mapping-embed.json"):
        if not (cmd / name).stat().st_size:
            raise ToolError(f"kubernetes: generate.go did not write {name}")
    v = "v" + f["version"]
    go(["mod", "edit", f"-dropreplace={K8S_PROVIDER}@{v}", f"-replace={K8S_PROVIDER}@{v}=./provider"], build)
    return build


def kubernetes_check(out: Path, f: dict) -> None:
    """The version in the schema the plugin serves (generated with VERSION=<release>), read by the engine itself."""
    if not (BIN / "pulumi").exists():
        log("kubernetes: no pulumi in the bin dir: schema version not checked (build info still is)")
        return
    proc = subprocess.run([str(BIN / "pulumi"), "package", "get-schema", str(out / "pulumi-resource-kubernetes")],
                          capture_output=True, text=True, env={**os.environ, "PULUMI_SKIP_UPDATE_CHECK": "true"})
    failed = f"<get-schema failed: {proc.stderr[:300]}>"
    got = json.loads(proc.stdout).get("version") if proc.returncode == 0 else failed
    expect("kubernetes", "plugin (pulumi package get-schema)", str(got), f["version"])


def kubernetes_register(f: dict) -> None:
    """Registers the plugin in Pulumi's plugin cache (offline), so the engine finds it with
    PULUMI_IGNORE_AMBIENT_PLUGINS=true too; without a pulumi in bin/ there is nothing to register with."""
    pulumi = BIN / "pulumi"
    if not pulumi.exists():
        log("kubernetes: no pulumi in the bin dir yet: plugin not registered in Pulumi's plugin cache")
        return
    subprocess.run([str(pulumi), "plugin", "install", "resource", "kubernetes", f["version"], "--file",
                    str(BIN / "pulumi-resource-kubernetes"), "--reinstall"], check=True, stdout=sys.stderr,
                   env={**os.environ, "PULUMI_SKIP_UPDATE_CHECK": "true"})


# istioctl and Istio's charts --------------------------------------------------------------------------------------
def istio_facts(moddir: Path) -> dict:
    m = module(moddir, "istio.io/istio")
    release = m["Version"].removeprefix("v")
    same("Istio", release, istio_pin(), "tools/istioctl/go.mod")
    pseudo = (m.get("Replace") or m)["Version"]
    return {"version": release, "built": release, "source": f"istio.io/istio@{pseudo}", "revision": pseudo[-12:],
            "hub": os.environ.get("MESH_ROLLOUT_ISTIO_HUB") or "docker.io/istio",
            "goos": go(["env", "GOOS"], moddir).strip(), "goarch": go(["env", "GOARCH"], moddir).strip()}


def istioctl_ldflags(f: dict) -> str:
    # As istio's common/scripts/report_build_info.sh stamps a release.
    v = "istio.io/istio/pkg/version"
    return (f"-X {v}.buildVersion={f['version']} -X {v}.buildGitRevision={f['revision']} -X {v}.buildStatus=Clean "
            f"-X {v}.buildTag={f['version']} -X {v}.buildHub={f['hub']} -X {v}.buildOS={f['goos']} "
            f"-X {v}.buildArch={f['goarch']}")


def istioctl_check(out: Path, f: dict) -> None:
    got = run_version([str(out / "istioctl"), "version", "--remote=false", "--short"], r"^(?:client version: *)?(\S+)$")
    expect("istioctl", "istioctl version --remote=false", got, f["version"])


ISTIO_CHARTS = {"base": "base", "istiod": "istio-control/istio-discovery", "gateway": "gateway", "cni": "istio-cni",
                "ztunnel": "ztunnel"}
ISTIO_ADDONS = ["prometheus", "grafana", "jaeger", "kiali"]


def assets_dir(f: dict) -> Path:
    return Path(os.environ.get("MESH_ROLLOUT_ISTIO_ASSETS_DIR") or TOOLS_DIR.parent / f"istio-{f['version']}")


def istio_assets_facts(moddir: Path) -> dict:
    f = istio_facts(moddir)
    return {**f, "dest": str(assets_dir(f))}


def istio_assets(f: dict, scratch: Path) -> None:
    """Istio's charts and add-on manifests, out of the istio.io/istio module istioctl is built from. A release
    stamps chart versions and image hub/tag; the source tree says 1.0.0 and a test registry, so the copy does too."""
    src = Path(download(REPO_ROOT / "tools/istioctl", "istio.io/istio")["Dir"])
    dest, tmp = Path(f["dest"]), scratch / "istio-assets"
    for name, path in ISTIO_CHARTS.items():
        chart = tmp / "charts" / name
        shutil.copytree(src / "manifests/charts" / path, chart)
        meta = chart / "Chart.yaml"
        meta.chmod(0o644)
        meta.write_text(re.sub(r"(?m)^(version|appVersion):.*$", lambda m: f"{m.group(1)}: {f['version']}",
                               meta.read_text()))
        values = chart / "values.yaml"
        values.chmod(0o644)
        # Only the test-registry defaults: an empty hub/tag means "inherit global" and stays as it is.
        text = re.sub(r"(?m)^(\s*)hub: registry\.istio\.io/testing\s*$", lambda m: f"{m.group(1)}hub: {f['hub']}",
                      values.read_text())
        values.write_text(re.sub(r"(?m)^(\s*)tag: latest\s*$", lambda m: f"{m.group(1)}tag: {f['version']}", text))
    (tmp / "addons").mkdir()
    for name in ISTIO_ADDONS:
        shutil.copyfile(src / f"samples/addons/{name}.yaml", tmp / "addons" / f"{name}.yaml")
    for p in [tmp, *tmp.rglob("*")]:
        p.chmod(p.stat().st_mode | 0o200)
    dest.parent.mkdir(parents=True, exist_ok=True)
    old = dest.with_name(dest.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if dest.exists():
        dest.rename(old)
    shutil.move(str(tmp), dest)
    shutil.rmtree(old, ignore_errors=True)


# The local cluster and Prometheus -----------------------------------------------------------------------------------
def cluster_facts(moddir: Path) -> dict:
    kver = module(moddir, "k8s.io/kubernetes")["Version"]
    etcd = module(moddir, "go.etcd.io/etcd/server/v3")["Version"]
    return {"version": kver, "minor": kver.split(".")[1], "etcd": etcd, "built": f"kubernetes {kver}, etcd {etcd}",
            "source": f"k8s.io/kubernetes@{kver}, go.etcd.io/etcd/server/v3@{etcd}"}


def cluster_ldflags(f: dict) -> str:
    # As Kubernetes' hack/lib/version.sh: unstamped, clients see v0.0.0 and kubectl warns about version skew.
    return " ".join(f"-X {p}.gitVersion={f['version']} -X {p}.gitMajor=1 -X {p}.gitMinor={f['minor']} "
                    f"-X {p}.gitTreeState=clean -X {p}.buildDate=1970-01-01T00:00:00Z"
                    for p in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"))


def cluster_check(out: Path, f: dict) -> None:
    for b in ("kube-apiserver", "kube-controller-manager"):
        version = run_version([str(out / b), "--version"], r"^Kubernetes (\S+)")
        expect("cluster", f"{b} --version", version, f["version"])
    expect("cluster", "etcd --version", "v" + run_version([str(out / "etcd"), "--version"], r"^etcd Version: (\S+)"),
           f["etcd"])


def prometheus_facts(moddir: Path) -> dict:
    # github.com/prometheus/prometheus tags release X.Y.Z as v0.X0Y.Z (3.16.0 is v0.316.0).
    mver = module(moddir, "github.com/prometheus/prometheus")["Version"]
    m = re.fullmatch(r"v0\.(\d)(\d\d)\.(\d+)", mver)
    if not m:
        raise ToolError(f"prometheus: cannot read a release from module version {mver}")
    release = f"{m.group(1)}.{int(m.group(2))}.{m.group(3)}"
    return {"version": release, "built": f"prometheus {release}", "source": f"github.com/prometheus/prometheus@{mver}"}


def prometheus_check(out: Path, f: dict) -> None:
    got = run_version([str(out / "prometheus"), "--version"], r"^prometheus, version (\S+)")
    expect("prometheus", "prometheus --version", got, f["version"])


TOOLS = [
    Tool("pulumi", "tools/pulumi", pulumi_facts, check=pulumi_check, builds=lambda f: [
        Build(["github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"], ["pulumi"],
              f"-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version={f['version']}")]),
    # no version command: the build info check (every binary) is its version check
    Tool("language-python", "tools/language-python", language_facts, reads=("tools/pulumi",), extra=language_extra,
         builds=lambda f: [Build(["github.com/pulumi/pulumi/sdk/v3/python/cmd/pulumi-language-python"],
                                 ["pulumi-language-python"],
                                 f"-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version={f['version']}")]),
    # no version command either: the build info check is its version check
    Tool("language-yaml", "tools/yaml", yaml_facts, builds=lambda f: [
        Build([YAML_HOST + "/cmd/pulumi-language-yaml"], ["pulumi-language-yaml"],
              f"-X {YAML_HOST}/pkg/version.Version={f['version']}")]),
    Tool("kubernetes", "tools/kubernetes", kubernetes_facts, prepare=kubernetes_prepare, check=kubernetes_check,
         register=kubernetes_register, builds=lambda f: [
             Build([K8S_CMD], ["pulumi-resource-kubernetes"],
                   f"-X {K8S_PROVIDER}/pkg/version.Version={f['version']}")]),
    Tool("istioctl", "tools/istioctl", istio_facts, check=istioctl_check, builds=lambda f: [
        Build(["istio.io/istio/istioctl/cmd/istioctl"], ["istioctl"], istioctl_ldflags(f))]),
    Tool("istio-assets", "tools/istioctl", istio_assets_facts, assets=istio_assets),
    Tool("cluster", "tools/cluster", cluster_facts, check=cluster_check, builds=lambda f: [
        # one go build for the three Kubernetes binaries (they share most packages), then etcd; never in parallel
        Build(["k8s.io/kubernetes/cmd/kube-apiserver", "k8s.io/kubernetes/cmd/kube-controller-manager",
               "k8s.io/kubernetes/cmd/kubectl"], ["kube-apiserver", "kube-controller-manager", "kubectl"],
              cluster_ldflags(f)),
        Build(["go.etcd.io/etcd/server/v3"], ["etcd"])]),
    Tool("prometheus", "tools/prometheus", prometheus_facts, check=prometheus_check, builds=lambda f: [
        Build(["github.com/prometheus/prometheus/cmd/prometheus"], ["prometheus"],
              f"-X github.com/prometheus/common/version.Version={f['version']}")]),
]
BY_NAME = {t.name: t for t in TOOLS}

# ----------------------------------------------------------------------------------------------- the driver
TOOLS_DIR = Path(os.environ.get("MESH_ROLLOUT_TOOLS_DIR")
                 or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mesh-rollout" / "tools")
BIN = TOOLS_DIR / "bin"
STAMPS = TOOLS_DIR / "stamps"


def outputs(tool: Tool, f: dict) -> list[Path]:
    """What must exist for the stamp to count."""
    if tool.assets:
        d = Path(f["dest"])
        return [d / "charts/istiod/Chart.yaml", d / "addons/kiali.yaml"]
    names = [o for b in tool.builds(f) for o in b.outputs] + (list(LANGUAGE_SCRIPTS) if tool.extra else [])
    return [BIN / n for n in names]


def stamp_key(tool: Tool, f: dict) -> str:
    h = hashlib.sha256()
    for moddir in (tool.module, *tool.reads):
        for name in ("go.mod", "go.sum"):
            h.update(f"{moddir}/{name}\n".encode() + (REPO_ROOT / moddir / name).read_bytes())
    recipe = {"recipe": RECIPE, "go": go(["env", "GOVERSION"], REPO_ROOT).strip(), "env": GO_ENV,
              "flags": BUILD_FLAGS, "ldflags": BASE_LDFLAGS, "facts": f,
              "builds": [dataclasses.asdict(b) for b in tool.builds(f)]}
    h.update(json.dumps(recipe, sort_keys=True).encode())
    return h.hexdigest()


def verify(tool: Tool, f: dict, scratch: Path) -> Path:
    """Checks the tool's modules against go.sum (go loads every package of the build) without compiling.
    Returns the module directory to build in."""
    moddir = REPO_ROOT / tool.module
    if tool.assets:
        download(moddir, "istio.io/istio")
        return moddir
    if tool.extra:
        for d in {m for m, _ in LANGUAGE_SCRIPTS.values()}:
            download(REPO_ROOT / d, "github.com/pulumi/pulumi/sdk/v3")
    build_dir = tool.prepare(moddir, scratch, f) if tool.prepare else moddir
    declared = set(re.findall(r"(?m)^\s*(?:tool\s+)?(\S+)\s*$", section(build_dir / "go.mod", "tool")))
    packages = [p for b in tool.builds(f) for p in b.packages]
    if missing := [p for p in packages if p not in declared]:
        raise ToolError(f"{tool.name}: {missing} not declared with `tool` in {tool.module}/go.mod")
    go(["list", "-deps", *packages], build_dir, what=f"{tool.name}: checking {tool.module} (go list -deps)")
    return build_dir


def section(gomod: Path, directive: str) -> str:
    """The lines of a go.mod directive, single-line or block."""
    text = re.sub(r"//.*", "", gomod.read_text())
    blocks = re.findall(rf"(?ms)^{directive}\s*\((.*?)^\)", text)
    singles = re.findall(rf"(?m)^{directive}\s+([^(\s]\S*)\s*$", text)
    return "\n".join(blocks + singles)


def install(tool: Tool, verify_only: bool = False) -> None:
    moddir = REPO_ROOT / tool.module
    f = tool.facts(moddir)
    key = stamp_key(tool, f)
    stamp = STAMPS / tool.name
    if not verify_only and os.environ.get("MESH_ROLLOUT_TOOLS_FORCE") != "1" and stamp.exists() \
            and stamp.read_text().splitlines()[:1] == [key] and all(p.exists() for p in outputs(tool, f)):
        log(f"{tool.name}: up to date ({f['built']})")
        return
    with tempfile.TemporaryDirectory(prefix=f".build-{tool.name}-", dir=TOOLS_DIR) as tmp:
        scratch = Path(tmp)
        start = time.monotonic()
        build_dir = verify(tool, f, scratch)
        if verify_only:
            log(f"{tool.name}: {tool.module} verified ({f['built']}, {time.monotonic() - start:.0f}s)")
            return
        log(f"{tool.name}: building {f['built']} from {tool.module} ({f['source']})")
        out = scratch / "out"
        out.mkdir()
        files: list[str] = []
        if tool.assets:
            tool.assets(f, scratch)
        for b in tool.builds(f):
            t0 = time.monotonic()
            target = str(out / b.outputs[0]) if len(b.packages) == 1 else str(out) + "/"
            go(["build", *BUILD_FLAGS, "-ldflags", f"{BASE_LDFLAGS} {b.ldflags}".strip(), "-o", target, *b.packages],
               build_dir, what=f"{tool.name}: go build")
            log(f"{tool.name}: go build {' '.join(b.outputs)} took {time.monotonic() - t0:.0f}s")
            files += b.outputs
            for package, output in zip(b.packages, b.outputs, strict=True):
                m = json.loads(go(["list", "-json=Module", package], build_dir))["Module"]
                buildinfo_check(tool.name, out / output, m["Path"], m["Version"])
        if tool.extra:
            files += tool.extra(out, f)
        tool.check(out, f)
        for name in files:  # rename: a running binary keeps its old inode
            os.replace(out / name, BIN / name)
        if tool.register:
            tool.register(f)
        lines = [key, f"built={f['built']}", f"source={f['source']}", f"module={tool.module} (go.mod, go.sum)",
                 *(f"file={n}" for n in files)]
        if tool.assets:
            lines.append(f"dir={f['dest']}")
        STAMPS.joinpath(tool.name + ".tmp").write_text("\n".join(lines) + "\n")
        os.replace(STAMPS / (tool.name + ".tmp"), stamp)
        log(f"{tool.name}: installed {f['built']} in {time.monotonic() - start:.0f}s")


def main(argv: list[str]) -> int:
    verify_only = argv[:1] == ["--verify"]
    names = argv[1:] if verify_only else argv
    if any(n in ("-h", "--help") for n in names):
        print(__doc__, file=sys.stderr)
        return 0
    for var in ("MESH_ROLLOUT_K8S_PROVIDER_MODULE_VERSION", "MESH_ROLLOUT_ISTIO_MODULE_VERSION"):
        if os.environ.get(var):
            log(f"ERROR: {var} is no longer read: module versions live in tools/<tool>/go.mod (docs/tools.md)")
            return 2
    if os.environ.get("MESH_ROLLOUT_TOOLS_STRICT", "1") != "1":
        log("ERROR: MESH_ROLLOUT_TOOLS_STRICT=0: there is no fallback any more, strict is the only mode")
        return 2
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        log(f"ERROR: unknown tool(s) {unknown} (choose from: {' '.join(BY_NAME)})")
        return 2
    if shutil.which("go") is None:
        log("ERROR: the Go toolchain (go) is needed to build the tools; none on PATH")
        return 1
    wanted = [t for t in TOOLS if not names or t.name in names]  # fixed order: pulumi before kubernetes
    for d in (BIN, STAMPS):
        d.mkdir(parents=True, exist_ok=True)
    with open(TOOLS_DIR / ".lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"waiting for another install-tools run on {TOOLS_DIR}")
            fcntl.flock(lock, fcntl.LOCK_EX)
        for tool in wanted:
            try:
                install(tool, verify_only)
            except ToolError as e:
                msg = str(e) if str(e).startswith(tool.name + ":") else f"{tool.name}: {e}"
                log(f"ERROR: {msg}")
                return 1
            except subprocess.CalledProcessError as e:
                log(f"ERROR: {tool.name}: {' '.join(map(str, e.cmd))} failed (exit {e.returncode})")
                return 1
    print(BIN.resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
