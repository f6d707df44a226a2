# Sourced by kernel/run after guest.sh: the dma-buf exporter and importer (kernel/dmabuf), their
# guest program and the user-space replay of their storylines. Uses guest.sh's R, KBUILD,
# MODOUT, WORK and in_chroot.

DMABUF_MODOUT=$MODOUT-dmabuf      # inside the chroot: the dma-buf modules' build output
DMABUF_REPO=${DMABUF_REPO:-/repo} # inside the chroot: the repository (guest.sh's repo_mount)

# Builds kernel/dmabuf with the kernel's clippy lints; any warning fails the run.
dmabuf_modules() {
  in_chroot "rustfmt --edition 2021 --config-path $SRC/.rustfmt.toml --check $DMABUF_REPO/kernel/dmabuf/*.rs" \
    >"$LOGS/dmabuf-rustfmt.log" 2>&1 || { cat "$LOGS/dmabuf-rustfmt.log" >&2; die "kernel/dmabuf is not formatted (rustfmt with the kernel's .rustfmt.toml)"; }
  # Built afresh: every checkout is mounted at the same /repo, so make's timestamps would keep
  # objects another checkout built later than this one's sources changed.
  rm -rf "${R:?}$DMABUF_MODOUT"; mkdir -p "$R$DMABUF_MODOUT"
  timed dmabuf-module-build in_chroot "make LLVM=1 CLIPPY=1 -C $KBUILD M=$DMABUF_REPO/kernel/dmabuf MO=$DMABUF_MODOUT" \
    >"$LOGS/dmabuf-module-build.log" 2>&1 || { cat "$LOGS/dmabuf-module-build.log" >&2; die "dma-buf module build failed"; }
  if grep -q '^warning' "$LOGS/dmabuf-module-build.log"; then
    cat "$LOGS/dmabuf-module-build.log" >&2; die "the dma-buf module build has warnings"
  fi
  dmabuf_no_panic_paths dmabuf_negotiate_lifecycle.o exporter.o importer.o
}

# As guest.sh's no_panic_paths, for the dma-buf objects, less the kernel's own KVec code that
# they instantiate (`kernel::alloc::kvec::Vec<...>::reserve` and the like check their
# arithmetic with panics; that is the kernel's code, not ours).
dmabuf_no_panic_paths() {
  for _o in "$@"; do
    _where=$(in_chroot "llvm-objdump -d -r -C --no-show-raw-insn $DMABUF_MODOUT/$_o" |
      awk '/^[0-9a-f]+ </ { fn = $0 } /core::panicking/ { sub(/^[0-9a-f]+ /, "", fn); print "  " fn }' |
      grep -v '^  <<kernel::alloc::kvec::Vec<' | sort -u || true)
    [ -z "$_where" ] || die "kernel/dmabuf's $_o has panic paths, in:
$_where"
  done
}

# Adds the modules and /bin/dmabufctl to the initramfs being packed in $R$WORK/initramfs.
dmabuf_initramfs() {
  cp "$R$DMABUF_MODOUT"/*.ko "$R$WORK/initramfs/modules/"
  in_chroot "gcc -static -O2 -Wall -Werror -o $WORK/initramfs/bin/dmabufctl $DMABUF_REPO/kernel/guest/dmabufctl.c" \
    || die "dmabufctl does not build"
}

# The NVMe namespaces' disk image: 16 MiB whose every 16 bytes name their offset
# (`blk%012x`), so that a transfer of the wrong blocks, or none, cannot pass the guest's check.
# boot() truncates it to its size, which keeps the bytes.
dmabuf_disk() {
  python3 - "$R$WORK/disk.img" <<'PY'
import sys
with open(sys.argv[1], "wb") as f:
    f.write(b"".join(b"blk%012x" % i for i in range(16 * 1024 * 1024 // 16)))
PY
}

# dmabuf_check DMABUF_IC FOLDER... (chroot paths): the replay (lib/dmabuf_events.py), in the
# chroot; its last line is `dma-buf events: A/B agree`.
dmabuf_check() {
  in_chroot "python3 $DMABUF_REPO/kernel/lib/dmabuf_events.py $*"
}
