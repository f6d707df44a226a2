# A real dma-buf between two drivers: for every p2pmem provider and every NVMe namespace (the
# provider's own included: its controller reading into its own CMB), /bin/dmabufctl runs the storyline (export in the CMB, attach, map,
# transfer, move to system memory, renegotiated map, transfer, revoke, refused map) with
# dmabuf_exporter and dmabuf_importer loaded. Writes, per pair, $OUT/PAIR.steps (dmabufctl's
# steps) and $OUT/PAIR.events (the exporter's "dmabuf-ic:" kernel log lines of that run), and
# $OUT/pairs ("PAIR PROVIDER CLIENT NAMESPACE"). kernel/lib/dmabuf_events.py replays each pair
# with dmabuf-ic simulate on the saved sysfs and compares.
# With an IOMMU the DMA API gives system memory IOVAs, while dmabuf_exporter derives DMA
# addresses as the CPU's (and refuses every map that differs from the kernel's own): not
# supported yet, said so, not run (kernel/dmabuf/README.md).
if ls /sys/class/iommu/* >/dev/null 2>&1; then
  echo "an IOMMU translates DMA here, which dmabuf_exporter does not support yet" >"$OUT/skipped"
  cat "$OUT/skipped"
  exit 0
fi
insmod /modules/dmabuf_importer.ko || { echo "insmod dmabuf_importer failed"; exit 1; }
insmod /modules/dmabuf_exporter.ko || { echo "insmod dmabuf_exporter failed"; exit 1; }
rc=0
: >"$OUT/pairs"
for p in /sys/bus/pci/devices/*/p2pmem; do
  [ -d "$p" ] || continue
  provider=$(basename "$(dirname "$p")")
  for b in /sys/block/nvme*; do
    [ -e "$b" ] || continue
    ns=$(basename "$b"); client=$(basename "$(readlink -f "$b/device/device")")
    # p2p: the importer accepts peer-to-peer memory; plain: it does not, so the exporter
    # must move the buffer to system memory for it.
    for mode in p2p plain; do
      pair="$provider-$client-$mode"
      before=$(dmesg | grep -c 'dmabuf-ic:')
      /bin/dmabufctl "$provider" "$client" "/dev/$ns" "$mode" >"$OUT/$pair.steps" 2>&1 || rc=1
      dmesg | grep 'dmabuf-ic:' | sed 's/^\[[^]]*\] //' | tail -n +"$((before + 1))" >"$OUT/$pair.events"
      echo "$pair $provider $client /dev/$ns" >>"$OUT/pairs"
      echo "== $pair"; cat "$OUT/$pair.steps"
    done
  done
  # A late importer: the provider's own controller shares the buffer in the CMB, then each
  # other controller attaches; one that cannot reach the CMB makes the exporter move the
  # buffer, invalidating the first importer, whose next map renegotiates.
  own=$(for b in /sys/block/nvme*; do
    [ "$(basename "$(readlink -f "$b/device/device")")" = "$provider" ] && basename "$b"; done | head -1)
  [ -n "$own" ] || continue
  for b in /sys/block/nvme*; do
    late=$(basename "$(readlink -f "$b/device/device")")
    [ "$late" = "$provider" ] && continue
    pair="$provider-$provider-late-$late"
    before=$(dmesg | grep -c 'dmabuf-ic:')
    /bin/dmabufctl "$provider" "$provider" "/dev/$own" p2p "$late" >"$OUT/$pair.steps" 2>&1 || rc=1
    dmesg | grep 'dmabuf-ic:' | sed 's/^\[[^]]*\] //' | tail -n +"$((before + 1))" >"$OUT/$pair.events"
    echo "$pair $provider $provider /dev/$own" >>"$OUT/pairs"
    echo "== $pair"; cat "$OUT/$pair.steps"
  done
done
rmmod dmabuf_exporter || rc=1
rmmod dmabuf_importer || rc=1
exit $rc
