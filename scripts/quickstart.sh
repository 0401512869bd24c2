#!/usr/bin/env bash
# The main job with no AWS account: synthesize the three stacks, then run the key-manager CLI
# through init, status, encrypt, rotate, decrypt and health on a local file store.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cdk synth (no credentials, no lookups)"
npx cdk synth --quiet
ls cdk.out/*.template.json

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
km() { node dist/bin/key-manager.js --store "file:$work/keyset.json" "$@"; }

echo "== key-manager on the local file store ($work/keyset.json)"
set -x
km init
km status
echo "hi" | km encrypt --context trading_data > "$work/a.json"
cat "$work/a.json"
km rotate
km decrypt --in "$work/a.json"
km health
set +x
echo "== audit log"
cat "$work/audit.jsonl"
