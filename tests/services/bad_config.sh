#!/usr/bin/env bash
# Every built service refuses a configuration with an unknown key or a bad value: it exits 2
# before doing anything, and its message names the key and where it was written.
set -u
build=${OKNO_BUILD_DIR:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0 passed=0
check() { # NAME EXPECTED-TEXT COMMAND...
    local name=$1 want=$2
    shift 2
    local out rc
    out=$("$@" 2>&1 </dev/null)
    rc=$?
    if [ $rc -eq 2 ] && grep -qF -- "$want" <<<"$out"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL $name: exit $rc, wanted 2 and '$want' in: $out"
    fi
}
for bin in "$build"/services/*/okno-*; do
    [ -x "$bin" ] || continue
    svc=$(basename "$bin")
    printf '[log]\nlevel = info\nlevle = debug\n' >"$tmp/unknown.ini"
    check "$svc unknown key in a file" "log.levle" "$bin" --config "$tmp/unknown.ini"
    printf '[log]\nlevel = loud\n' >"$tmp/bad.ini"
    check "$svc bad value in a file" "log.level" "$bin" --config "$tmp/bad.ini"
    check "$svc bad value in the environment" "admin.listen" \
        env OKNO_ADMIN__LISTEN=not-an-address "$bin" --check-config
done
echo "$passed passed, $failed failed"
[ $failed -eq 0 ] && [ $passed -gt 0 ]
