#!/usr/bin/env bash
# `npm test`: lint, type check, then every test file. The tests run in a network namespace of their own that has
# only a loopback interface, so no test (Chromium's ICE gathering included, which would otherwise use every
# interface of the machine) can send a packet to any address but 127.0.0.0/8 and ::1.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${FERRY_TEST_NETNS:-}" ]; then
  if [ "$(id -u)" = 0 ]; then ns=(unshare --net); else ns=(unshare --net --map-root-user); fi
  if "${ns[@]}" true 2>/dev/null; then
    exec env FERRY_TEST_NETNS=1 "${ns[@]}" bash -c 'ip link set lo up && exec bash "$0"' "$0"
  fi
  echo "test/run.sh: cannot create a network namespace here; the tests will see this machine's other interfaces" >&2
fi

npx biome check .
npx tsc --noEmit
npx tsc --noEmit -p web
npx tsc --noEmit -p web/sw
mapfile -t files < <(find test -name '*.test.ts' | sort)
exec node --import tsx --test --test-reporter=spec "${files[@]}"
