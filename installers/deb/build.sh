#!/usr/bin/env bash
# Builds the Debian package docker-credential-ecr_<version>_<arch>.deb from binaries that are
# already built: it never runs cargo. Build them first, for example
#
#   cargo build --release -p docker-credential-ecr -p ecr-tray
#   installers/deb/build.sh --profile release --out target/debian
#
# The package holds both programs, their man pages and shell completions, the application icon,
# a menu entry for the tray and the agent's systemd user unit (not enabled: users run
# `systemctl --user enable --now docker-credential-ecr-agent`). Depends is computed from what
# the binaries link (dpkg-shlibdeps, from dpkg-dev). The only line on stdout is the package's
# path; progress and errors go to stderr.
#
# Needs: dpkg-deb, dpkg-shlibdeps (dpkg-dev), gzip, install.
set -euo pipefail
umask 022

usage() {
  echo "usage: $0 [--profile release|debug] [--out DIR]" >&2
  exit 2
}

die() {
  echo "build.sh: $*" >&2
  exit 1
}

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PROFILE=release
OUT=

while [[ $# -gt 0 ]]; do
  case $1 in
    --profile)
      [[ $# -ge 2 ]] || usage
      PROFILE=$2
      shift 2
      ;;
    --out)
      [[ $# -ge 2 ]] || usage
      OUT=$2
      shift 2
      ;;
    -h | --help) usage ;;
    *) usage ;;
  esac
done
[[ $PROFILE == release || $PROFILE == debug ]] || die "--profile must be release or debug, not '$PROFILE'"
OUT=${OUT:-$ROOT/target/debian}

for tool in dpkg-deb dpkg-shlibdeps gzip install; do
  command -v "$tool" >/dev/null || die "$tool is missing (dpkg-shlibdeps is in the dpkg-dev package)"
done

PACKAGE=docker-credential-ecr
BIN_DIR=${CARGO_TARGET_DIR:-$ROOT/target}/$PROFILE
HELPER=$BIN_DIR/docker-credential-ecr
HELPER_FULL=$BIN_DIR/docker-credential-ecr-full
HELPER_MIRROR=$BIN_DIR/docker-credential-ecr-mirror
TRAY=$BIN_DIR/ecr-tray
for bin in "$HELPER" "$HELPER_FULL" "$HELPER_MIRROR" "$TRAY"; do
  [[ -x $bin ]] || die "$bin is missing: build it first with \`cargo build$([[ $PROFILE == release ]] && echo ' --release') -p docker-credential-ecr -p ecr-tray\`"
done

# The version of [workspace.package]; a Cargo pre-release (1.2.0-rc.1) sorts before its release
# in Debian only with a tilde (1.2.0~rc.1).
CARGO_VERSION=$(awk '/^\[/ { in_ws = ($0 == "[workspace.package]") }
  in_ws && /^version *=/ { gsub(/^[^"]*"|".*$/, ""); print; exit }' "$ROOT/Cargo.toml")
[[ -n $CARGO_VERSION ]] || die "no version in [workspace.package] of $ROOT/Cargo.toml"
VERSION=${CARGO_VERSION/-/\~}
ARCH=$(dpkg --print-architecture)

# Stale binaries would be packaged under the wrong version: check what they say.
check_version() { # check_version PROGRAM ARG
  local said
  said=$("$@") || die "\`$*\` failed"
  [[ $said == *" $CARGO_VERSION" ]] || die "\`$*\` printed '$said', expected version $CARGO_VERSION: rebuild"
}
check_version "$HELPER" version
check_version "$TRAY" --version

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# dpkg-shlibdeps wants the tree at debian/<package> next to a debian/control.
mkdir -p "$WORK/debian"
: >"$WORK/debian/control"
STAGE=$WORK/debian/$PACKAGE
mkdir -p "$STAGE"
chmod 0755 "$STAGE"

# The small front program docker runs, the full program it hands every other command to, and
# the mirror program the full one hands `mirror` to.
install -D -m 0755 "$HELPER" "$STAGE/usr/bin/docker-credential-ecr"
install -D -m 0755 "$HELPER_FULL" "$STAGE/usr/libexec/docker-credential-ecr/docker-credential-ecr-full"
install -D -m 0755 "$HELPER_MIRROR" "$STAGE/usr/libexec/docker-credential-ecr/docker-credential-ecr-mirror"
install -D -m 0755 "$TRAY" "$STAGE/usr/bin/ecr-tray"

# Icons: the application icon at every size, and scalable.
ICONS=$ROOT/assets/icons
for png in "$ICONS"/png/*/ecr-tray.png; do
  size=$(basename "$(dirname "$png")")
  install -D -m 0644 "$png" "$STAGE/usr/share/icons/hicolor/${size}x${size}/apps/ecr-tray.png"
done
[[ -e $STAGE/usr/share/icons/hicolor/48x48/apps/ecr-tray.png ]] || die "no icons in $ICONS/png: run assets/icons/render.sh"
install -D -m 0644 "$ICONS/src/ecr-tray.svg" "$STAGE/usr/share/icons/hicolor/scalable/apps/ecr-tray.svg"

install -D -m 0644 "$HERE/ecr-tray.desktop" "$STAGE/usr/share/applications/ecr-tray.desktop"
install -D -m 0644 "$HERE/docker-credential-ecr-agent.service" \
  "$STAGE/usr/lib/systemd/user/docker-credential-ecr-agent.service"
install -D -m 0644 "$HERE/copyright" "$STAGE/usr/share/doc/$PACKAGE/copyright"

# Man pages, written by the programs' hidden commands.
MAN_SRC=$WORK/man
mkdir -p "$MAN_SRC"
"$HELPER" manpages "$MAN_SRC" >&2 || die "\`$HELPER manpages DIR\` failed: this build has no man page command"
"$TRAY" --manpages "$MAN_SRC" >&2 || die "\`$TRAY --manpages DIR\` failed: this build has no man page option"
for page in "$MAN_SRC"/docker-credential-ecr.1 "$MAN_SRC"/ecr-tray.1; do
  [[ -s $page ]] || die "$(basename "$page") was not written by the man page commands"
done
mkdir -p "$STAGE/usr/share/man/man1"
for page in "$MAN_SRC"/*.1; do
  gz=$STAGE/usr/share/man/man1/$(basename "$page").gz
  gzip -9n -c "$page" >"$gz"
  chmod 0644 "$gz"
done

# Shell completions, where Debian's bash-completion, zsh and fish look.
completion() { # completion SHELL DEST
  mkdir -p "$(dirname "$2")"
  "$HELPER" completions "$1" >"$2" || die "\`$HELPER completions $1\` failed"
  chmod 0644 "$2"
}
completion bash "$STAGE/usr/share/bash-completion/completions/docker-credential-ecr"
completion zsh "$STAGE/usr/share/zsh/vendor-completions/_docker-credential-ecr"
completion fish "$STAGE/usr/share/fish/vendor_completions.d/docker-credential-ecr.fish"

# Depends: the shared libraries the four binaries link, as Debian packages with minimum versions.
DEPENDS=$(cd "$WORK" && dpkg-shlibdeps -O -e"debian/$PACKAGE/usr/bin/docker-credential-ecr" \
  -e"debian/$PACKAGE/usr/libexec/docker-credential-ecr/docker-credential-ecr-full" \
  -e"debian/$PACKAGE/usr/libexec/docker-credential-ecr/docker-credential-ecr-mirror" \
  -e"debian/$PACKAGE/usr/bin/ecr-tray" 2>"$WORK/shlibdeps.log") ||
  die "dpkg-shlibdeps failed: $(cat "$WORK/shlibdeps.log")"
DEPENDS=${DEPENDS#shlibs:Depends=}
[[ -n $DEPENDS ]] || die "dpkg-shlibdeps found no dependencies"

INSTALLED_SIZE=$(du -sk --apparent-size "$STAGE" | cut -f1)
MAINTAINER="${DEBFULLNAME:-docker-credential-ecr developers} <${DEBEMAIL:-maintainers@docker-credential-ecr.invalid}>"

mkdir -p "$STAGE/DEBIAN"
cat >"$STAGE/DEBIAN/control" <<EOF
Package: $PACKAGE
Version: $VERSION
Architecture: $ARCH
Maintainer: $MAINTAINER
Installed-Size: $INSTALLED_SIZE
Depends: $DEPENDS
Recommends: gnome-keyring | keepassxc | libkf5wallet-bin
Suggests: docker.io | podman
Section: utils
Priority: optional
Homepage: https://github.com/docker-credential-ecr/docker-credential-ecr
Description: Docker credential helper for Amazon ECR, with a tray app
 docker-credential-ecr answers the credential requests of docker, podman,
 skopeo, buildah and helm for Amazon ECR registries with short-lived ECR
 tokens, fetched with per-vendor keys kept in the OS keychain (the Secret
 Service) or with the standard AWS credential chain, cached per registry and
 refreshed before they expire.
 .
 ecr-tray shows the state of those tokens in the desktop's notification area
 (StatusNotifierItem) and keeps them fresh. On a host without a desktop,
 "docker-credential-ecr agent" does the same as a systemd user service:
 systemctl --user enable --now docker-credential-ecr-agent
EOF

mkdir -p "$OUT"
DEB=$OUT/${PACKAGE}_${VERSION}_${ARCH}.deb
# xz for release packages; a debug build's binaries are ~0.5 GB with debug info, which xz takes
# minutes over, so a debug package (tests only) gets fast zstd instead.
if [[ $PROFILE == release ]]; then
  COMPRESSION=(-Zxz)
else
  COMPRESSION=(-Zzstd -z1)
fi
dpkg-deb --root-owner-group "${COMPRESSION[@]}" --build "$STAGE" "$DEB" >/dev/null
echo "$DEB"
