#!/usr/bin/env bash
# Vendors uPlot (the London page's charts) from the npm registry into the dashboard's static files,
# so the page never loads code from a CDN. Usage: scripts/vendor-uplot.sh [version] (default: the pinned one).
set -euo pipefail
version="${1:-1.6.32}"
vendor_dir="$(cd "$(dirname "$0")/.." && pwd)/src/transit_status/dashboard/static/vendor"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "uplot@${version}" >/dev/null && tar xzf uplot-*.tgz)
mkdir -p "$vendor_dir"
cp "$work/package/dist/uPlot.iife.min.js" "$work/package/dist/uPlot.min.css" "$vendor_dir/"
cp "$work/package/LICENSE" "$vendor_dir/uPlot.LICENSE.txt"
printf 'uPlot %s (MIT, see uPlot.LICENSE.txt), from the npm package "uplot" via scripts/vendor-uplot.sh\n' \
  "$version" >"$vendor_dir/VERSION.txt"
echo "vendored uPlot ${version} into ${vendor_dir}"
