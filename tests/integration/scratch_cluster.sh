# Sourced by the tests that run a whole cluster of their own (demo/test_demo.sh,
# sanitized/test_services_sanitized.sh), with OKNO_WORK (the cluster's folder) and OKNO_SCRIPT
# set: sources deploy/lib.sh, services.sh and clock.sh, sets $okno and a scratch folder $tmp,
# purges whatever cluster that folder held, brings in the broker's classpath, and stops and
# purges the cluster again when the test exits, passed or failed.
OKNO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$OKNO_ROOT/deploy/lib.sh"
. "$OKNO_ROOT/deploy/local/services.sh"
. "$OKNO_ROOT/deploy/local/clock.sh"
okno=$OKNO_BUILD/tools/okno/okno
tmp=$(mktemp -d)

okno_scratch_cleanup() {
    "$OKNO_ROOT/deploy/local/down" >/dev/null 2>&1 || true
    "$OKNO_ROOT/deploy/local/down" --purge >/dev/null 2>&1 || true
    rm -rf "$tmp"
}
trap okno_scratch_cleanup EXIT

[ -f "$OKNO_CLUSTER_ENV" ] && "$OKNO_ROOT/deploy/local/down" --purge
rm -f "$OKNO_WORK/clock.env"
# The broker's classpath bootstrap.sh resolved for the main working folder (else resolve it).
mkdir -p "$OKNO_WORK/kafka"
if [ -s "$OKNO_ROOT/.work/kafka/classpath.txt" ]; then
    cp "$OKNO_ROOT/.work/kafka/classpath.txt" "$OKNO_WORK/kafka/classpath.txt"
else
    "$OKNO_ROOT/deploy/bootstrap.sh"
fi
