//go:build tools

// Package tools pins the upstream commands this wrapper module builds.
package tools

import (
	_ "github.com/cilium/cilium/daemon"
	_ "github.com/cilium/cilium/plugins/cilium-cni"
)
