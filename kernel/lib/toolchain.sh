# Step 1: host tools and the Debian sid chroot with the Rust-for-Linux toolchain, linux-source
# and QEMU (sid's QEMU emulates igb with SR-IOV; Debian 12's 7.2 does not). Idempotent: the
# chroot is remade when its package list changes.

CHROOT_PKGS="linux-source-$KVER rustc rust-src bindgen clang llvm lld build-essential bc flex \
bison libelf-dev libssl-dev cpio python3 xz-utils kmod dwarves busybox-static rustfmt rust-clippy \
qemu-system-x86 ipxe-qemu"

toolchain() {
  if ! command -v debootstrap >/dev/null; then
    { apt-get install -y --no-install-recommends debootstrap || { apt-get update && apt-get install -y --no-install-recommends debootstrap; }; } \
      >"$LOGS/host-apt.log" 2>&1 || die "apt-get install debootstrap failed (log: $LOGS/host-apt.log)"
  fi
  if [ ! -e "$R/.debootstrap-done" ]; then
    _mirror=$(debian_mirror)
    log "debootstrap sid from $_mirror into $R"
    chroot_unmount_all
    rm -rf "$R"
    timed debootstrap debootstrap --variant=minbase sid "$R" "$_mirror" >"$LOGS/debootstrap.log" 2>&1 \
      || die "debootstrap failed (log: $LOGS/debootstrap.log)"
    touch "$R/.debootstrap-done"
  fi
  # A mirror snapshot's Release file may have expired.
  echo 'Acquire::Check-Valid-Until "false";' >"$R/etc/apt/apt.conf.d/99no-valid-until"
  cp /etc/resolv.conf "$R/etc/resolv.conf" 2>/dev/null || true
  chroot_mount
  if [ "$(cat "$R/.packages-done" 2>/dev/null)" != "$CHROOT_PKGS" ]; then
    log "installing the toolchain in the chroot"
    timed chroot-apt-update in_chroot "apt-get update -qq" >"$LOGS/chroot-apt.log" 2>&1 || true
    timed chroot-apt-install in_chroot "DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $CHROOT_PKGS" \
      >>"$LOGS/chroot-apt.log" 2>&1 || die "apt-get install in the chroot failed (log: $LOGS/chroot-apt.log)"
    echo "$CHROOT_PKGS" >"$R/.packages-done"
  fi
}
