#!/usr/bin/env bash
# test_directory.sh NAME OKNO SQL_FILE: one behaviour of `okno directory demo` per NAME.
set -euo pipefail
name=$1 okno=$2 file=$3
case $name in
test_demo_directory_sql_is_generated)
    # deploy/local/demo_directory.sql is the generator's output for seed 1, not a hand-kept copy.
    "$okno" directory demo --seed 1 --sql | diff -u "$file" - ||
        { echo "stale: regenerate with okno directory demo --seed 1 --sql > deploy/local/demo_directory.sql" >&2; exit 1; }
    ;;
test_demo_directory_deterministic_per_seed)
    a=$("$okno" directory demo --seed 2 | sha256sum) b=$("$okno" directory demo --seed 2 | sha256sum)
    c=$("$okno" directory demo --seed 3 | sha256sum)
    [ "$a" = "$b" ] || { echo "seed 2 gave two different directories" >&2; exit 1; }
    [ "$a" != "$c" ] || { echo "seeds 2 and 3 gave the same directory" >&2; exit 1; }
    # The ids the workload names people by are there whatever the seed.
    out=$("$okno" directory demo --seed 3)
    for id in "(101, 1, array['moderator'])" "(101001, 1010, array['coordinator'])" \
        "(102305, 1023, array['manager'])" "(1013, 1010, 'Ministry of Transport: "; do
        grep -qF "$id" <<<"$out" || { echo "missing $id" >&2; exit 1; }
    done
    ;;
*) echo "unknown test $name" >&2; exit 2 ;;
esac
