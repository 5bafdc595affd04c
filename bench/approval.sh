#!/usr/bin/env bash
# Join-storm benchmark of the kubelet CSR approver (see bench/README-approval.md):
#   bench/approval.sh [MACHINES]     # default 1000
# Runs the real server's approver and a blind reference approver against the in-process fake API, side by side.
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet build bench/Approval -c Release -nologo -v quiet
exec dotnet bench/Approval/bin/Release/net10.0/bench-approval.dll "$@"
