#!/usr/bin/env bash
# Sets up one Kubernetes node so that its kubelet gets Amazon ECR credentials from
# docker-credential-ecr (the kubelet's image credential provider plugin).
#
# Usage: install-node.sh --flavor kubeadm|k3s [--root DIR] [--from DIR] [--restart]
#
#   --flavor kubeadm  programs in /usr/libexec/kubernetes/kubelet-plugins/credential-provider/exec,
#                     config in /etc/kubernetes/credential-provider-config.yaml, and the two
#                     kubelet flags added to KUBELET_EXTRA_ARGS in /etc/default/kubelet
#                     (Debian, Ubuntu) or /etc/sysconfig/kubelet (RHEL and relatives), keeping
#                     the arguments already there.
#   --flavor k3s      programs in /var/lib/rancher/credentialprovider/bin, config in
#                     /var/lib/rancher/credentialprovider/config.yaml: k3s's default paths, which
#                     k3s hands its kubelet by itself when both exist (no flag to write).
#   --root DIR        install under DIR instead of / (tests, image builds); --restart is refused.
#   --from DIR        where docker-credential-ecr and docker-credential-ecr-full are (the latter
#                     beside it or in DIR/../libexec/docker-credential-ecr/). Default: this
#                     checkout's target/release when built, else /usr/bin (the Debian package).
#   --restart         restart the kubelet (kubeadm) or k3s / k3s-agent afterwards (and enable
#                     and start the agent with --agent); without it the script only says what
#                     to restart.
#   --replace-config  replace a config that differs from the shipped one (kept as
#                     <config>.bak); without it an edited config is kept and the shipped one
#                     written beside it as <config>.new.
#   --agent           also install /etc/systemd/system/docker-credential-ecr-agent.service: the
#                     agent renews the node's tokens at half-life, so no pull waits on AWS.
#
# Also creates /etc/docker-credential-ecr (0700, root) for the node's bindings and key sets.
# Every file is written to a temporary name beside its target and renamed into place, so an
# interrupted run leaves old files or new ones, never half of one. Running it again changes
# nothing that is already right (no flag is added twice); a config that differs from the one
# shipped is kept (see --replace-config).
set -euo pipefail

FRONT=docker-credential-ecr
FULL=docker-credential-ecr-full
FLAGS_CONFIG=--image-credential-provider-config
FLAGS_BIN_DIR=--image-credential-provider-bin-dir

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

die() {
  echo "install-node.sh: $*" >&2
  exit 1
}

usage() {
  sed -n '5,27p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

flavor=""
root=""
from=""
restart=false
agent=false
replace_config=false
while (($#)); do
  case "$1" in
    --flavor) [[ $# -ge 2 ]] || die "--flavor needs kubeadm or k3s"; flavor=$2; shift 2 ;;
    --flavor=*) flavor=${1#*=}; shift ;;
    --root) [[ $# -ge 2 ]] || die "--root needs a directory"; root=$2; shift 2 ;;
    --root=*) root=${1#*=}; shift ;;
    --from) [[ $# -ge 2 ]] || die "--from needs a directory"; from=$2; shift 2 ;;
    --from=*) from=${1#*=}; shift ;;
    --restart) restart=true; shift ;;
    --agent) agent=true; shift ;;
    --replace-config) replace_config=true; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done

case "$flavor" in
  kubeadm)
    bin_dir=/usr/libexec/kubernetes/kubelet-plugins/credential-provider/exec
    config=/etc/kubernetes/credential-provider-config.yaml
    ;;
  k3s)
    bin_dir=/var/lib/rancher/credentialprovider/bin
    config=/var/lib/rancher/credentialprovider/config.yaml
    ;;
  "") die "--flavor kubeadm or --flavor k3s is required" ;;
  *) die "unknown flavor '$flavor': use kubeadm or k3s" ;;
esac
node_config_dir=/etc/docker-credential-ecr

if [[ -n $root ]]; then
  [[ -d $root ]] || die "--root $root is not a directory"
  root=$(cd "$root" && pwd)
  [[ $root == / ]] && root=""
fi
if $restart && [[ -n $root ]]; then
  die "--restart restarts this machine's kubelet, not one under --root $root"
fi

# The two programs: the front docker runs and the full program it execs.
if [[ -z $from ]]; then
  if [[ -x $here/../../target/release/$FRONT ]]; then
    from=$(cd "$here/../../target/release" && pwd)
  else
    from=/usr/bin
  fi
fi
front_src=$from/$FRONT
full_src=""
for candidate in "$from/$FULL" "$from/../libexec/$FRONT/$FULL"; do
  if [[ -f $candidate ]]; then
    full_src=$candidate
    break
  fi
done
[[ -f $front_src && -x $front_src ]] || die "missing $front_src (build it: cargo build --release, or pass --from DIR)"
[[ -n $full_src ]] || die "missing $from/$FULL (nor in $from/../libexec/$FRONT/): both programs are needed"
[[ -x $full_src ]] || die "$full_src is not executable"
config_src=$here/credential-provider-config.yaml
[[ -f $config_src ]] || die "missing $config_src"

# The kubeadm packages' kubelet unit reads KUBELET_EXTRA_ARGS from one of these.
kubelet_env=""
if [[ $flavor == kubeadm ]]; then
  if [[ -f $root/etc/default/kubelet ]]; then
    kubelet_env=/etc/default/kubelet
  elif [[ -f $root/etc/sysconfig/kubelet ]]; then
    kubelet_env=/etc/sysconfig/kubelet
  elif [[ -d $root/etc/sysconfig && ! -f $root/etc/debian_version ]]; then
    kubelet_env=/etc/sysconfig/kubelet
  else
    kubelet_env=/etc/default/kubelet
  fi
fi

# Temporary files not yet renamed into place, removed on any exit.
pending=()
cleanup() {
  local file
  for file in "${pending[@]}"; do
    rm -f -- "$file"
  done
}
trap cleanup EXIT

# put MODE TARGET: writes stdin to TARGET (under the root) atomically with MODE. Prints
# "unchanged" or "installed" for TARGET.
put() {
  local mode=$1 target=$root$2 tmp
  if [[ -e $target && ! -f $target ]]; then
    die "$target exists and is not a regular file"
  fi
  mkdir -p -- "$(dirname -- "$target")"
  tmp=$(mktemp "$(dirname -- "$target")/.$(basename -- "$target").XXXXXX")
  pending+=("$tmp")
  cat >"$tmp"
  chmod "$mode" "$tmp"
  if [[ $(id -u) -eq 0 ]]; then
    chown 0:0 "$tmp"
  fi
  if [[ -f $target ]] && cmp -s "$tmp" "$target" && [[ $(stat -c %a "$target") == "${mode#0}" ]]; then
    rm -f -- "$tmp"
    echo "unchanged  $2"
    return
  fi
  mv -f -- "$tmp" "$target"
  echo "installed  $2"
}

# without_our_flags WORDS...: the words with any earlier --image-credential-provider-* flag
# (and its separate value) left out.
without_our_flags() {
  local kept=() skip_next=false word
  for word in "$@"; do
    if $skip_next; then
      skip_next=false
      continue
    fi
    case "$word" in
      "$FLAGS_CONFIG" | "$FLAGS_BIN_DIR") skip_next=true ;;
      "$FLAGS_CONFIG"=* | "$FLAGS_BIN_DIR"=*) ;;
      *) kept+=("$word") ;;
    esac
  done
  echo "${kept[*]}"
}

# The kubelet environment file with our two flags in its last KUBELET_EXTRA_ARGS (added when
# there is none), every other line and argument as it was.
kubelet_env_with_flags() {
  local file=$root$kubelet_env flags=$1 line value words last=0 n=0
  local lines=()
  if [[ -f $file ]]; then
    mapfile -t lines <"$file"
  fi
  for line in "${lines[@]}"; do
    n=$((n + 1))
    [[ $line =~ ^[[:space:]]*KUBELET_EXTRA_ARGS= ]] && last=$n
  done
  n=0
  for line in "${lines[@]}"; do
    n=$((n + 1))
    if [[ $line =~ ^[[:space:]]*KUBELET_EXTRA_ARGS=(.*)$ ]]; then
      value=${BASH_REMATCH[1]}
      if [[ $value =~ ^\"(.*)\"[[:space:]]*$ || $value =~ ^\'(.*)\'[[:space:]]*$ ]]; then
        value=${BASH_REMATCH[1]}
      fi
      read -ra words <<<"$value"
      value=$(without_our_flags "${words[@]}")
      if ((n == last)); then
        value="${value:+$value }$flags"
      fi
      printf 'KUBELET_EXTRA_ARGS="%s"\n' "$value"
    else
      printf '%s\n' "$line"
    fi
  done
  if ((last == 0)); then
    printf 'KUBELET_EXTRA_ARGS="%s"\n' "$flags"
  fi
}

echo "docker-credential-ecr for the $flavor kubelet${root:+ under $root}:"
put 0755 "$bin_dir/$FRONT" <"$front_src"
put 0755 "$bin_dir/$FULL" <"$full_src"
# The config is 0600: its `env` may hold keys (the kubelet reads it as root). One that differs
# from the shipped one was edited (tokenAttributes uncommented, keys added): it is kept, and
# the shipped one is put beside it, unless --replace-config says to replace it.
if [[ -f $root$config ]] && ! cmp -s "$config_src" "$root$config" && ! $replace_config; then
  put 0600 "$config.new" <"$config_src"
  echo "kept       $config (it differs from the shipped one: merge $config.new by hand, or run again with --replace-config)"
else
  if [[ -f $root$config ]] && ! cmp -s "$config_src" "$root$config"; then
    put 0600 "$config.bak" <"$root$config" >/dev/null
    echo "saved      $config.bak (the config that was there)"
  fi
  put 0600 "$config" <"$config_src"
fi

mkdir -p -- "$root$node_config_dir"
chmod 0700 "$root$node_config_dir"
if [[ $(id -u) -eq 0 ]]; then
  chown 0:0 "$root$node_config_dir"
fi
echo "directory  $node_config_dir (0700)"

flags="$FLAGS_CONFIG=$config $FLAGS_BIN_DIR=$bin_dir"
case "$flavor" in
  kubeadm)
    # The file keeps its mode (it may hold other settings someone keeps private).
    env_mode=0644
    if [[ -f $root$kubelet_env ]]; then
      env_mode=0$(stat -c %a "$root$kubelet_env")
    fi
    put "$env_mode" "$kubelet_env" < <(kubelet_env_with_flags "$flags")
    echo "kubelet flags (KUBELET_EXTRA_ARGS in $kubelet_env): $flags"
    service=kubelet
    ;;
  k3s)
    echo "kubelet flags: none to write; k3s passes $flags itself when both paths exist"
    # A server node runs k3s, an agent node k3s-agent (the names k3s's installer gives them).
    service=k3s
    if $restart && systemctl is-active --quiet k3s-agent; then
      service=k3s-agent
    fi
    ;;
esac

agent_unit=/etc/systemd/system/$FRONT-agent.service
if $agent; then
  # The agent reads the directories the provider config's env names (see
  # credential-provider-config.yaml), so it renews the very cache the kubelet's plugin reads.
  put 0644 "$agent_unit" <<UNIT
[Unit]
Description=docker-credential-ecr agent: renews the kubelet's ECR tokens before they are due
After=network-online.target
Wants=network-online.target

[Service]
Environment=DOCKER_CREDENTIAL_ECR_CONFIG_DIR=$node_config_dir
Environment=DOCKER_CREDENTIAL_ECR_CACHE_DIR=/var/cache/$FRONT
ExecStart=$bin_dir/$FRONT agent
Restart=on-failure
RestartSec=30

[Install]
WantedBy=multi-user.target
UNIT
fi

if $restart; then
  echo "restarting: systemctl restart $service"
  systemctl restart "$service"
  if $agent; then
    systemctl daemon-reload
    systemctl enable --now "$FRONT-agent.service"
  fi
else
  if $agent; then
    echo "next: systemctl daemon-reload && systemctl enable --now $FRONT-agent.service"
  fi
  if [[ $flavor == k3s ]]; then
    echo "next: systemctl restart k3s (k3s-agent on an agent node), or run again with --restart; then add keys:"
  else
    echo "next: systemctl restart kubelet (or run again with --restart); then add keys:"
  fi
  echo "  $bin_dir/$FRONT --config-dir $node_config_dir --cache-dir /var/cache/$FRONT add REGISTRY --store file"
fi
