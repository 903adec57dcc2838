#!/usr/bin/env bash
# Builds the local control plane's binaries from Go modules into a cache
# directory outside the checkout, skipping every binary that already exists.
#
#   tests/cluster/bins/build.sh            # build what is missing
#   TSE_K8S_BIN_DIR=/path build.sh         # choose the cache directory
#
# Prints the directory holding the binaries as its last line.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
kube_version=$(awk '$1 == "k8s.io/kubernetes" { print $2; exit }' "$here/go.mod" | sed 's/^v//')
kwok_version=v0.8.0
helm_version=v3.22.0
containerd_version=v2.2.4
# Prometheus 3.x publishes its Go module as v0.3MM.P for release 3.MM.P.
prometheus_version=v0.316.0
prometheus_operator_version=v0.85.0
registry_version=v3.1.2
grpcurl_version=v1.9.4
bin_dir=${TSE_K8S_BIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tse/k8s-bins/v$kube_version}
mkdir -p "$bin_dir"

export GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0
minor=$(echo "$kube_version" | cut -d. -f2)
kube_ldflags="-s -w \
 -X k8s.io/component-base/version.gitVersion=v$kube_version \
 -X k8s.io/component-base/version.gitMajor=1 \
 -X k8s.io/component-base/version.gitMinor=$minor \
 -X k8s.io/component-base/version.gitTreeState=clean \
 -X k8s.io/client-go/pkg/version.gitVersion=v$kube_version \
 -X k8s.io/client-go/pkg/version.gitMajor=1 \
 -X k8s.io/client-go/pkg/version.gitMinor=$minor"

build() { # name, package, ldflags
  local name=$1 pkg=$2 ldflags=$3
  if [[ -x "$bin_dir/$name" ]]; then return; fi
  echo "building $name ($pkg)" >&2
  local started=$SECONDS
  (cd "$here" && go build -p 2 -trimpath -ldflags "$ldflags" -o "$bin_dir/$name.tmp" "$pkg")
  mv "$bin_dir/$name.tmp" "$bin_dir/$name"
  echo "built $name in $((SECONDS - started))s" >&2
}

install() { # name, module path with version, ldflags, build tags
  local name=$1 pkg=$2 ldflags=$3 tags=${4:-}
  if [[ -x "$bin_dir/$name" ]]; then return; fi
  echo "building $name ($pkg)" >&2
  local started=$SECONDS tmp
  tmp=$(mktemp -d)
  GOBIN="$tmp" go install -p 2 -trimpath -tags "$tags" -ldflags "$ldflags" "$pkg"
  mv "$tmp/$name" "$bin_dir/$name"
  rmdir "$tmp"
  echo "built $name in $((SECONDS - started))s" >&2
}

build etcd go.etcd.io/etcd/server/v3 "-s -w"
build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$kube_ldflags"
build kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager "$kube_ldflags"
build kube-scheduler k8s.io/kubernetes/cmd/kube-scheduler "$kube_ldflags"
build kubectl k8s.io/kubernetes/cmd/kubectl "$kube_ldflags"
# The real node: kubelet and kube-proxy from the same module, containerd beside them.
build kubelet k8s.io/kubernetes/cmd/kubelet "$kube_ldflags"
build kube-proxy k8s.io/kubernetes/cmd/kube-proxy "$kube_ldflags"
for name in containerd containerd-shim-runc-v2 ctr; do
  install "$name" "github.com/containerd/containerd/v2/cmd/$name@$containerd_version" \
    "-s -w -X github.com/containerd/containerd/v2/version.Version=$containerd_version" \
    "no_btrfs urfave_cli_no_docs"
done
install kwok "sigs.k8s.io/kwok/cmd/kwok@$kwok_version" \
  "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$kwok_version"
install helm "helm.sh/helm/v3/cmd/helm@$helm_version" \
  "-s -w -X helm.sh/helm/v3/internal/version.version=$helm_version \
   -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 \
   -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$minor \
   -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 \
   -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$minor"

# promtool and a Prometheus server check the engine's metrics, the alert rules and
# the dashboard's queries. The module has no replace directives, so `go install
# module@version` builds it with its own dependency versions, not the k8s ones.
prometheus_ldflags="-s -w \
 -X github.com/prometheus/common/version.Version=3.${prometheus_version#v0.3} \
 -X github.com/prometheus/common/version.Branch=release \
 -X github.com/prometheus/common/version.Revision=$prometheus_version"
install promtool "github.com/prometheus/prometheus/cmd/promtool@$prometheus_version" "$prometheus_ldflags"
install prometheus "github.com/prometheus/prometheus/cmd/prometheus@$prometheus_version" "$prometheus_ldflags"

# KWOK's standard "fast" node and pod stages, as the kwok module ships them,
# gathered into one config file for `kwok --config`.
if [[ ! -s "$bin_dir/kwok-stages.yaml" ]]; then
  kwok_dir=$(cd "$here" && go mod download -json "sigs.k8s.io/kwok@$kwok_version" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
  stages="$kwok_dir/kustomize/stage"
  for file in "$stages"/node/fast/node-initialize.yaml "$stages"/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
    "$stages"/pod/fast/pod-ready.yaml "$stages"/pod/fast/pod-complete.yaml "$stages"/pod/fast/pod-delete.yaml; do
    echo '---'
    cat "$file"
  done > "$bin_dir/kwok-stages.yaml.tmp"
  mv "$bin_dir/kwok-stages.yaml.tmp" "$bin_dir/kwok-stages.yaml"
fi

# An OCI registry (CNCF distribution), for the test that pushes the packaged
# chart and installs it back with helm's oci:// support.
install registry "github.com/distribution/distribution/v3/cmd/registry@$registry_version" \
  "-s -w -X github.com/distribution/distribution/v3/version.version=$registry_version"

# grpcurl, for the engine's gRPC API as docs/api.md shows it (reflection,
# describe, calls with a bearer token). It needs grpc-go 1.83, newer than the
# Kubernetes module pins, so it is built like promtool: `go install
# module@version` in its own module (no replace directives), never in this one.
install grpcurl "github.com/fullstorydev/grpcurl/cmd/grpcurl@$grpcurl_version" \
  "-s -w -X main.version=$grpcurl_version"

# The Prometheus Operator's own CRDs (ServiceMonitor, PrometheusRule), as its
# Go module ships them, so tests apply our objects to the real schemas.
if [[ ! -s "$bin_dir/prometheus-operator-crds.yaml" ]]; then
  po_dir=$(cd "$here" && go mod download -json "github.com/prometheus-operator/prometheus-operator@$prometheus_operator_version" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
  for kind in servicemonitors prometheusrules; do
    echo '---'
    cat "$po_dir/example/prometheus-operator-crd/monitoring.coreos.com_$kind.yaml"
  done > "$bin_dir/prometheus-operator-crds.yaml.tmp"
  mv "$bin_dir/prometheus-operator-crds.yaml.tmp" "$bin_dir/prometheus-operator-crds.yaml"
fi

echo "$bin_dir"
