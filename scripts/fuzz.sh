#!/usr/bin/env bash
# Runs the libFuzzer harnesses (built by scripts/sanitize.sh in build-sanitize/) for longer:
#   scripts/fuzz.sh [seconds per harness, default 600] [harness ...]
# with the dictionaries in tests/fuzz/dict and OSS-Fuzz's limits (25 s per input, 2.5 GB RSS).
# New corpus units go to build-sanitize/fuzz-corpus/<harness>/ (the committed seeds stay as they
# are); crashes, if any, are written to build-sanitize/fuzz-artifacts/ and listed at the end (a
# crash inside an image decoder prints nothing: vitc captures the decoders' stderr while they run,
# so the artifact file is the evidence). Prints libFuzzer's final statistics for each harness.
# Exits 1 when a harness left a new artifact.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
shift || true
harnesses=("$@")
[ ${#harnesses[@]} -gt 0 ] || harnesses=(safetensors config image checkpoint)
mkdir -p build-sanitize/fuzz-artifacts
before=$(ls build-sanitize/fuzz-artifacts | wc -l)
for h in "${harnesses[@]}"; do
  mkdir -p "build-sanitize/fuzz-corpus/$h"
  echo "== fuzz_$h for ${seconds}s" >&2
  dict=tests/fuzz/dict/json.dict
  [ "$h" = image ] && dict=tests/fuzz/dict/image.dict
  [ "$h" = checkpoint ] && dict=tests/fuzz/dict/pickle.dict
  # OSS-Fuzz's limits: 25 s per input, 2.5 GB of RSS.
  build-sanitize/tests/fuzz/fuzz_$h -max_total_time="$seconds" -rss_limit_mb=2560 -timeout=25 -dict="$dict" -print_final_stats=1 \
    -artifact_prefix="build-sanitize/fuzz-artifacts/$h-" "build-sanitize/fuzz-corpus/$h" "tests/fuzz/corpus/$h" 2>&1 |
    grep -E "^(stat::|#[0-9]+ +DONE|==[0-9]+==ERROR|SUMMARY|artifact)" || true
done
after=$(ls build-sanitize/fuzz-artifacts | wc -l)
if [ "$after" -gt "$before" ]; then
  echo "new artifacts in build-sanitize/fuzz-artifacts (reproduce: build-sanitize/tests/fuzz/fuzz_<harness> FILE):" >&2
  ls -t build-sanitize/fuzz-artifacts | head -n $((after - before)) >&2
  exit 1
fi
