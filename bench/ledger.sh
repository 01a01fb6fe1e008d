#!/usr/bin/env bash
# bench/run ledger [--quick]: bench/ledger.py on the local cluster (see bench/with_cluster.sh).
exec "$(dirname "$0")/with_cluster.sh" ledger.py "$@"
