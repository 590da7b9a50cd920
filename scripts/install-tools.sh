#!/usr/bin/env bash
# Builds (from the Go module proxy, with the local Go toolchain) the command-line
# tools mesh-rollout needs, at the versions this repo pins, into one bin dir.
#
#   scripts/install-tools.sh                    # all tools
#   scripts/install-tools.sh pulumi istioctl    # a subset: pulumi language-python kubernetes istioctl
#                                               #   cluster istio-assets prometheus
#   export PATH="$(scripts/install-tools.sh | tail -1):$PATH"
#
# Progress goes to stderr; the last line of stdout is the bin dir.
# Versions come from requirements.txt (pulumi, pulumi-kubernetes) and
# components/versions.py (DEFAULT_ISTIO_VERSION). See docs/tools.md.
#
# Environment:
#   MESH_ROLLOUT_TOOLS_DIR        install dir (default ${XDG_CACHE_HOME:-$HOME/.cache}/mesh-rollout/tools)
#   MESH_ROLLOUT_TOOLS_STRICT=1   fail instead of falling back when the Go module proxy does not
#                                 serve the pinned version of a tool (see docs/tools.md)
#   MESH_ROLLOUT_TOOLS_FORCE=1    rebuild even if the stamp says the tool is up to date (e.g. to
#                                 retry a pin that the proxy did not serve at the last build)
#   MESH_ROLLOUT_K8S_PROVIDER_MODULE_VERSION  pseudo-version of github.com/pulumi/pulumi-kubernetes/provider/v4
#                                 to build for the pinned pulumi-kubernetes release (overrides the table below)
#   MESH_ROLLOUT_ISTIO_MODULE_VERSION         pseudo-version of istio.io/istio for the pinned Istio release
#   MESH_ROLLOUT_ISTIO_HUB        image hub stamped into istioctl (default docker.io/istio)
#   MESH_ROLLOUT_ISTIO_ASSETS_DIR where Istio's charts and add-on manifests are copied
#                                 (default ${XDG_CACHE_HOME:-$HOME/.cache}/mesh-rollout/istio-<version>)
# Needs: go, python3 (reads go.mod JSON), GNU sort -V; network access to the Go module proxy.
set -euo pipefail

# Bump when the build recipe changes, so existing stamps are invalidated.
RECIPE=3

# Pseudo-versions of modules whose release tags the Go module proxy cannot resolve
# (no per-module tags / tags without a "v" prefix). "release=pseudo-version".
# pulumi-kubernetes: commit of the vX.Y.Z tag of pulumi/pulumi-kubernetes.
K8S_PROVIDER_PSEUDOS=(
  "4.25.0=v4.0.0-20260115033456-f47bc2d6f199"
)
# istio: commit of the X.Y.Z tag of istio/istio (release-X.Y branch).
ISTIO_PSEUDOS=(
  "1.30.4=v0.0.0-20260826214018-9739e10eb9d7"
)
# Newest github.com/pulumi/pulumi/sdk/v3 release served here that still contains the
# Python language host as a package of the sdk module (later releases moved it to its
# own module, github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3).
LEGACY_PY_HOST_SDK_VERSION=v3.68.0

log() { printf '[install-tools] %s\n' "$*" >&2; }
warn() { printf '[install-tools] WARNING: %s\n' "$*" >&2; }
die() { printf '[install-tools] ERROR: %s\n' "$*" >&2; exit 1; }

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS_DIR=${MESH_ROLLOUT_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mesh-rollout/tools}
BIN_DIR=$TOOLS_DIR/bin
STAMP_DIR=$TOOLS_DIR/stamps
STRICT=${MESH_ROLLOUT_TOOLS_STRICT:-0}
FORCE=${MESH_ROLLOUT_TOOLS_FORCE:-0}

export PULUMI_SKIP_UPDATE_CHECK=true
mkdir -p "$BIN_DIR" "$STAMP_DIR"
BIN_DIR=$(cd "$BIN_DIR" && pwd -P)

# ---------------------------------------------------------------- pins
pin_from_requirements() { # NAME -> version pinned with == in requirements.txt
  local v
  v=$(sed -n -E "s/^$1[[:space:]]*==[[:space:]]*([0-9][0-9A-Za-z.+-]*).*/\1/p" "$REPO_ROOT/requirements.txt" | head -n1)
  [[ -n $v ]] || die "no '$1==X.Y.Z' pin in $REPO_ROOT/requirements.txt"
  printf '%s' "$v"
}
istio_pin() {
  local v
  v=$(sed -n -E 's/^DEFAULT_ISTIO_VERSION[[:space:]]*(:[^=]*)?=[[:space:]]*["'\'']([^"'\'']+)["'\''].*/\2/p' \
    "$REPO_ROOT/components/versions.py" | head -n1)
  [[ -n $v ]] || die "no DEFAULT_ISTIO_VERSION = \"X.Y.Z\" in $REPO_ROOT/components/versions.py"
  printf '%s' "$v"
}

# ---------------------------------------------------------------- helpers
need_go() {
  command -v go >/dev/null 2>&1 || die "the Go toolchain (go) is needed to build the tools; none on PATH"
}

# Go commands run outside any repo module, with module downloads allowed.
gorun() { (cd "${GO_CWD:-/}" && GOFLAGS="-mod=mod -buildvcs=false" GOWORK=off go "$@"); }

served() { # MODULE VERSION -> true if the module proxy serves it
  gorun list -m "$1@$2" >/dev/null 2>&1
}
served_releases() { # MODULE -> served release versions (vX.Y.Z), oldest first
  gorun list -m -versions "$1" 2>/dev/null | tr ' ' '\n' | tail -n +2 |
    grep -E '^v[0-9]+\.[0-9]+\.[0-9]+$' | sort -V || true
}
version_ge() { # A B -> true if A >= B (sort -V order)
  [[ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n1)" == "$2" ]]
}
closest_release() { # MODULE WANT -> smallest served release >= WANT, else the largest served
  local mod=$1 want=$2 v last=""
  while read -r v; do
    [[ -z $v ]] && continue
    last=$v
    if version_ge "$v" "$want"; then printf '%s' "$v"; return 0; fi
  done < <(served_releases "$mod")
  [[ -n $last ]] || return 1
  printf '%s' "$last"
}
mod_dir() { # MODULE VERSION -> directory of the module in the module cache (downloads it)
  local out
  out=$(gorun mod download -json "$1@$2") || die "go mod download $1@$2 failed"
  printf '%s\n' "$out" | sed -n -E 's/^[[:space:]]*"Dir": "(.*)",?$/\1/p'
}
lookup() { # KEY TABLE_ENTRY... -> value for KEY in "key=value" entries
  local key=$1 e; shift
  for e in "$@"; do [[ ${e%%=*} == "$key" ]] && { printf '%s' "${e#*=}"; return 0; }; done
  return 1
}
nonlocal_replaces() { # GO.MOD -> "old[@v]=new@v" for every replace whose target is a module, not a path
  gorun mod edit -json "$1" | python3 -c '
import json, sys
for r in json.load(sys.stdin).get("Replace") or []:
    old, new = r["Old"], r["New"]
    if not new.get("Version"):
        continue  # local path: dropped
    o = old["Path"] + ("@" + old["Version"] if old.get("Version") else "")
    print(o + "=" + new["Path"] + "@" + new["Version"])'
}

# Throwaway module that requires MODULE@VERSION (plus extra requires) and repeats the
# non-local replace directives of the modules listed in REPLACES_FROM. Prints its dir.
WORK_DIRS=()
cleanup() { local d; for d in "${WORK_DIRS[@]}"; do [[ -n $d ]] && chmod -R u+w "$d" 2>/dev/null; rm -rf "$d"; done; rm -f "$BIN_DIR"/*.tmp; }
trap cleanup EXIT
new_workdir() { local d; d=$(mktemp -d "${TMPDIR:-/tmp}/mesh-rollout-tools.XXXXXX"); WORK_DIRS+=("$d"); printf '%s' "$d"; }

wrapper_module() { # DIR "mod@ver"... ; env REPLACES_FROM="gomodfile..."
  local dir=$1 req f r; shift
  # The go line is the local toolchain's, so every dependency's go line is satisfied.
  printf 'module local/mesh-rollout-tool-build\n\ngo %s\n' "$(gorun env GOVERSION | sed -E 's/^go//; s/[^0-9.].*$//')" >"$dir/go.mod"
  for req in "$@"; do GO_CWD=$dir gorun mod edit -require="$req"; done
  for f in ${REPLACES_FROM:-}; do
    while read -r r; do
      [[ -n $r ]] && GO_CWD=$dir gorun mod edit -replace="$r"
    done < <(nonlocal_replaces "$f")
  done
}

# go build in DIR; if a dependency version that DIR's module graph selects is not served
# by the module proxy (403), replace it with the closest served version (smallest
# release >= it, else the newest served) and retry. Substitutions are appended to
# $DIR/substitutes and logged; MESH_ROLLOUT_TOOLS_STRICT=1 makes them fatal.
go_build_subst() { # DIR NAME BUILD-ARGS...
  local dir=$1 name=$2 err mv m v c sub cand start rc
  shift 2
  err=$(mktemp); start=$(date +%s)
  : >"$dir/substitutes"
  for _ in 1 2 3 4 5 6; do
    rc=0
    GO_CWD=$dir gorun build "$@" 2> >(tee "$err" | grep -v '^go: downloading' >&2) || rc=$?
    wait
    if [[ $rc == 0 ]]; then
      log "$name: go build took $(( $(date +%s) - start ))s"; rm -f "$err"; return 0
    fi
    mv=$(grep -oE '[A-Za-z0-9._~/-]+@v[^: ]+: reading [^ ]+: 403' "$err" | sed -E 's/: reading.*//' | sort -u || true)
    [[ -n $mv ]] || { rm -f "$err"; die "$name: go build failed (exit $rc)"; }
    for m in $mv; do
      v=${m##*@}; m=${m%@*}
      cand=$( { served_releases "$m"; gorun list -m -f '{{.Version}}' "$m@latest" 2>/dev/null || true; } | sort -uV)
      sub=""
      while read -r c; do [[ -n $c ]] && version_ge "$c" "$v" && { sub=$c; break; }; done <<<"$cand"
      [[ -n $sub ]] || sub=$(printf '%s\n' "$cand" | grep . | tail -n1 || true)
      [[ -n $sub ]] || { rm -f "$err"; die "$name: dependency $m@$v is not served by the Go module proxy, and no other version of it is"; }
      fallback_or_die "$name: dependency $m@$v is not served by the Go module proxy; using $m@$sub instead"
      GO_CWD=$dir gorun mod edit -replace="$m=$m@$sub"
      printf '%s@%s=%s\n' "$m" "$v" "$sub" >>"$dir/substitutes"
    done
  done
  rm -f "$err"; die "$name: go build still failing after substituting dependencies"
}

timed() { # NAME CMD... -> runs CMD, logs wall time
  local name=$1 start rc=0; shift
  start=$(date +%s)
  "$@" || rc=$?
  log "$name: step took $(( $(date +%s) - start ))s (exit $rc)"
  return $rc
}

stamp_ok() { # TOOL KEY -> true if the stamp matches and every listed file exists
  local f=$STAMP_DIR/$1 b
  [[ $FORCE == 1 ]] && return 1
  [[ -f $f ]] || return 1
  [[ "$(head -n1 "$f")" == "$2" ]] || return 1
  while read -r b; do [[ -e $BIN_DIR/$b ]] || return 1; done < <(sed -n 's/^file=//p' "$f")
  return 0
}
write_stamp() { # TOOL KEY DETAIL-LINES...
  local f=$STAMP_DIR/$1; shift
  printf '%s\n' "$@" >"$f.tmp" && mv "$f.tmp" "$f"
}

adopt_existing() { # TOOL PATH VERSION STAMP-KEY: use a tool already installed outside our bin dir
  log "$1: using $2 (already $3)"
  ln -sfn "$2" "$BIN_DIR/$1"
  write_stamp "$1" "$4" "built=$3" "source=$2" "file=$1"
}

on_path_outside() { # NAME -> path of NAME on PATH, skipping our bin dir
  local d
  local IFS=:
  for d in $PATH; do
    [[ -z $d || ! -d $d ]] && continue
    [[ "$(cd "$d" && pwd -P)" == "$BIN_DIR" ]] && continue
    if [[ -x $d/$1 && ! -d $d/$1 ]]; then printf '%s' "$d/$1"; return 0; fi
  done
  return 1
}

install_file() { # SRC DEST-NAME [mode]
  rm -f "$BIN_DIR/$2"
  cp "$1" "$BIN_DIR/$2.tmp"
  chmod "${3:-0755}" "$BIN_DIR/$2.tmp"
  mv "$BIN_DIR/$2.tmp" "$BIN_DIR/$2"
}

up_to_date() { # TOOL
  local f=$STAMP_DIR/$1 req built
  req=$(head -n1 "$f" | sed -n -E 's/.*requested=([^ ]+).*/\1/p'); built=$(sed -n 's/^built=//p' "$f")
  if [[ ${req#v} == "${built#v}" ]]; then log "$1: up to date ($built)"
  else warn "$1: up to date: built $built, not the pinned $req (not served by the Go module proxy at build time; MESH_ROLLOUT_TOOLS_FORCE=1 retries; see docs/tools.md)"; fi
}

fallback_or_die() { # MESSAGE
  if [[ $STRICT == 1 ]]; then die "MESH_ROLLOUT_TOOLS_STRICT=1 forbids this fallback: $1"; fi
  warn "$1"
}

# ---------------------------------------------------------------- pulumi CLI
install_pulumi() {
  local pin want key ext ver dir
  pin=$(pin_from_requirements pulumi); want=v$pin
  key="pulumi requested=$want recipe=$RECIPE"
  if stamp_ok pulumi "$key"; then up_to_date pulumi; return; fi

  if ext=$(on_path_outside pulumi) && [[ "$(PULUMI_SKIP_UPDATE_CHECK=true "$ext" version 2>/dev/null)" == "$want" ]]; then
    adopt_existing pulumi "$ext" "$want" "$key"
    return
  fi

  need_go
  ver=$want
  if ! served github.com/pulumi/pulumi/pkg/v3 "$want"; then
    ver=$(closest_release github.com/pulumi/pulumi/pkg/v3 "$want") ||
      die "pulumi: the Go module proxy serves no release of github.com/pulumi/pulumi/pkg/v3"
    fallback_or_die "pulumi: github.com/pulumi/pulumi/pkg/v3@$want is not served by the Go module proxy; building the closest served release $ver instead (the Automation API accepts any CLI >= 3.1.0)"
  fi
  log "pulumi: building github.com/pulumi/pulumi/pkg/v3/cmd/pulumi@$ver"
  dir=$(new_workdir)
  REPLACES_FROM=$(mod_dir github.com/pulumi/pulumi/pkg/v3 "$ver")/go.mod \
    wrapper_module "$dir" "github.com/pulumi/pulumi/pkg/v3@$ver" "github.com/pulumi/pulumi/sdk/v3@$ver"
  GO_CWD=$dir timed pulumi gorun build -trimpath -o "$BIN_DIR/pulumi.tmp" \
    -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$ver" \
    github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
  local got; got=$(PULUMI_SKIP_UPDATE_CHECK=true "$BIN_DIR/pulumi.tmp" version)
  [[ $got == "$ver" ]] || die "pulumi: built binary reports '$got', expected '$ver'"
  mv "$BIN_DIR/pulumi.tmp" "$BIN_DIR/pulumi"
  write_stamp pulumi "$key" "built=$ver" "source=github.com/pulumi/pulumi/pkg/v3@$ver" "file=pulumi"
  log "pulumi: installed $BIN_DIR/pulumi ($got)"
}

# ---------------------------------------------------------------- Python language host
install_language_python() {
  local pin want key ext ver dir sdkdir mod=github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3
  pin=$(pin_from_requirements pulumi); want=v$pin
  key="language-python requested=$want recipe=$RECIPE"
  if stamp_ok language-python "$key"; then up_to_date language-python; return; fi

  # A Pulumi install of the right version elsewhere on PATH ships the host next to the CLI.
  if ext=$(on_path_outside pulumi) && [[ "$(PULUMI_SKIP_UPDATE_CHECK=true "$ext" version 2>/dev/null)" == "$want" ]] &&
    [[ -x $(dirname "$ext")/pulumi-language-python && -e $(dirname "$ext")/pulumi-language-python-exec ]]; then
    local d; d=$(dirname "$ext"); log "language-python: using the host next to $ext"
    ln -sfn "$d/pulumi-language-python" "$BIN_DIR/pulumi-language-python"
    ln -sfn "$d/pulumi-language-python-exec" "$BIN_DIR/pulumi-language-python-exec"
    [[ -e $d/pulumi-resource-pulumi-python ]] && ln -sfn "$d/pulumi-resource-pulumi-python" "$BIN_DIR/pulumi-resource-pulumi-python"
    write_stamp language-python "$key" "built=$want" "source=$d" "file=pulumi-language-python" "file=pulumi-language-python-exec"
    return
  fi

  need_go
  dir=$(new_workdir)
  local files=(pulumi-language-python pulumi-language-python-exec pulumi-resource-pulumi-python) pkg
  if served "$mod" "$want"; then
    ver=$want; pkg=$mod
    log "language-python: building $mod@$ver"
    local lm; lm=$(mod_dir "$mod" "$ver")/go.mod
    REPLACES_FROM=$lm wrapper_module "$dir" "$mod@$ver" "github.com/pulumi/pulumi/pkg/v3@$ver" "github.com/pulumi/pulumi/sdk/v3@$ver"
  else
    ver=$LEGACY_PY_HOST_SDK_VERSION; pkg=github.com/pulumi/pulumi/sdk/v3/python/cmd/pulumi-language-python
    fallback_or_die "language-python: $mod is not served by the Go module proxy (at any version); building the Python language host of github.com/pulumi/pulumi/sdk/v3@$ver (the last release that has it inside the sdk module) instead; pulumi-language-python-exec still comes from sdk/v3@$want"
    REPLACES_FROM=$(mod_dir github.com/pulumi/pulumi/sdk/v3 "$ver")/go.mod \
      wrapper_module "$dir" "github.com/pulumi/pulumi/sdk/v3@$ver"
  fi
  GO_CWD=$dir timed language-python gorun build -trimpath -o "$BIN_DIR/pulumi-language-python.tmp" \
    -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$ver" "$pkg"
  mv "$BIN_DIR/pulumi-language-python.tmp" "$BIN_DIR/pulumi-language-python"

  # The scripts the host runs: from the sdk module at the pinned version (they belong
  # with the pulumi Python package of that version).
  local sdkver=$want
  served github.com/pulumi/pulumi/sdk/v3 "$want" || sdkver=$ver
  sdkdir=$(mod_dir github.com/pulumi/pulumi/sdk/v3 "$sdkver")
  install_file "$sdkdir/python/cmd/pulumi-language-python-exec" pulumi-language-python-exec
  install_file "$sdkdir/python/dist/pulumi-resource-pulumi-python" pulumi-resource-pulumi-python
  # Policy packs: newer hosts run them themselves; older ones need this launcher.
  if [[ $ver == "$LEGACY_PY_HOST_SDK_VERSION" && -f $(mod_dir github.com/pulumi/pulumi/sdk/v3 "$ver")/python/dist/pulumi-analyzer-policy-python ]]; then
    install_file "$(mod_dir github.com/pulumi/pulumi/sdk/v3 "$ver")/python/dist/pulumi-analyzer-policy-python" pulumi-analyzer-policy-python
    files+=(pulumi-analyzer-policy-python)
  fi
  local stamp=("$key" "built=$ver" "source=$pkg@$ver" "scripts=github.com/pulumi/pulumi/sdk/v3@$sdkver")
  local f; for f in "${files[@]}"; do stamp+=("file=$f"); done
  write_stamp language-python "${stamp[@]}"
  log "language-python: installed $BIN_DIR/pulumi-language-python ($ver)"
}

# ---------------------------------------------------------------- Kubernetes provider
install_kubernetes() {
  local pin key pseudo rel src dir cmddir r req have
  local mod=github.com/pulumi/pulumi-kubernetes/provider/v4
  pin=$(pin_from_requirements pulumi-kubernetes)
  key="kubernetes requested=$pin recipe=$RECIPE"
  if stamp_ok kubernetes "$key"; then up_to_date kubernetes; return; fi

  local cached=${PULUMI_HOME:-$HOME/.pulumi}/plugins/resource-kubernetes-v$pin/pulumi-resource-kubernetes
  if [[ -x $cached ]]; then
    log "kubernetes: using the plugin already in Pulumi's plugin cache: $cached"
    ln -sfn "$cached" "$BIN_DIR/pulumi-resource-kubernetes"
    write_stamp kubernetes "$key" "built=$pin" "source=$cached" "file=pulumi-resource-kubernetes"
    return
  fi

  need_go
  rel=$pin
  if [[ -n ${MESH_ROLLOUT_K8S_PROVIDER_MODULE_VERSION:-} ]]; then
    pseudo=$MESH_ROLLOUT_K8S_PROVIDER_MODULE_VERSION
  elif ! pseudo=$(lookup "$pin" "${K8S_PROVIDER_PSEUDOS[@]}") || ! served "$mod" "$pseudo"; then
    # The newest release in the table that the proxy serves.
    pseudo=""
    local e
    while read -r e; do
      served "$mod" "${e#*=}" && { rel=${e%%=*}; pseudo=${e#*=}; }
    done < <(printf '%s\n' "${K8S_PROVIDER_PSEUDOS[@]}" | sort -t= -k1,1V)
    [[ -n $pseudo ]] || die "kubernetes: no pseudo-version of $mod for any known release is served"
    fallback_or_die "kubernetes: no servable pseudo-version of $mod for pulumi-kubernetes $pin is known (the Go module proxy serves $mod only at $pseudo = v$rel); building provider $rel. Set MESH_ROLLOUT_K8S_PROVIDER_MODULE_VERSION to the pseudo-version of the v$pin tag commit once it is served"
  fi
  served "$mod" "$pseudo" || die "kubernetes: $mod@$pseudo is not served by the Go module proxy"
  log "kubernetes: building $mod@$pseudo as pulumi-resource-kubernetes $rel"

  src=$(mod_dir "$mod" "$pseudo")
  dir=$(new_workdir)/provider
  cp -R "$src" "$dir"; chmod -R u+w "$dir"
  # Local replaces (../sdk etc.) do not exist outside the upstream repo: point each at a
  # served version of that module instead (the highest served <= the required one).
  while read -r r; do
    [[ -z $r ]] && continue
    req=$(GO_CWD=$dir gorun mod edit -json | python3 -c '
import json, sys
m = sys.argv[1]
print(next((r["Version"] for r in json.load(sys.stdin).get("Require") or [] if r["Path"] == m), ""))' "$r")
    GO_CWD=$dir gorun mod edit -dropreplace="$r"
    if [[ -n $req ]] && ! served "$r" "$req"; then
      have=""
      local v; while read -r v; do [[ -n $v ]] && { version_ge "$req" "$v" && have=$v; }; done < <(served_releases "$r")
      [[ -n $have ]] || have=$(served_releases "$r" | head -n1)
      [[ -n $have ]] || die "kubernetes: $r (replaced by a local path upstream) is not served at any version"
      log "kubernetes: $r: upstream uses a local checkout ($req); using served $have"
      GO_CWD=$dir gorun mod edit -replace="$r=$r@$have"
    fi
  done < <(GO_CWD=$dir gorun mod edit -json | python3 -c '
import json, sys
for r in json.load(sys.stdin).get("Replace") or []:
    if not r["New"].get("Version"):
        print(r["Old"]["Path"])')

  cmddir=$dir/cmd/pulumi-resource-kubernetes
  # go:generate step of the provider: versioned schema-embed.json / terraform-mapping-embed.json
  GO_CWD=$cmddir VERSION=$rel timed kubernetes-generate gorun run ./generate.go
  [[ -s $cmddir/schema-embed.json && -s $cmddir/terraform-mapping-embed.json ]] ||
    die "kubernetes: generate.go did not produce the embedded schema files"
  GO_CWD=$dir timed kubernetes gorun build -trimpath -o "$BIN_DIR/pulumi-resource-kubernetes.tmp" \
    -ldflags "-s -w -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$rel" \
    ./cmd/pulumi-resource-kubernetes
  mv "$BIN_DIR/pulumi-resource-kubernetes.tmp" "$BIN_DIR/pulumi-resource-kubernetes"

  # The engine finds the plugin on PATH ("ambient" plugin, whatever the version the SDK
  # asks for). When it is the pinned version, also register it in Pulumi's plugin cache
  # (offline, no download) so it is found with PULUMI_IGNORE_AMBIENT_PLUGINS=true too.
  # A fallback version is not registered: the engine only takes a cached plugin of the
  # exact version the SDK asks for, so it would just be a 300 MB copy.
  local pulumi_bin; pulumi_bin=$BIN_DIR/pulumi
  [[ -x $pulumi_bin ]] || pulumi_bin=$(command -v pulumi || true)
  if [[ -n $pulumi_bin && $rel == "$pin" ]]; then
    PULUMI_SKIP_UPDATE_CHECK=true "$pulumi_bin" plugin install resource kubernetes "$rel" \
      --file "$BIN_DIR/pulumi-resource-kubernetes" --reinstall >&2 ||
      warn "kubernetes: 'pulumi plugin install resource kubernetes $rel --file ...' failed; the plugin is still found on PATH"
  fi
  write_stamp kubernetes "$key" "built=$rel" "source=$mod@$pseudo" "file=pulumi-resource-kubernetes"
  log "kubernetes: installed $BIN_DIR/pulumi-resource-kubernetes ($rel)"
}

# ---------------------------------------------------------------- istioctl
istioctl_version() { # BINARY -> client version ("1.30.4"), offline
  "$1" version --remote=false --short 2>/dev/null | sed -n -E 's/^(client version: *)?([0-9][^ ]*)$/\2/p' | head -n1
}
install_istioctl() {
  local pin key ext pseudo dir hub rev goos goarch
  local mod=istio.io/istio
  pin=$(istio_pin)
  hub=${MESH_ROLLOUT_ISTIO_HUB:-docker.io/istio}
  key="istioctl requested=$pin hub=$hub recipe=$RECIPE"
  if stamp_ok istioctl "$key"; then up_to_date istioctl; return; fi

  if ext=$(on_path_outside istioctl) && [[ "$(istioctl_version "$ext")" == "$pin" ]]; then
    adopt_existing istioctl "$ext" "$pin" "$key"
    return
  fi

  need_go
  if [[ -n ${MESH_ROLLOUT_ISTIO_MODULE_VERSION:-} ]]; then
    pseudo=$MESH_ROLLOUT_ISTIO_MODULE_VERSION
  elif pseudo=$(lookup "$pin" "${ISTIO_PSEUDOS[@]}"); then
    :
  elif served "$mod" "$pin"; then
    pseudo=$(gorun list -m -f '{{.Version}}' "$mod@$pin")
  else
    die "istioctl: no known pseudo-version of $mod for Istio $pin; add \"$pin=<pseudo-version of the $pin tag commit>\" to ISTIO_PSEUDOS in $0 or set MESH_ROLLOUT_ISTIO_MODULE_VERSION"
  fi
  served "$mod" "$pseudo" || die "istioctl: $mod@$pseudo is not served by the Go module proxy"
  rev=${pseudo##*-}
  goos=$(gorun env GOOS); goarch=$(gorun env GOARCH)
  log "istioctl: building $mod/istioctl/cmd/istioctl@$pseudo as $pin"
  dir=$(new_workdir)
  REPLACES_FROM=$(mod_dir "$mod" "$pseudo")/go.mod wrapper_module "$dir" "$mod@$pseudo"
  local v=istio.io/istio/pkg/version
  go_build_subst "$dir" istioctl -trimpath -o "$BIN_DIR/istioctl.tmp" -ldflags "-s -w \
    -X $v.buildVersion=$pin -X $v.buildGitRevision=$rev -X $v.buildStatus=Clean -X $v.buildTag=$pin \
    -X $v.buildHub=$hub -X $v.buildOS=$goos -X $v.buildArch=$goarch" \
    istio.io/istio/istioctl/cmd/istioctl
  local got; got=$(istioctl_version "$BIN_DIR/istioctl.tmp" || true)
  [[ $got == "$pin" ]] || die "istioctl: built binary reports '$got', expected '$pin'"
  mv "$BIN_DIR/istioctl.tmp" "$BIN_DIR/istioctl"
  local subs=() l; while read -r l; do [[ -n $l ]] && subs+=("substituted=$l"); done <"$dir/substitutes"
  write_stamp istioctl "$key" "built=$pin" "source=$mod@$pseudo" "hub=$hub" ${subs[@]+"${subs[@]}"} "file=istioctl"
  log "istioctl: installed $BIN_DIR/istioctl ($got)"
}

# ---------------------------------------------------------------- local cluster (etcd, API server, ...)
# Built from the committed module tools/cluster (go.mod + go.sum): -mod=readonly, so every module is
# checksum-verified and nothing is resolved at build time. See docs/tools.md and docs/local-cluster.md.
CLUSTER_FILES=(etcd kube-apiserver kube-controller-manager kubectl)
install_cluster() {
  local moddir=$REPO_ROOT/tools/cluster key kver minor out
  key="cluster gomod=$(cat "$moddir/go.mod" "$moddir/go.sum" | sha256sum | cut -c1-16) recipe=$RECIPE"
  if stamp_ok cluster "$key"; then log "cluster: up to date ($(sed -n 's/^built=//p' "$STAMP_DIR/cluster"))"; return; fi
  need_go
  kver=$(cd "$moddir" && GOFLAGS="-mod=readonly -buildvcs=false" GOWORK=off go list -m -f '{{.Version}}' k8s.io/kubernetes) ||
    die "cluster: cannot read the k8s.io/kubernetes version from $moddir/go.mod"
  minor=$(printf '%s' "$kver" | cut -d. -f2)
  local ld="-s -w" pkg
  # Clients read the server's version from these (unset, they say v0.0.0 and kubectl warns about skew).
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $pkg.gitVersion=$kver -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
    ld+=" -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  out=$(new_workdir)
  log "cluster: building kube-apiserver, kube-controller-manager, kubectl $kver and etcd (cold: ~20 min, ~3 GB)"
  (cd "$moddir" && GOFLAGS="-mod=readonly -buildvcs=false" GOWORK=off timed cluster-kubernetes go build -trimpath \
    -ldflags "$ld" -o "$out/" k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kubectl) || die "cluster: go build of the Kubernetes binaries failed"
  (cd "$moddir" && GOFLAGS="-mod=readonly -buildvcs=false" GOWORK=off timed cluster-etcd go build -trimpath \
    -ldflags "-s -w" -o "$out/etcd" go.etcd.io/etcd/server/v3) || die "cluster: go build of etcd failed"
  local got f etcdver
  got=$("$out/kube-apiserver" --version 2>/dev/null | awk '{print $2}')
  [[ $got == "$kver" ]] || die "cluster: kube-apiserver reports '$got', expected '$kver'"
  etcdver=$("$out/etcd" --version 2>/dev/null | sed -n 's/^etcd Version: //p')
  for f in "${CLUSTER_FILES[@]}"; do install_file "$out/$f" "$f"; done
  local stamp=("$key" "built=kubernetes $kver, etcd $etcdver" "source=$moddir (go.mod, go.sum)")
  for f in "${CLUSTER_FILES[@]}"; do stamp+=("file=$f"); done
  write_stamp cluster "${stamp[@]}"
  log "cluster: installed ${CLUSTER_FILES[*]} into $BIN_DIR (kubernetes $kver, etcd $etcdver)"
}

# ---------------------------------------------------------------- Prometheus (rollout gates in the tests)
# Built from the committed module tools/prometheus (go.mod + go.sum, -mod=readonly) like the cluster. The module
# github.com/prometheus/prometheus tags release X.Y.Z as v0.X0Y.Z (3.16.0 is v0.316.0). The web UI's assets are not
# embedded (the HTTP API, all the rollout command uses, works without them).
install_prometheus() {
  local moddir=$REPO_ROOT/tools/prometheus key mver release out got
  key="prometheus gomod=$(cat "$moddir/go.mod" "$moddir/go.sum" | sha256sum | cut -c1-16) recipe=$RECIPE"
  if stamp_ok prometheus "$key"; then log "prometheus: up to date ($(sed -n 's/^built=//p' "$STAMP_DIR/prometheus"))"; return; fi
  need_go
  mver=$(cd "$moddir" && GOFLAGS="-mod=readonly -buildvcs=false" GOWORK=off go list -m -f '{{.Version}}' \
    github.com/prometheus/prometheus) || die "prometheus: cannot read its version from $moddir/go.mod"
  release=$(printf '%s' "$mver" | sed -E 's/^v0\.([0-9])([0-9]{2})\.([0-9]+)$/\1.\2.\3/; s/\.0([0-9])\./.\1./')
  out=$(new_workdir)
  log "prometheus: building Prometheus $release ($mver; cold: ~4 min)"
  (cd "$moddir" && GOFLAGS="-mod=readonly -buildvcs=false" GOWORK=off timed prometheus go build -trimpath \
    -ldflags "-s -w -X github.com/prometheus/common/version.Version=$release" -o "$out/prometheus" \
    github.com/prometheus/prometheus/cmd/prometheus) || die "prometheus: go build failed"
  got=$("$out/prometheus" --version 2>/dev/null | sed -n 's/^prometheus, version \([^ ]*\).*/\1/p')
  [[ $got == "$release" ]] || die "prometheus: built binary reports '$got', expected '$release'"
  install_file "$out/prometheus" prometheus
  write_stamp prometheus "$key" "built=prometheus $release" "source=$moddir (go.mod, go.sum)" "file=prometheus"
  log "prometheus: installed $BIN_DIR/prometheus ($release)"
}

# ---------------------------------------------------------------- Istio's charts and add-on manifests
# Istio's real Helm charts and sample add-ons ship inside the istio.io/istio module (the same source istioctl
# is built from). A release stamps the chart version and the image hub/tag; the source tree says 1.0.0 and a
# test registry, so the copy made here is stamped with the pinned release (the plan pins hub/tag in values too).
ISTIO_CHARTS=("base=base" "istiod=istio-control/istio-discovery" "gateway=gateway" "cni=istio-cni" "ztunnel=ztunnel")
ISTIO_ADDONS=(prometheus grafana jaeger kiali)
install_istio_assets() {
  local pin pseudo key dest src e name path hub
  pin=$(istio_pin)
  hub=${MESH_ROLLOUT_ISTIO_HUB:-docker.io/istio}
  pseudo=${MESH_ROLLOUT_ISTIO_MODULE_VERSION:-$(lookup "$pin" "${ISTIO_PSEUDOS[@]}" || true)}
  [[ -n $pseudo ]] || die "istio-assets: no known pseudo-version of istio.io/istio for Istio $pin (see ISTIO_PSEUDOS)"
  dest=${MESH_ROLLOUT_ISTIO_ASSETS_DIR:-$(dirname "$TOOLS_DIR")/istio-$pin}
  key="istio-assets requested=$pin source=$pseudo hub=$hub dest=$dest recipe=$RECIPE"
  if [[ $FORCE != 1 && -f $STAMP_DIR/istio-assets && "$(head -n1 "$STAMP_DIR/istio-assets")" == "$key" &&
        -f $dest/charts/istiod/Chart.yaml && -f $dest/addons/kiali.yaml ]]; then
    log "istio-assets: up to date ($dest)"; return
  fi
  need_go
  src=$(mod_dir istio.io/istio "$pseudo")
  [[ -d $src/manifests/charts ]] || die "istio-assets: $src has no manifests/charts"
  rm -rf "$dest.tmp"; mkdir -p "$dest.tmp/charts" "$dest.tmp/addons"
  for e in "${ISTIO_CHARTS[@]}"; do
    name=${e%%=*}; path=${e#*=}
    cp -R "$src/manifests/charts/$path" "$dest.tmp/charts/$name"
    chmod -R u+w "$dest.tmp/charts/$name"
    python3 - "$dest.tmp/charts/$name" "$pin" "$hub" <<'PY'
import pathlib, re, sys
chart, version, hub = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3]
meta = chart / "Chart.yaml"
text = re.sub(r"(?m)^(version|appVersion):.*$", lambda m: f"{m.group(1)}: {version}", meta.read_text())
meta.write_text(text)
values = chart / "values.yaml"
# The source tree's defaults point at Istio's test registry; a release rewrites them to the released images.
# Only the test-registry defaults: an empty hub/tag means "inherit global" and stays as it is.
text = re.sub(r"(?m)^(\s*)hub: registry\.istio\.io/testing\s*$", lambda m: f"{m.group(1)}hub: {hub}", values.read_text())
text = re.sub(r"(?m)^(\s*)tag: latest\s*$", lambda m: f"{m.group(1)}tag: {version}", text)
values.write_text(text)
PY
  done
  for name in "${ISTIO_ADDONS[@]}"; do cp "$src/samples/addons/$name.yaml" "$dest.tmp/addons/$name.yaml"; done
  chmod -R u+w "$dest.tmp"
  rm -rf "$dest"; mv "$dest.tmp" "$dest"
  write_stamp istio-assets "$key" "built=$pin" "source=istio.io/istio@$pseudo" "dir=$dest"
  log "istio-assets: Istio $pin charts (${ISTIO_CHARTS[*]%%=*}) and add-ons (${ISTIO_ADDONS[*]}) in $dest"
}

# ---------------------------------------------------------------- main
ALL_TOOLS=(pulumi language-python kubernetes istioctl istio-assets cluster prometheus)
tools=("$@")
[[ ${#tools[@]} -gt 0 ]] || tools=("${ALL_TOOLS[@]}")
for t in "${tools[@]}"; do
  case $t in
    pulumi | language-python | kubernetes | istioctl | cluster | istio-assets | prometheus) ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d' >&2; exit 0 ;;
    *) die "unknown tool '$t' (choose from: ${ALL_TOOLS[*]})" ;;
  esac
done
# Build in a fixed order (pulumi first: the kubernetes step registers the plugin with it), one at a time.
for t in "${ALL_TOOLS[@]}"; do
  for want in "${tools[@]}"; do
    if [[ $want == "$t" ]]; then
      case $t in
        pulumi) install_pulumi ;;
        language-python) install_language_python ;;
        kubernetes) install_kubernetes ;;
        istioctl) install_istioctl ;;
        cluster) install_cluster ;;
        istio-assets) install_istio_assets ;;
        prometheus) install_prometheus ;;
      esac
      break
    fi
  done
done
printf '%s\n' "$BIN_DIR"
