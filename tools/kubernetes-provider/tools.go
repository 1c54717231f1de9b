//go:build tools

// Package tools records, for go mod tidy, the packages that tools/build-pulumi.sh builds:
// the provider's main (copied out of the module cache, see the script) imports these, and
// the upstream generate.go that writes schema-embed.json imports codegen/schema.
package tools

import (
	_ "github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	_ "github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
	_ "github.com/pulumi/pulumi/pkg/v3/codegen/schema"
)
