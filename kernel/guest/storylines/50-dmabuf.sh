# A real dma-buf between two drivers: for every p2pmem provider and every NVMe namespace (the
# provider's own included: its controller reading into its own CMB), /bin/dmabufctl runs the
# storyline (export in the CMB, attach, map, transfer, move to system memory, renegotiated map,
# transfer, revoke, refused map) with dmabuf_exporter and dmabuf_importer loaded, once per list
# the importer passes at attach (dmabufctl's modes: p2p, plain, system, compat). Writes, per
# pair, $OUT/PAIR.steps (dmabufctl's steps) and $OUT/PAIR.events (both modules' "dmabuf-ic:"
# kernel log lines of that run), and $OUT/pairs ("PAIR PROVIDER CLIENT NAMESPACE MODES", MODES
# the importers' modes in the order they attach). kernel/lib/dmabuf_events.py replays each pair
# with dmabuf-ic simulate on the saved sysfs and compares.
# With an IOMMU the DMA API gives the importers IOVAs (dmabuf_exporter takes them from its own
# dma_map_sgtable(): dma_mapping.rs); $OUT/iommu names the IOMMUs, so that the replay compares
# the memory an IOVA maps rather than the IOVA, which simulate does not model. There, QEMU
# sends every DMA of a function through its vIOMMU, peer-to-peer bus addresses included (a real
# switch without ACS routes them to the peer): an NVMe read into another function's CMB
# completes with no byte arriving. So with an IOMMU the modes that offer peer-to-peer memory
# (p2p, compat) do not run for a client other than the provider; $OUT/not-run says which.
ls /sys/class/iommu/ 2>/dev/null | tr '\n' ' ' | sed 's/ $//' >"$OUT/iommu"
[ -s "$OUT/iommu" ] || rm -f "$OUT/iommu"
# The importer calls the exporter's dmabuf_ic_attach(): the exporter goes in first.
insmod /modules/dmabuf_exporter.ko || { echo "insmod dmabuf_exporter failed"; exit 1; }
insmod /modules/dmabuf_importer.ko || { echo "insmod dmabuf_importer failed"; exit 1; }
rc=0
: >"$OUT/pairs"
for p in /sys/bus/pci/devices/*/p2pmem; do
  [ -d "$p" ] || continue
  provider=$(basename "$(dirname "$p")")
  for b in /sys/block/nvme*; do
    [ -e "$b" ] || continue
    ns=$(basename "$b"); client=$(basename "$(readlink -f "$b/device/device")")
    # p2p: the importer offers peer-to-peer memory; plain: it does not, so the exporter must
    # move the buffer to system memory for it; system: as plain, but its attachment allows
    # peer-to-peer memory (allow_peer2peer): only the list it passed keeps it off the CMB;
    # compat: no list, the exporter reads the attachment as the mapping-types series does.
    for mode in p2p plain system compat; do
      pair="$provider-$client-$mode"
      if [ -e "$OUT/iommu" ] && [ "$client" != "$provider" ] && [ "$mode" != plain ] && [ "$mode" != system ]; then
        echo "$pair QEMU's vIOMMU translates peer-to-peer DMA to another function's BAR" >>"$OUT/not-run"
        continue
      fi
      before=$(dmesg | grep -c 'dmabuf-ic:')
      /bin/dmabufctl "$provider" "$client" "/dev/$ns" "$mode" >"$OUT/$pair.steps" 2>&1 || rc=1
      dmesg | grep 'dmabuf-ic:' | sed 's/^\[[^]]*\] //' | tail -n +"$((before + 1))" >"$OUT/$pair.events"
      echo "$pair $provider $client /dev/$ns $mode" >>"$OUT/pairs"
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
    echo "$pair $provider $provider /dev/$own p2p,p2p" >>"$OUT/pairs"
    echo "== $pair"; cat "$OUT/$pair.steps"
  done
done
rmmod dmabuf_importer || rc=1
rmmod dmabuf_exporter || rc=1
exit $rc
