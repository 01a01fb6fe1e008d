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
test_directory_generate_federal_size)
    # okno directory generate: deterministic per seed, the sizes asked for, three tiers below
    # the operator (federal bodies at the top, regional offices under them, municipal bodies
    # under the offices), a coordinator in every org, authority only for managers.
    a=$("$okno" directory generate --orgs 3000 --users 15000 --seed 4 | sha256sum)
    b=$("$okno" directory generate --orgs 3000 --users 15000 --seed 4 | sha256sum)
    c=$("$okno" directory generate --orgs 3000 --users 15000 --seed 5 | sha256sum)
    [ "$a" = "$b" ] || { echo "seed 4 gave two different directories" >&2; exit 1; }
    [ "$a" != "$c" ] || { echo "seeds 4 and 5 gave the same directory" >&2; exit 1; }
    "$okno" directory generate --orgs 3000 --users 15000 --seed 4 | python3 -c '
import sys
blocks, table = {}, None
for line in sys.stdin:
    line = line.rstrip("\n")
    if line.startswith("copy okno."):
        table = line.split()[1]; blocks[table] = []
    elif line == "\\.":
        table = None
    elif table:
        blocks[table].append(line.split("\t"))
orgs = {int(r[0]): (None if r[1] == "\\N" else int(r[1]), r[2]) for r in blocks["okno.orgs"]}
assert len(orgs) == 3000, len(orgs)
def depth(o):
    d = 0
    while orgs[o][0] is not None:
        o, d = orgs[o][0], d + 1
    return d
tiers = {}
for o, (p, name) in orgs.items():
    tiers.setdefault(depth(o), []).append(name.split()[0])
assert set(tiers) == {0, 1, 2}, set(tiers)
assert {n for n in tiers[1]} == {"Federal"} and {n for n in tiers[2]} == {"Municipal"}, tiers.keys()
assert sum(1 for n in tiers[0] if n == "Federal") == 30, len(tiers[0])
grants = blocks["okno.grants"]
assert len(grants) == 15000 + 8, len(grants)
coordinated = {int(g[1]) for g in grants if "coordinator" in g[2]}
assert coordinated >= set(orgs) - {1}, len(set(orgs) - coordinated)
managers = {(g[0], g[1]) for g in grants if "manager" in g[2]}
assert all((a[0], a[1]) in managers for a in blocks["okno.authorities"])
' || { echo "the generated directory is not shaped as expected" >&2; exit 1; }
    ;;
*) echo "unknown test $name" >&2; exit 2 ;;
esac
