//go:build tools

// Package bins pins the Kubernetes control-plane components the test harness
// runs. Nothing here is shipped: build.sh compiles these packages into a cache
// directory outside the checkout.
package bins

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
