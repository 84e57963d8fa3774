#!/usr/bin/env bash
# Installs everything the tests, the fuzz targets and the benchmark need, on Debian 12: the
# Debian packages, moto from PyPI and cargo-fuzz from crates.io. Called by the README's test
# command (tests/run.sh) and by .ci/run. Idempotent: what is installed already is not fetched
# again, so a second run takes a second. Needs root for apt and pip (uses sudo when not root).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

export DEBIAN_FRONTEND=noninteractive

# Debian packages the end-to-end tests and tests/bench/performance.sh use:
# - docker.io (dockerd), docker-registry, apache2-utils (htpasswd): docker push/pull through the
#   helper against a registry under a genuine ECR host name;
# - skopeo, podman, buildah, docker-compose: the other real clients of credHelpers
#   (tests/tests/clients_e2e.rs);
# - tinyproxy: the corporate-proxy tests;
# - openssl, ca-certificates: throwaway CAs and the system roots;
# - busybox-static: the one-binary image pushed and pulled;
# - hyperfine, amazon-ecr-credential-helper: the benchmark and the Go helper it compares with;
# - procps (kill), tar, curl, coreutils (mkfifo, timeout), python3, python3-pip: the fixtures'
#   tools;
# - dbus, gnome-keyring, libsecret-tools (secret-tool): a real Secret Service on a private bus
#   for the keychain tests; dbus-monitor (in dbus) watches it for Unlock calls;
# - xvfb, xfce4-panel, xfconf (xfconfd), dunst, systemd (busctl), xdotool, imagemagick (import,
#   convert): the headless desktop of the tray tests (tests/src/desktop.rs): X server, the
#   StatusNotifierItem host, notifications, D-Bus calls as JSON, mouse clicks, screenshots;
# - dpkg-dev (dpkg-shlibdeps): installers/deb/build.sh's Depends line (tests/tests/deb_package.rs);
# - faketime: wall-clock steps for one process (tests/tests/scope.rs);
# - strace: which files the helper opens to find its trust roots (tests/tests/trust_roots.rs).
APT_PACKAGES=(
  docker.io docker-registry apache2-utils skopeo tinyproxy openssl ca-certificates
  podman buildah docker-compose
  busybox-static hyperfine amazon-ecr-credential-helper procps tar curl coreutils python3
  dbus gnome-keyring libsecret-tools
  xvfb xfce4-panel xfconf dunst systemd xdotool imagemagick
  dpkg-dev faketime strace
)

as_root() {
  if [[ $(id -u) -eq 0 ]]; then
    "$@"
  else
    sudo "$@"
  fi
}

# The packages of APT_PACKAGES that dpkg does not have installed.
missing_packages() {
  local package
  for package in "${APT_PACKAGES[@]}"; do
    if [[ $(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null) != installed ]]; then
      echo "$package"
    fi
  done
}

# Installing docker.io, docker-registry and tinyproxy must not start their system services: they
# would hold ports and sockets the tests do not use. policy-rc.d says "no" to service starts.
install_debian_packages() {
  local missing
  mapfile -t missing < <(missing_packages)
  if [[ ${#missing[@]} -eq 0 ]]; then
    echo "setup: every Debian package is installed"
    return
  fi
  echo "setup: installing ${missing[*]}"
  local policy=/usr/sbin/policy-rc.d
  local created_policy=false
  if [[ ! -e $policy ]]; then
    as_root sh -c "printf '#!/bin/sh\nexit 101\n' >$policy && chmod +x $policy"
    created_policy=true
  fi
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${missing[@]}"
  if $created_policy; then
    as_root rm -f "$policy"
  fi
}

# moto's server: the real STS and ECR APIs of tests/tests/moto.rs.
install_python_packages() {
  if python3 -c 'import moto' 2>/dev/null && command -v moto_server >/dev/null; then
    echo "setup: moto is installed"
    return
  fi
  as_root python3 -m pip install --quiet --disable-pip-version-check 'moto[server]'
  command -v moto_server >/dev/null || {
    echo "setup: moto_server is not on PATH after pip install" >&2
    return 1
  }
}

# cargo-fuzz for fuzz/run.sh (it builds with the nightly toolchain, or RUSTC_BOOTSTRAP=1).
install_cargo_fuzz() {
  if cargo fuzz --version >/dev/null 2>&1; then
    echo "setup: cargo-fuzz is installed"
    return
  fi
  cargo install --locked cargo-fuzz
}

show_tools() {
  cargo --version
  rustc --version
  cargo fuzz --version
  dockerd --version
  docker --version
  docker-registry --version
  skopeo --version
  podman --version
  buildah --version
  docker-compose --version
  tinyproxy -v
  hyperfine --version
  openssl version
  python3 -c 'import moto; print("moto", moto.__version__)'
}

install_debian_packages
install_python_packages
install_cargo_fuzz
show_tools
