#!/usr/bin/env bash
# The main job: brings up the local okno cluster (PostgreSQL, Kafka, every service), checks that
# each reports healthy, and runs a small workload through it.
set -euo pipefail
OKNO_SCRIPT=demo
. "$(dirname "$0")/lib.sh"
"$OKNO_ROOT/deploy/local/up"
"$OKNO_ROOT/deploy/local/status"
