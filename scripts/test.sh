#!/usr/bin/env bash
# Runs the whole test suite, as README.md says and .ci/run does: installs the Debian packages the tests drive,
# builds, and runs every test (unit, HTTP, QEMU network boot). Extra arguments go to `dotnet test`, e.g.
#   scripts/test.sh --filter "Category!=Integration&Category!=Slow"   # the fast inner loop
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-test-deps.sh

results="$(pwd)/.artifacts/test-results"
rm -rf "$results"
mkdir -p "$results"

status=0
dotnet test Provisioner.sln --configuration Release \
  --logger "trx;LogFileName=results.trx" --logger "console;verbosity=normal" \
  --results-directory "$results" "$@" || status=$?

# One closing line in the plain 'N passed, N failed' form, counted from the TRX report.
trx=$(find "$results" -name '*.trx' | head -n 1)
if [ -n "$trx" ]; then
  python3 - "$trx" <<'PY' || true
import sys, xml.etree.ElementTree as ET
ns = {"t": "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"}
c = ET.parse(sys.argv[1]).getroot().find("t:ResultSummary/t:Counters", ns)
passed, failed = int(c.get("passed")), int(c.get("failed")) + int(c.get("error")) + int(c.get("timeout"))
skipped = int(c.get("total")) - int(c.get("executed"))
print(f"tests: {passed} passed, {failed} failed, {skipped} skipped")
PY
fi
exit $status
