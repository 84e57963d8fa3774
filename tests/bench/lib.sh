# shellcheck shell=bash
# lib.sh: what the benchmarks share (sourced by performance.sh and mirror.sh, never run): the
# /etc/hosts entries, the throwaway CA and its place in the system trust store.
#
# The caller sets HOSTS_FILE, HOSTS_TAG (the marker of its lines: "# ecr-e2e-test pid=$$ id=..."),
# WORK (its work dir), SYSTEM_CA_PREFIX (its CA file's name before "<pid>.crt" under
# /usr/local/share/ca-certificates) and defines die().

SYSTEM_CA_DIR=/usr/local/share/ca-certificates
SYSTEM_CA=$SYSTEM_CA_DIR/$SYSTEM_CA_PREFIX$$.crt

# edit_hosts add|remove [IP HOST]...: adds our lines (after dropping marked lines of dead pids)
# or removes ours. The file is rewritten in place (never by rename: in containers it is a bind
# mount) under the same flock and with the same line marker as the Rust fixtures
# (tests/src/system.rs).
edit_hosts() {
  local action=$1
  shift
  mkdir -p /tmp/ecr-e2e-system
  python3 - "$action" "$HOSTS_FILE" "$HOSTS_TAG" "$@" <<'PY'
import fcntl, sys
action, path, tag, *entries = sys.argv[1:]

def stale(line):
    pid = next((f[4:] for f in line.split() if f.startswith("pid=")), "")
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True

with open("/tmp/ecr-e2e-system/hosts.lock", "a") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    with open(path, "r+") as hosts:
        kept = [
            line
            for line in hosts.read().splitlines()
            if "# ecr-e2e-test" not in line or not (line.endswith(tag) or stale(line))
        ]
        if action == "add":
            kept += [f"{entry} {tag}" for entry in entries]
        hosts.seek(0)
        hosts.truncate()
        hosts.write("\n".join(kept) + "\n")
PY
}

# make_pki CA_NAME HOST...: a throwaway CA and a server certificate for the HOSTs in $WORK/pki
# (ca.pem, server.pem, server.key).
make_pki() {
  local ca_name=$1 dir=$WORK/pki san
  shift
  san=$(printf 'DNS:%s, ' "$@")
  mkdir -p "$dir"
  printf '%s\n' '[req]' 'distinguished_name = dn' 'x509_extensions = v3_ca' 'prompt = no' \
    '[dn]' "CN = $ca_name" '[v3_ca]' \
    'basicConstraints = critical, CA:TRUE' 'keyUsage = critical, keyCertSign, cRLSign' \
    'subjectKeyIdentifier = hash' >"$dir/ca.cnf"
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -config "$dir/ca.cnf" -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -subj "/CN=$1" -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
  printf '%s\n' 'basicConstraints = critical, CA:FALSE' \
    'keyUsage = critical, digitalSignature, keyEncipherment' 'extendedKeyUsage = serverAuth' \
    "subjectAltName = ${san%, }" >"$dir/server.ext"
  openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
    -CAcreateserial -days 2 -extfile "$dir/server.ext" -out "$dir/server.pem" 2>/dev/null
}

# The throwaway CA joins the system trust store (the bundle file and the hashed links of
# /etc/ssl/certs) for the run; remove_system_ca takes it out again (also after a kill: the
# cleanup trap) and removes the CA of an earlier run whose pid is dead.
add_system_ca() {
  cp "$WORK/pki/ca.pem" "$SYSTEM_CA"
  update-ca-certificates >"$WORK/update-ca.log" 2>&1 || die "update-ca-certificates failed: $(cat "$WORK/update-ca.log")"
  grep -q "$(sed -n 2p "$WORK/pki/ca.pem")" /etc/ssl/certs/ca-certificates.crt ||
    die "the throwaway CA is not in /etc/ssl/certs/ca-certificates.crt after update-ca-certificates"
}

remove_system_ca() {
  local stale pid removed=
  for stale in "$SYSTEM_CA_DIR/$SYSTEM_CA_PREFIX"*.crt; do
    [[ -e $stale ]] || continue
    pid=${stale##*/"$SYSTEM_CA_PREFIX"}
    pid=${pid%.crt}
    if [[ $stale == "$SYSTEM_CA" ]] || ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$stale"
      removed=1
    fi
  done
  if [[ -n $removed ]]; then
    update-ca-certificates >/dev/null 2>&1 || echo "update-ca-certificates failed while removing the bench CA" >&2
  fi
  remove_orphan_links
}

# remove_orphan_links: update-ca-certificates rebuilds the bundle without a removed local CA but
# leaves its links in /etc/ssl/certs (NAME.pem and the hash link to it) dangling until the next
# change; ours go now.
remove_orphan_links() {
  local link
  for link in /etc/ssl/certs/*; do
    [[ -L $link && ! -e $link ]] || continue
    case $(readlink "$link") in
    "$SYSTEM_CA_PREFIX"*.pem | "$SYSTEM_CA_DIR/$SYSTEM_CA_PREFIX"*.crt) rm -f "$link" ;;
    esac
  done
}
