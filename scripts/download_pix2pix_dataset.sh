#!/usr/bin/env bash
# Downloads one of the pix2pix paper's datasets (AB layout: <name>/train, <name>/val, ...) and
# extracts it into DEST (default ./datasets). The archive goes to a temp folder inside DEST and is
# checked (gzip, tar, no absolute or ../ paths, a top-level <name>/ folder) before the extracted folder
# is moved into place, so a failed or interrupted download never leaves a half-extracted dataset.
# P2P_DATASET_URL_BASE overrides the server (a mirror, or file:///some/dir for offline copies).
set -euo pipefail

NAMES="facades cityscapes maps edges2shoes edges2handbags night2day"
DEFAULT_BASE="http://efrosgans.eecs.berkeley.edu/pix2pix/datasets"

usage() {
  cat <<EOF
usage: $(basename "$0") NAME [DEST]
  NAME  one of: ${NAMES// /, }
  DEST  folder to extract into (default ./datasets); the data lands in DEST/NAME
  Downloads \$P2P_DATASET_URL_BASE/NAME.tar.gz (default base $DEFAULT_BASE).
EOF
}

die() {
  echo "error: $*" >&2
  exit 1
}

if [[ $# -lt 1 || $# -gt 2 || "$1" == "-h" || "$1" == "--help" ]]; then
  usage >&2
  exit 2
fi
NAME="$1"
DEST="${2:-./datasets}"
if [[ " $NAMES " != *" $NAME "* ]]; then
  echo "error: unknown dataset '$NAME'" >&2
  usage >&2
  exit 2
fi

BASE="${P2P_DATASET_URL_BASE:-$DEFAULT_BASE}"
URL="${BASE%/}/$NAME.tar.gz"

if [[ -e "$DEST/$NAME" ]]; then
  echo "$DEST/$NAME already exists; remove it to download again"
  exit 0
fi
mkdir -p "$DEST" || die "cannot create $DEST"
# Temp folder inside DEST: the final mv stays on one filesystem.
WORK="$(mktemp -d "$DEST/.download-$NAME.XXXXXX")" || die "cannot create a temp folder in $DEST"
trap 'rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
ARCHIVE="$WORK/$NAME.tar.gz"

echo "downloading $URL"
if command -v curl >/dev/null 2>&1; then
  curl -fL --retry 2 --connect-timeout 30 -o "$ARCHIVE" "$URL" || die "download of $URL failed"
elif command -v wget >/dev/null 2>&1; then
  [[ "$URL" == file://* ]] && die "wget cannot read $URL; install curl"
  wget -O "$ARCHIVE" "$URL" || die "download of $URL failed"
else
  die "neither curl nor wget is installed"
fi

gzip -t "$ARCHIVE" 2>/dev/null || die "$URL is not a gzip archive (truncated download, or an error page?)"
LISTING="$(tar -tzf "$ARCHIVE" 2>/dev/null)" || die "$URL is not a tar.gz archive"
if grep -qE '^/|(^|/)\.\.(/|$)' <<<"$LISTING"; then
  die "$URL holds absolute or ../ paths; refusing to extract it"
fi
mkdir "$WORK/x"
tar -xzf "$ARCHIVE" -C "$WORK/x" || die "extracting $URL failed"
[[ -d "$WORK/x/$NAME" ]] || die "$URL has no top-level $NAME/ folder"
mv "$WORK/x/$NAME" "$DEST/$NAME" || die "cannot move the data to $DEST/$NAME"
echo "extracted to $DEST/$NAME"
