#!/usr/bin/env bash
# Runs every test of the project: installs the prerequisites, builds the solution, runs each test project
# (real PostgreSQL and Azurite are started by the test fixtures themselves), then prints one line of totals:
#   N passed, N failed
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

scripts/prerequisites.sh --tests || { echo "prerequisites failed"; echo "0 passed, 1 failed"; exit 1; }

results="$root/artifacts/test-results"
rm -rf "$results"; mkdir -p "$results"

if ! dotnet build HuatuoAspire.sln -c Release -nologo -clp:ErrorsOnly; then
  echo "build failed"; echo "0 passed, 1 failed"; exit 1
fi

status=0
crashed=()
for project in tests/*/*.csproj; do
  name="$(basename "$project" .csproj)"
  # The library the test projects share holds no tests.
  [[ "$name" == HuatuoAspire.TestSupport ]] && continue
  echo "=== $name"
  # --blame-hang-timeout turns a hung test into a failure with a dump instead of a stalled CI run.
  dotnet test "$project" -c Release --no-build --nologo \
    --logger "trx;LogFileName=$name.trx" --logger "console;verbosity=normal" \
    --results-directory "$results" --blame-hang-timeout 15m || { status=1; crashed+=("$name"); }
done

passed=0; failed=0
for trx in "$results"/*.trx; do
  [[ -f "$trx" ]] || continue
  counters="$(grep -o '<Counters [^>]*>' "$trx" | head -n 1)"
  p="$(sed -n 's/.* passed="\([0-9]*\)".*/\1/p' <<<"$counters")"
  f="$(sed -n 's/.* failed="\([0-9]*\)".*/\1/p' <<<"$counters")"
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
done
# Name what failed right above the totals, so the end of the log says it.
for trx in "$results"/*.trx; do
  [[ -f "$trx" ]] || continue
  # The test's name, then the first line of its failure message.
  awk '/<UnitTestResult [^>]*outcome="Failed"/ { match($0, /testName="[^"]*"/); print "FAILED: " substr($0, RSTART + 10, RLENGTH - 11); want = 1 }
       want && /<Message>/ { sub(/.*<Message>/, ""); sub(/<\/Message>.*/, ""); print "  " substr($0, 1, 300); want = 0 }' "$trx"
done
for name in "${crashed[@]}"; do echo "exit code not 0: $name"; done
# A test project that crashed without writing its results counts as one failure.
if [[ $status -ne 0 && $failed -eq 0 ]]; then failed=1; fi
echo "$passed passed, $failed failed"
[[ $status -eq 0 && $failed -eq 0 ]]
