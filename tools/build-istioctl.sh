#!/usr/bin/env bash
# istioctl (Istio's own configuration analyzer) for the end-to-end suite: built with the traffic
# oracle, from the same module and in the same go build (tools/build-traffic.sh), so that
# Istio's packages compile once for both. Prints exactly one line on stdout: the absolute bin
# dir holding istioctl. The Istio version is the one tools/traffic/go.mod pins.
set -euo pipefail
exec "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/build-traffic.sh" "$@"
