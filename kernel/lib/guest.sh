# Steps 3 to 5: the project's modules, the guest's initramfs, and one boot per topology.
# The repository is bind-mounted read-only into the chroot at /repo, so the modules compile
# kernel/module and crates/negotiate/src in place (make M=/repo/kernel/module MO=...).

MODOUT=/build/modules   # inside the chroot: the modules' build output
WORK=/work              # inside the chroot: this run's files (host: $R/work)

# Bind-mounts this repository read-only at $R/repo (unmounted at exit with the other mounts).
# Runs hold the cache's lock while they use that mount, so whatever is mounted there now was
# left by a run that is over (perhaps of another checkout): it is replaced, never reused.
repo_mount() {
  mkdir -p "$R/repo"
  while mountpoint -q "$R/repo"; do umount -l "$R/repo" || die "cannot unmount $R/repo"; done
  mount --bind "$REPO" "$R/repo" && mount -o remount,bind,ro "$R/repo" || die "cannot bind-mount $REPO into the chroot"
  KMOUNTED="$R/repo $KMOUNTED"
}

# Builds every module in kernel/module with the kernel's clippy lints (CLIPPY=1: the kernel's
# warning set, float arithmetic among them); any warning fails the run.
modules() {
  # Formatted as the kernel formats Rust (its rustfmt configuration).
  in_chroot "rustfmt --edition 2021 --config-path $SRC/.rustfmt.toml --check /repo/kernel/module/*.rs" \
    >"$LOGS/module-rustfmt.log" 2>&1 || { cat "$LOGS/module-rustfmt.log" >&2; die "kernel/module is not formatted (rustfmt with the kernel's .rustfmt.toml)"; }
  # Built afresh: every checkout is mounted at the same /repo, so make's timestamps would keep
  # objects another checkout built later than this one's sources changed.
  rm -rf "${R:?}$MODOUT"; mkdir -p "$R$MODOUT"
  timed module-build in_chroot "make LLVM=1 CLIPPY=1 -C $KBUILD M=/repo/kernel/module MO=$MODOUT" \
    >"$LOGS/module-build.log" 2>&1 || { cat "$LOGS/module-build.log" >&2; die "module build failed"; }
  if grep -q '^warning' "$LOGS/module-build.log"; then
    cat "$LOGS/module-build.log" >&2; die "the module build has warnings"
  fi
  no_panic_paths $PANIC_FREE
}

# Objects that must keep no panic path: the negotiation crate and the module's own code. The
# kernel builds Rust with overflow checks, so an unchecked `+`, an index or an `unwrap()` shows
# up as a call into core::panicking.
PANIC_FREE="dmabuf_negotiate.o negotiate_kernel_main.o"

no_panic_paths() {
  for _o in "$@"; do
    _where=$(in_chroot "llvm-objdump -d -r -C --no-show-raw-insn $MODOUT/$_o" |
      awk '/^[0-9a-f]+ </ { fn = $0 } /core::panicking/ { sub(/^[0-9a-f]+ /, "", fn); print "  " fn }' | sort -u)
    [ -z "$_where" ] || die "$_o has panic paths, in:
$_where"
  done
}

# The initramfs: static busybox, p2pprobe, guest/init, guest/storylines, the modules.
initramfs() {
  _i=$R$WORK/initramfs
  rm -rf "$_i"; mkdir -p "$_i/bin" "$_i/modules" "$_i/storylines" "$_i/proc" "$_i/sys" "$_i/dev" "$_i/tmp"
  cp "$R/bin/busybox" "$_i/bin/busybox"
  for _a in $(chroot "$R" /bin/busybox --list); do [ "$_a" = busybox ] || ln -sf busybox "$_i/bin/$_a"; done
  in_chroot "gcc -static -O2 -Wall -Werror -o $WORK/initramfs/bin/p2pprobe /repo/kernel/guest/p2pprobe.c" \
    || die "p2pprobe does not build"
  cp "$R$MODOUT"/*.ko "$_i/modules/"
  cp "$KHERE/guest/init" "$_i/init"; chmod +x "$_i/init"
  cp "$KHERE"/guest/storylines/*.sh "$_i/storylines/"
  dmabuf_initramfs
  in_chroot "cd $WORK/initramfs && find . | cpio -o -H newc --quiet | gzip -1 > $WORK/initrd.gz" \
    || die "cannot pack the initramfs"
}

# boot TOPOLOGY OUTDIR: boots the guest on the topology (QEMU q35, TCG) and unpacks what the
# guest wrote into OUTDIR (host path). A topology file sets CPU, APPEND and DEVICES; $DISK in
# DEVICES names a small read-only disk image for NVMe namespaces.
boot() {
  _topo=$1; _out=$2
  _name=$(basename "$_topo" .sh)
  CPU=max; APPEND=""; DEVICES=""
  DISK=$WORK/disk.img
  . "$_topo"
  # The topology's words, expanded as kernel-oracle's format wants ($DISK), quoted for the
  # chroot's shell.
  eval "set -- $(printf "%s" "$DEVICES" | tr "\n" " ")"
  _devices=$(printf "%q " "$@")
  _append=$(printf "%q" "console=ttyS0 panic=-1 loglevel=4 $APPEND")
  _cpu=$(printf "%q" "$CPU")
  truncate -s 16M "$R$WORK/disk.img"
  rm -rf "$_out"; mkdir -p "$_out"
  for _try in 1 2; do
    truncate -s 0 "$R$WORK/out.img"; truncate -s 64M "$R$WORK/out.img"
    _s=$(date +%s)
    in_chroot "timeout 300 qemu-system-x86_64 -accel tcg,thread=multi -machine q35 -cpu $_cpu -m 1024 -smp 2,sockets=2 \
      -nographic -no-reboot -kernel $KBUILD/arch/x86/boot/bzImage -initrd $WORK/initrd.gz \
      -append $_append \
      -drive file=$WORK/out.img,if=none,id=out,format=raw -device virtio-blk-pci,drive=out,bus=pcie.0,addr=0x1e \
      $_devices" >"$_out/console.log" 2>&1 || true
    echo "boot-$_name $(( $(date +%s) - _s )) s" >>"$LOGS/timings"
    # Software emulation very rarely trips the guest; one more boot settles it.
    grep -q "=== GUEST DONE" "$_out/console.log" && break
  done
  grep -q "=== GUEST DONE" "$_out/console.log" || { tail -30 "$_out/console.log" >&2; return 1; }
  tar xf "$R$WORK/out.img" -C "$_out" 2>/dev/null || return 1
  cp "$_topo" "$_out/topology.sh"
}
