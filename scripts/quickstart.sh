#!/usr/bin/env bash
# The service quickstart: from `npm start` to a first identification, with curl and jq.
# docs/getting-started.md includes this file verbatim (a test keeps the two equal and runs it,
# twice, against a live `probity serve --development`). PROBITY is the service (default
# http://127.0.0.1:8080), LFW the LFW images folder, OPERATOR_KEY the operator's key (default: the
# file `npm start` wrote, probity-data/operator.key). The keys it issues go to KEYS_FILE (default
# probity-quickstart.env, mode 0600), for the next commands.
set -euo pipefail
PROBITY=${PROBITY:-http://127.0.0.1:8080}
LFW=${LFW:-../shared/datasets/lfw/images}
KEYS_FILE=${KEYS_FILE:-probity-quickstart.env}
if [ -z "${OPERATOR_KEY:-}" ] && [ -r "${PROBITY_DATA:-probity-data}/operator.key" ]; then
  OPERATOR_KEY=$(cat "${PROBITY_DATA:-probity-data}/operator.key")
fi
: "${OPERATOR_KEY:?set OPERATOR_KEY to the operator key (npm start wrote it to probity-data/operator.key)}"
PURPOSE=building_access
# Stop at the first refusal, showing the service's {"error": {"code", "message"}}.
curl() {
  local answer
  if ! answer=$(command curl -sS --fail-with-body "$@"); then echo "$answer" >&2; return 1; fi
  printf '%s\n' "$answer"
}

# 1. The operator creates an organisation (on a second run, finds the one made before).
ORG=$(curl "$PROBITY/v1/organisations" -H "Authorization: Bearer $OPERATOR_KEY" | jq -r '[.items[] | select(.name == "Acme")][0].id // empty')
if [ -z "$ORG" ]; then
  ORG=$(curl "$PROBITY/v1/organisations" -H "Authorization: Bearer $OPERATOR_KEY" -H 'Content-Type: application/json' \
    -d '{"name": "Acme", "sector": "employer", "jurisdictions": ["other"]}' | jq -r .id)
fi
echo "organisation $ORG"

# 2. A client key for it, to apply with (the secret is shown in this answer only).
APPLICANT_KEY=$(curl "$PROBITY/v1/keys" -H "Authorization: Bearer $OPERATOR_KEY" -H 'Content-Type: application/json' \
  -d "$(jq -n --arg org "$ORG" '{organisationId: $org, roles: ["client"], label: "applicant"}')" | jq -r .secret)

# 3. The organisation applies for its use case; the policy approves, refuses or holds it, citing its rules.
curl "$PROBITY/v1/applications" -H "Authorization: Bearer $APPLICANT_KEY" -H 'Content-Type: application/json' \
  -d "{\"useCases\": [\"$PURPOSE\"]}" | jq -c '{application: .id, decisions: [.decisions[] | {useCase, outcome}]}'

# 4. A key scoped to the approved use case: the one the application uses from now on.
KEY=$(curl "$PROBITY/v1/keys" -H "Authorization: Bearer $OPERATOR_KEY" -H 'Content-Type: application/json' \
  -d "$(jq -n --arg org "$ORG" --arg p "$PURPOSE" '{organisationId: $org, roles: ["client"], label: "doors", useCases: [$p]}')" | jq -r .secret)

# 5. A gallery, with its published retention schedule (365 days by default); on a second run, the one made before.
GALLERY=$(curl "$PROBITY/v1/galleries" -H "Authorization: Bearer $KEY" | jq -r '[.items[] | select(.name == "staff")][0].id // empty')
if [ -z "$GALLERY" ]; then
  GALLERY=$(curl "$PROBITY/v1/galleries" -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
    -d '{"name": "staff"}' | jq -r .id)
fi
echo "gallery $GALLERY"

# 6. Colin's written consent, before he is enrolled.
curl "$PROBITY/v1/galleries/$GALLERY/subjects/colin/consents" -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
  -d "$(jq -n --arg p "$PURPOSE" --arg at "$(date -u +%Y-%m-%dT%H:%M:%SZ)" '{noticeVersion: "notice-v1", purposes: [$p], method: "written", givenAt: $at}')" \
  | jq -c '{consent: .id, purposes}'

# 7. Enrol him from one photograph (a file in multipart/form-data; photographs are not kept).
curl "$PROBITY/v1/galleries/$GALLERY/subjects/colin/templates" -H "Authorization: Bearer $KEY" \
  -F "image=@$LFW/Colin_Powell/Colin_Powell_0001.jpg" -F "purpose=$PURPOSE" | jq -c '{subject, templates: (.templates | length)}'

# 8. Verify (1:1): is this other photograph the enrolled Colin?
curl "$PROBITY/v1/verify" -H "Authorization: Bearer $KEY" \
  -F "image=@$LFW/Colin_Powell/Colin_Powell_0002.jpg" -F "galleryId=$GALLERY" -F subject=colin -F "purpose=$PURPOSE" \
  | jq -c '{match, score, threshold, fmr}'

# 9. Identify (1:N): who in the gallery is this? Candidates clear the threshold, or no one is named.
curl "$PROBITY/v1/galleries/$GALLERY/identify" -H "Authorization: Bearer $KEY" \
  -F "image=@$LFW/Colin_Powell/Colin_Powell_0003.jpg" -F "purpose=$PURPOSE" \
  | jq -c '{outcome, candidates: [.candidates[]? | {subject, score}]}'

# Keep the keys: only this file holds them (the service stores their hashes).
(umask 077 && cat > "$KEYS_FILE" <<KEYS
# Written by scripts/quickstart.sh. Private: these are the keys themselves.
PROBITY=$PROBITY
PROBITY_KEY=$KEY
APPLICANT_KEY=$APPLICANT_KEY
GALLERY=$GALLERY
PURPOSE=$PURPOSE
KEYS
)
chmod 600 "$KEYS_FILE"
echo "keys written to $KEYS_FILE (mode 0600): PROBITY_KEY enrols, verifies and identifies in gallery $GALLERY"
echo "next, identify someone not enrolled (no one is named):"
echo "  source $KEYS_FILE && curl \"\$PROBITY/v1/galleries/\$GALLERY/identify\" -H \"Authorization: Bearer \$PROBITY_KEY\" -F \"image=@$LFW/Serena_Williams/Serena_Williams_0001.jpg\" -F purpose=\$PURPOSE"
