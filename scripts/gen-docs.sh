#!/usr/bin/env bash
# Regenerate the reference pages docs/reference/{options,errors,routes}.md from the code's
# own tables (the option table, the error table, the route tables) with nrfprov-docgen.
#   scripts/gen-docs.sh                    build nrfprov-docgen in build/, rewrite the pages
#   scripts/gen-docs.sh --check [DOCGEN]   rewrite nothing; exit 1 naming each page that
#                                          differs (the ctest docs_reference runs this)
# Run it after adding or changing an option, an error or a route, and commit the pages.
set -euo pipefail
cd "$(dirname "$0")/.."
pages=(options errors routes)

if [ "${1:-}" = "--check" ]; then
  docgen=${2:-build/nrfprov-docgen}
  status=0
  for p in "${pages[@]}"; do
    if ! "$docgen" "$p" | diff -u "docs/reference/$p.md" - >&2; then
      echo "docs/reference/$p.md differs from the code's table; run scripts/gen-docs.sh and commit the result" >&2
      status=1
    fi
  done
  exit $status
fi

[ -d build ] || cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build --target nrfprov-docgen -j2 >/dev/null
mkdir -p docs/reference
for p in "${pages[@]}"; do
  build/nrfprov-docgen "$p" > "docs/reference/$p.md.tmp.$$"
  mv "docs/reference/$p.md.tmp.$$" "docs/reference/$p.md"
  echo "docs/reference/$p.md"
done
