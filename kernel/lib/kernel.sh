# Step 2: the guest kernel, built in the chroot from linux-source-7.2 with the patches in
# patches/ and tinyconfig + config/guest.config. One source tree and one build folder are
# kept; a changed patch set is reversed and re-applied (so make sees the touched files) and a
# changed config is merged again, and make rebuilds incrementally.

SRC=/build/linux-source-$KVER   # inside the chroot
KBUILD=/build/kbuild            # inside the chroot (make O=)

kernel_key() {
  { in_chroot "dpkg-query -W linux-source-$KVER"; cat "$KHERE/config/guest.config" "$KHERE"/patches/*.patch; } | sha256sum | cut -c1-16
}

# Makes the source tree carry exactly the patches in patches/.
kernel_patches() {
  _applied=$R/build/applied-patches
  if [ -e "$R$SRC/.unpacked" ] && [ -d "$_applied" ]; then
    [ "$(cat "$_applied"/*.patch 2>/dev/null | sha256sum)" = "$(cat "$KHERE"/patches/*.patch | sha256sum)" ] && return 0
    for _p in $(ls -r "$_applied"/*.patch 2>/dev/null); do
      patch -s -R -p1 -d "$R$SRC" <"$_p" || { rm -f "$R$SRC/.unpacked"; break; }
    done
  fi
  if [ ! -e "$R$SRC/.unpacked" ]; then
    rm -rf "$R$SRC"
    timed untar-kernel in_chroot "cd /build && tar xf /usr/src/linux-source-$KVER.tar.xz" || die "untar failed"
    # Files that an earlier patch set touched must look newer than the build output.
    [ -d "$_applied" ] && for _f in $(sed -n 's|^+++ b/||p' "$_applied"/*.patch); do touch "$R$SRC/$_f"; done
    touch "$R$SRC/.unpacked"
  fi
  rm -rf "$_applied"; mkdir -p "$_applied"
  for _p in "$KHERE"/patches/*.patch; do
    patch -s -p1 -d "$R$SRC" <"$_p" || die "patch $(basename "$_p") does not apply to linux-source-$KVER"
    cp "$_p" "$_applied/"
  done
}

kernel() {
  mkdir -p "$R/build"
  _key=$(kernel_key)
  if [ "$(cat "$R$KBUILD/.dmabuf-ic-key" 2>/dev/null)" = "$_key" ] && [ -e "$R$KBUILD/arch/x86/boot/bzImage" ]; then
    return 0
  fi
  log "building the guest kernel (key $_key; log: $LOGS/kernel-build.log)"
  kernel_patches
  in_chroot "cd $SRC && make LLVM=1 rustavailable" >"$LOGS/rustavailable.log" 2>&1 \
    || die "the chroot's Rust toolchain does not suit linux-$KVER: $(tail -3 "$LOGS/rustavailable.log")"
  mkdir -p "$R$KBUILD"
  cp "$KHERE/config/guest.config" "$R/build/guest.config"
  in_chroot "cd $SRC && make LLVM=1 O=$KBUILD tinyconfig >/dev/null &&
    scripts/kconfig/merge_config.sh -m -O $KBUILD $KBUILD/.config /build/guest.config >/dev/null &&
    make LLVM=1 O=$KBUILD olddefconfig >/dev/null" || die "kernel configuration failed"
  # Every option the fragment asks for must have survived olddefconfig.
  _bad=""
  for _l in $(grep -E '^CONFIG_[A-Z0-9_]+=|^# CONFIG_[A-Z0-9_]+ is not set' "$KHERE/config/guest.config" |
             sed -E 's/^# (CONFIG_[A-Z0-9_]+) is not set/\1=n/'); do
    _k=${_l%%=*}; _v=${_l#*=}
    _got=$(sed -n "s/^$_k=//p" "$R$KBUILD/.config"); [ -n "$_got" ] || _got=n
    [ "$_got" = "$_v" ] || _bad="$_bad $_k=$_v(got $_got)"
  done
  [ -z "$_bad" ] || die "config/guest.config options lost by olddefconfig:$_bad"
  timed kernel-build in_chroot "cd $SRC && make LLVM=1 O=$KBUILD -j$JOBS" >"$LOGS/kernel-build.log" 2>&1 \
    || { tail -40 "$LOGS/kernel-build.log" >&2; die "kernel build failed (log: $LOGS/kernel-build.log)"; }
  echo "$_key" >"$R$KBUILD/.dmabuf-ic-key"
}
