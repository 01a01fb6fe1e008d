#!/usr/bin/env bash
# The timers' handover benchmark (run as `bench/run handover [--quick]`; bench/handover.py says
# what it measures). Needs the local cluster (started here if it is not running, and stopped
# again afterwards). Last line: one JSON object.
exec "$(dirname "$0")/with_cluster.sh" handover.py "$@"
