#!/usr/bin/env bash
# Builds Kommungraf's image FROM scratch without pulling anything: the binary
# is compiled here (static, CGO_ENABLED=0) and copied into the image with the
# host's CA bundle (Debian's ca-certificates).
#   deploy/container/build.sh [TAG]        (default kommungraf:dev)
set -euo pipefail
cd "$(dirname "$0")/../.."
tag="${1:-kommungraf:dev}"
ca=/etc/ssl/certs/ca-certificates.crt
if [ ! -s "$ca" ]; then
  echo "no CA bundle at $ca: install Debian's ca-certificates" >&2; exit 1
fi
ctx=$(mktemp -d "${TMPDIR:-/tmp}/kommungraf-image-XXXXXX")
trap 'rm -rf "$ctx"' EXIT
CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags='-s -w' -o "$ctx/kommungraf" ./cmd/kommungraf
cp "$ca" "$ctx/ca-certificates.crt"
printf 'root:x:0:0:root:/:/sbin/nologin\nkommungraf:x:65532:65532:kommungraf:/var/lib/kommungraf:/sbin/nologin\n' >"$ctx/passwd"
printf 'root:x:0:\nkommungraf:x:65532:\n' >"$ctx/group"
mkdir -p "$ctx/rootfs/tmp" "$ctx/varlib/kommungraf"
chmod 1777 "$ctx/rootfs/tmp"
chmod 0700 "$ctx/varlib/kommungraf"
docker build --pull=false -t "$tag" -f deploy/container/Dockerfile "$ctx"
docker image inspect --format 'built {{index .RepoTags 0}}: {{.Size}} bytes, user {{.Config.User}}' "$tag"
