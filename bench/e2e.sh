#!/usr/bin/env bash
# bench/run e2e [--quick]: bench/e2e.py on the local cluster (see bench/with_cluster.sh): okno's
# ledger against Kafka Connect with the Debezium JDBC sink on the same events.
exec "$(dirname "$0")/with_cluster.sh" e2e.py "$@"
