# The kernel's own P2P decision, seen from user space: for every p2pmem provider and every NVMe
# namespace, an O_DIRECT read from the namespace into the provider's p2pmem. Writes
# $OUT/verdicts: "PROVIDER CLIENT ok|refused ..." (CLIENT: the namespace's controller).
for b in /sys/block/nvme*; do
  [ -e "$b" ] && echo "$(basename "$b") $(basename "$(readlink -f "$b/device/device")")"
done >"$OUT/namespaces"
for p in /sys/bus/pci/devices/*/p2pmem; do
  [ -d "$p" ] || continue
  provider=$(basename "$(dirname "$p")")
  while read -r ns client; do /bin/p2pprobe "$provider" "/dev/$ns" "$client"; done <"$OUT/namespaces"
done >"$OUT/verdicts"
cat "$OUT/verdicts"
