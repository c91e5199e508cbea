#!/usr/bin/env bash
# The service quickstart: from `npm start` to a first identification, with curl and jq.
# docs/getting-started.md includes this file verbatim (a test keeps the two equal and runs it against a live
# `probity serve --development`). Set OPERATOR_KEY to the key `npm start` printed once;
# PROBITY is the service (default http://127.0.0.1:8080), LFW the LFW images folder.
set -euo pipefail
PROBITY=${PROBITY:-http://127.0.0.1:8080}
LFW=${LFW:-../shared/datasets/lfw/images}
: "${OPERATOR_KEY:?set OPERATOR_KEY to the operator key npm start printed}"
PURPOSE=building_access
# Stop at the first refusal, showing the service's {"error": {"code", "message"}}.
curl() {
  local answer
  if ! answer=$(command curl -sS --fail-with-body "$@"); then echo "$answer" >&2; return 1; fi
  printf '%s\n' "$answer"
}

# 1. The operator creates an organisation.
ORG=$(curl "$PROBITY/v1/organisations" -H "Authorization: Bearer $OPERATOR_KEY" -H 'Content-Type: application/json' \
  -d '{"name": "Acme", "sector": "employer", "jurisdictions": ["other"]}' | jq -r .id)
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

# 5. A gallery, with its published retention schedule (365 days by default).
GALLERY=$(curl "$PROBITY/v1/galleries" -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
  -d '{"name": "staff"}' | jq -r .id)
echo "gallery $GALLERY"

# 6. Colin's written consent, before he is enrolled.
curl "$PROBITY/v1/galleries/$GALLERY/subjects/colin/consents" -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
  -d "$(jq -n --arg p "$PURPOSE" --arg at "$(date -u +%Y-%m-%dT%H:%M:%SZ)" '{noticeVersion: "notice-v1", purposes: [$p], method: "written", givenAt: $at}')" \
  | jq -c '{consent: .id, purposes}'

# 7. Enrol him from one photograph (a file in multipart/form-data; photographs are not kept).
curl "$PROBITY/v1/galleries/$GALLERY/subjects/colin/templates" -H "Authorization: Bearer $KEY" \
  -F "images=@$LFW/Colin_Powell/Colin_Powell_0001.jpg" -F "purpose=$PURPOSE" | jq -c '{subject, templates: (.templates | length)}'

# 8. Verify (1:1): is this other photograph the enrolled Colin?
curl "$PROBITY/v1/verify" -H "Authorization: Bearer $KEY" \
  -F "image=@$LFW/Colin_Powell/Colin_Powell_0002.jpg" -F "galleryId=$GALLERY" -F subject=colin -F "purpose=$PURPOSE" \
  | jq -c '{match, score, threshold, fmr}'

# 9. Identify (1:N): who in the gallery is this? Candidates clear the threshold, or no one is named.
curl "$PROBITY/v1/galleries/$GALLERY/identify" -H "Authorization: Bearer $KEY" \
  -F "image=@$LFW/Colin_Powell/Colin_Powell_0003.jpg" -F "purpose=$PURPOSE" \
  | jq -c '{outcome, candidates: [.candidates[]? | {subject, score}]}'
