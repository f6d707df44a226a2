# Sourced by kernel/run and its steps. Everything slow is cached under $KCACHE
# (default ${XDG_CACHE_HOME:-$HOME/.cache}/dmabuf-ic-kernel):
#   sid/            Debian sid chroot: toolchain, linux-source, QEMU (keyed by the package list)
#   sid/build/      kernel tree and build output (keyed by config fragment + patches)
#   logs/           one log per step and a `timings` file
# A lock (flock on $KCACHE/lock) serialises runs that share the cache.

KCACHE=${KCACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dmabuf-ic-kernel}
KHERE=${KHERE:-$(cd "$(dirname "$0")" && pwd)}
R=$KCACHE/sid
KVER=7.2
JOBS=${JOBS:-$(nproc)}
LOGS=$KCACHE/logs
mkdir -p "$LOGS"

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
die() { echo "kernel/run: $*" >&2; exit 1; }

# timed NAME cmd...: runs cmd, appends "NAME SECONDS rc" to logs/timings.
timed() {
  _name=$1; shift
  _s=$(date +%s); _rc=0
  "$@" || _rc=$?
  echo "$_name $(( $(date +%s) - _s )) s rc=$_rc" | tee -a "$LOGS/timings" >&2
  return $_rc
}

# Runs a shell command line inside the chroot with a clean environment.
in_chroot() {
  chroot "$R" /usr/bin/env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 TERM=dumb /bin/bash -c "$1"
}

# Mounts proc and dev in the chroot (idempotent); unmounts at exit what this run mounted.
KMOUNTED=""
chroot_mount() {
  mountpoint -q "$R/proc" || { mount -t proc proc "$R/proc"; KMOUNTED="$R/proc $KMOUNTED"; }
  mountpoint -q "$R/dev" || { mount --bind /dev "$R/dev"; KMOUNTED="$R/dev $KMOUNTED"; }
  trap 'for m in $KMOUNTED; do umount -l "$m" 2>/dev/null || true; done' EXIT
}

# Unmounts whatever an earlier, interrupted run left mounted in the chroot, before the chroot is
# deleted (a recursive delete would reach into it).
chroot_unmount_all() {
  for _m in "$R/repo" "$R/dev" "$R/proc"; do
    while mountpoint -q "$_m" 2>/dev/null; do umount -l "$_m" || die "cannot unmount $_m"; done
  done
}

# The Debian mirror apt already uses on this machine.
debian_mirror() {
  _uri=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v security | head -1)
  [ -n "$_uri" ] || _uri=$(awk '$1 == "deb" && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null)
  [ -n "$_uri" ] || die "no Debian mirror configured in apt"
  echo "$_uri"
}
