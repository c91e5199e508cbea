#!/bin/sh
# The container's entry: the installation key and the audit signing key live on their own volume
# (PROBITY_KEYS_DIR), apart from the data and the witness. At first start they are made there
# (mode 0600); at every start they are handed to the service in its environment, unless they were
# given as PROBITY_SECRET_KEY / PROBITY_AUDIT_SIGNING_KEY already (from a secret store).
set -eu
KEYS=${PROBITY_KEYS_DIR:-/var/lib/probity/keys}
umask 077

key_from_file() { # NAME FILE: the variable NAME, from FILE, made at first start
  eval "given=\${$1:-}"
  if [ -z "$given" ]; then
    if [ ! -s "$2" ]; then
      node -e "process.stdout.write(require('node:crypto').randomBytes(32).toString('hex') + '\n')" > "$2.tmp"
      mv "$2.tmp" "$2"
      echo "probity-entrypoint: made $2 (mode 0600); keep a copy apart from the data and its backups" >&2
    fi
    eval "$1=\$(cat \"\$2\")"
    export "$1"
  fi
}

if [ "${1:-serve}" = "serve" ]; then
  key_from_file PROBITY_SECRET_KEY "$KEYS/template.key"
  key_from_file PROBITY_AUDIT_SIGNING_KEY "$KEYS/audit-signing.key"
fi
exec node /app/bin/probity.js "$@"
