#!/usr/bin/env bash
# Installs what okno needs on a Debian 12 machine, idempotently: Debian packages with apt-get,
# the Kafka broker's jars with Maven, the Python test packages with pip, and the OS user that
# runs PostgreSQL. A second run changes nothing and says so.
set -euo pipefail
OKNO_SCRIPT=bootstrap
. "$(dirname "$0")/lib.sh"

# Build tools, libraries (with -dev headers), servers and test tools, all from Debian.
APT_PACKAGES=(
    build-essential cmake ninja-build pkg-config git ca-certificates python3 python3-pip
    librdkafka-dev libpq-dev libavro-dev libuv1-dev libh2o-dev libjansson-dev libinih-dev
    libssl-dev libcmocka-dev clang clang-format libclang-rt-14-dev
    postgresql-15 postgresql-client-15 openjdk-17-jre-headless maven curl
    chromium
    prometheus systemd
    libjose-dev wrk nghttp2-client libcurl4-openssl-dev python3-aiosmtpd
    nftables
)
PY_PACKAGES=(fastavro confluent-kafka pytest kubernetes-validate jsonschema openapi-spec-validator)
changed=0

missing_apt() {
    local p
    for p in "${APT_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed' || echo "$p"
    done
}

install_apt() {
    local missing
    mapfile -t missing < <(missing_apt)
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "$(id -u)" -eq 0 ] || okno_die "need root to install: ${missing[*]}"
    okno_say "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null || okno_die "apt-get update failed"
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null ||
        okno_die "apt-get install failed for: ${missing[*]}"
    changed=1
}

# The broker's classpath, resolved from deploy/kafka/pom.xml into the Maven cache.
resolve_kafka() {
    local cp=$OKNO_WORK/kafka/classpath.txt
    if [ -s "$cp" ] && tr ':' '\n' <"$cp" | while read -r j; do [ -f "$j" ] || exit 1; done; then
        return 0
    fi
    okno_say "resolving Apache Kafka $OKNO_KAFKA_VERSION jars with Maven"
    mkdir -p "$OKNO_WORK/kafka"
    mvn -q -B -f "$OKNO_ROOT/deploy/kafka/pom.xml" dependency:build-classpath \
        -Dmdep.outputFile="$cp" >"$OKNO_WORK/kafka/mvn.log" 2>&1 ||
        okno_die "Maven could not resolve the Kafka jars; see $OKNO_WORK/kafka/mvn.log"
    changed=1
}

install_python() {
    local p missing=()
    for p in "${PY_PACKAGES[@]}"; do
        python3 -c "import ${p//-/_}" 2>/dev/null || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    okno_say "installing Python packages: ${missing[*]}"
    python3 -m pip install -q "${missing[@]}" 2>/dev/null ||
        python3 -m pip install -q --break-system-packages "${missing[@]}" ||
        okno_die "pip could not install: ${missing[*]}"
    changed=1
}

ensure_pg_user() {
    id "$OKNO_PG_OS_USER" >/dev/null 2>&1 && return 0
    okno_say "creating the unprivileged OS user '$OKNO_PG_OS_USER' that runs PostgreSQL"
    useradd --system --no-create-home --shell /usr/sbin/nologin "$OKNO_PG_OS_USER" ||
        okno_die "could not create user $OKNO_PG_OS_USER"
    changed=1
}

install_apt
okno_java >/dev/null || okno_die "Java 17 not found after install (looked in JAVA_HOME and /usr/lib/jvm)"
resolve_kafka
install_python
ensure_pg_user
if [ $changed -eq 0 ]; then
    okno_say "nothing to do: all ${#APT_PACKAGES[@]} Debian packages, the Kafka $OKNO_KAFKA_VERSION jars, the Python packages and the '$OKNO_PG_OS_USER' user are present"
else
    okno_say "done"
fi
