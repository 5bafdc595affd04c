#!/bin/bash
# Install mode: reports stage "installed" for this machine to Provisioner (POST /api/v1/progress), then leaves a
# stamp so that it is reported once. Run by provisioner-installed.service on the installed system's first boot.
# With /etc/provisioner/report-key (the machine's report key) the report carries it as a bearer token; without
# it the report goes unauthenticated, as servers that do not hand out report keys accept.
set -euo pipefail

PROVISIONER_URL=${PROVISIONER_URL:-"{{ provisioner.base_url }}"}
PROVISIONER_MACHINE=${PROVISIONER_MACHINE:-"{{ machine.name }}"}
REPORT_KEY_FILE=${PROVISIONER_REPORT_KEY_FILE:-/etc/provisioner/report-key}
STAMP=${PROVISIONER_INSTALLED_STAMP:-/var/lib/provisioner/installed.reported}
readonly PROVISIONER_URL PROVISIONER_MACHINE REPORT_KEY_FILE STAMP

json_string() {
  local s=$1
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  printf '"%s"' "$s"
}

# post CURL-ARGS...: the report key goes to curl on stdin (its --config), never on a command line others can read.
post() {
  if [[ -s $REPORT_KEY_FILE ]]; then
    printf 'header = "Authorization: Bearer %s"\n' "$(tr -d '[:space:]' < "$REPORT_KEY_FILE")" | curl --config - "$@"
  else
    curl "$@"
  fi
}

body="{\"machine\":$(json_string "$PROVISIONER_MACHINE"),\"stage\":\"installed\",\"detail\":$(json_string "booted from {{ machine.install_disk }}, kernel $(uname -r)")}"
post -fsS -m 10 --retry 10 --retry-delay 5 --retry-connrefused -X POST -H 'Content-Type: application/json' \
  --data "$body" "$PROVISIONER_URL/api/v1/progress" >/dev/null
mkdir -p "$(dirname "$STAMP")"
touch "$STAMP"
echo "reported stage installed for $PROVISIONER_MACHINE to $PROVISIONER_URL"
