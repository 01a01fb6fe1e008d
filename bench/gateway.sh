#!/usr/bin/env bash
# bench/run gateway [--quick]: bench/gateway.py on the local cluster (see bench/with_cluster.sh).
exec "$(dirname "$0")/with_cluster.sh" gateway.py "$@"
