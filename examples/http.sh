#!/usr/bin/env bash
# The HTTP API with curl (docs/api.md): enqueue a job, follow it, fetch its image.
#
#   FLUXQ_API=http://127.0.0.1:8080 FLUXQ_TOKEN=... examples/http.sh "a red mug"
#   (CALLBACK_URL=https://… also enqueues a job with a completion callback)
set -euo pipefail
api=${FLUXQ_API:-http://127.0.0.1:8080}
auth=(-H "Authorization: Bearer ${FLUXQ_TOKEN:?set FLUXQ_TOKEN to a write token}")
prompt=${1:-studio photo of a red ceramic mug on white, soft shadow}

# One job (lane interactive by default). Idempotency-Key makes a retry return the same
# job instead of a second one.
accepted=$(curl -sSf "${auth[@]}" -H 'Content-Type: application/json' \
  -H "Idempotency-Key: example-$(date +%s)" \
  -d "$(printf '{"model": "flux-2-pro", "prompt": "%s", "width": 1024, "height": 1024}' "$prompt")" \
  "$api/v1/jobs")
echo "$accepted"
id=$(printf '%s' "$accepted" | sed -E 's/.*"id":"([^"]+)".*/\1/')
batch=$(printf '%s' "$accepted" | sed -E 's/.*"batch":"([^"]+)".*/\1/')

# Up to 1,000 jobs at once (lane bulk by default); 422 names each bad job's field.
curl -sS "${auth[@]}" -H 'Content-Type: application/json' \
  -d '{"jobs": [{"model": "flux-2-pro", "prompt": "a blue mug"}, {"model": "flux-2-pro", "prompt": "a green mug", "width": 100, "height": 512}]}' \
  "$api/v1/jobs"
echo

# A job that calls back when it is final: fluxq POSTs its record to the URL, signed
# with FLUXQ_CALLBACK_SECRET (docs/api.md#completion-callbacks shows how to verify it).
if [ -n "${CALLBACK_URL:-}" ]; then
  curl -sS "${auth[@]}" -H 'Content-Type: application/json' \
    -d "$(printf '{"model": "flux-2-pro", "prompt": "%s", "callback_url": "%s"}' "$prompt" "$CALLBACK_URL")" \
    "$api/v1/jobs"
  echo
fi

# Follow the first job's batch until done (Server-Sent Events; curl -N streams).
curl -sSN "${auth[@]}" "$api/v1/batches/$batch/events" | sed -n '/^event: done/{n;p;q}; /^data:/p'

curl -sSf "${auth[@]}" "$api/v1/jobs/$id"
echo
curl -sSf "${auth[@]}" -o "$id.jpg" "$api/v1/jobs/$id/image" && echo "saved $id.jpg"

# The lanes: waiting messages, delay tiers, dead letters, which lane is paused. A write
# token pauses one fleet-wide within 2 s: POST $api/v1/lanes/bulk/pause (…/resume).
curl -sSf "${auth[@]}" "$api/v1/lanes"
echo
