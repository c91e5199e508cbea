#!/usr/bin/env bash
# Smoke-tests Probity's image as a newcomer would use it: start it with data, keys and the audit
# witness on three volumes, wait for /health/ready, read the operator key from the data volume,
# run the quickstart (scripts/quickstart.sh) to a first identification, and check that the
# container's log is JSON line by line and holds no key. A second start on the same volumes keeps
# the installation (same keys, the quickstart runs again).
#   PROBITY_IMAGE (default localhost/probity), LFW (default ../shared/datasets/lfw/images),
#   PROBITY_SMOKE_DATABASE_URL: a postgres:// URL to run on instead of SQLite (host network).
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE=${PROBITY_IMAGE:-localhost/probity}
export CONTAINERS_CONF=${CONTAINERS_CONF:-$PWD/container/containers.conf}
LFW=${LFW:-$(cd .. && pwd)/shared/datasets/lfw/images}
[ -d "$LFW/Colin_Powell" ] || { echo "smoke: LFW not found at $LFW (set LFW): the identification needs it" >&2; exit 1; }
PORT=${PROBITY_SMOKE_PORT:-18181}
NAME=probity-smoke-$$
VOLUMES=("$NAME-data" "$NAME-keys" "$NAME-witness")
WORK=$(mktemp -d)
cleanup() {
  podman rm -f "$NAME" >/dev/null 2>&1 || true
  podman volume rm -f "${VOLUMES[@]}" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

start() {
  podman run -d --name "$NAME" --network=host \
    -e PROBITY_PORT="$PORT" -e PROBITY_HOST=127.0.0.1 \
    ${PROBITY_SMOKE_DATABASE_URL:+-e PROBITY_DATABASE_URL="$PROBITY_SMOKE_DATABASE_URL"} \
    -v "$NAME-data:/var/lib/probity/data" -v "$NAME-keys:/var/lib/probity/keys" -v "$NAME-witness:/var/lib/probity/witness" \
    "$IMAGE" >/dev/null
  for _ in $(seq 1 180); do
    if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/health/ready")" = 200 ]; then return 0; fi
    if [ "$(podman inspect -f '{{.State.Running}}' "$NAME")" != true ]; then podman logs "$NAME" >&2; echo "smoke: the container stopped" >&2; return 1; fi
    sleep 1
  done
  podman logs "$NAME" >&2
  echo "smoke: /health/ready did not answer 200 within 180 s" >&2
  return 1
}

stop_and_check_logs() {
  podman stop -t 20 "$NAME" >/dev/null
  podman logs "$NAME" >"$WORK/stdout" 2>"$WORK/stderr"
  # Every line on stdout is JSON; no key on either stream.
  if ! jq -c . "$WORK/stdout" >/dev/null; then echo "smoke: the log on stdout is not JSON line by line" >&2; cat "$WORK/stdout" >&2; return 1; fi
  for secret in "$OPERATOR_KEY" "$(podman run --rm -v "$NAME-keys:/k" --entrypoint cat "$IMAGE" /k/template.key)"; do
    if grep -qF "$secret" "$WORK/stdout" "$WORK/stderr"; then echo "smoke: a key is in the container's log" >&2; return 1; fi
  done
  podman rm "$NAME" >/dev/null
}

start
echo "smoke: ready: $(curl -s "http://127.0.0.1:$PORT/health/ready")"
OPERATOR_KEY=$(podman exec "$NAME" cat /var/lib/probity/data/operator.key)
PROBITY="http://127.0.0.1:$PORT" OPERATOR_KEY="$OPERATOR_KEY" LFW="$LFW" KEYS_FILE="$WORK/keys.env" bash scripts/quickstart.sh | tee "$WORK/quickstart"
grep -q '"outcome":"candidates","candidates":\[{"subject":"colin"' "$WORK/quickstart"
stop_and_check_logs
echo "smoke: the log is JSON line by line and holds no key"

# The volumes keep the installation: the same operator key works after a new start.
start
PROBITY="http://127.0.0.1:$PORT" OPERATOR_KEY="$OPERATOR_KEY" LFW="$LFW" KEYS_FILE="$WORK/keys.env" bash scripts/quickstart.sh >"$WORK/quickstart2"
grep -q '"outcome":"candidates"' "$WORK/quickstart2"
stop_and_check_logs
echo "smoke: restarted on the same volumes, the quickstart runs again: ok"
