# Saves the PCI part of sysfs (and /proc/cpuinfo) as a sysfs snapshot that dmabuf-ic --sysfs
# reads: bus/pci/devices links into devices/pci*/..., each function's attributes and config
# space, driver, physfn and iommu_group links, p2pmem, and the IOMMU groups.
S=$OUT/snapshot
mkdir -p "$S/sys/bus/pci/devices" "$S/proc"
cat /proc/cpuinfo >"$S/proc/cpuinfo"
cat /proc/cmdline >"$S/proc/cmdline"
for l in /sys/bus/pci/devices/*; do
  d=$(readlink -f "$l"); b=$(basename "$l")
  mkdir -p "$S$d"
  for f in vendor device class revision subsystem_vendor subsystem_device numa_node local_cpus \
           local_cpulist current_link_speed current_link_width max_link_speed max_link_width \
           resource config irq enable ari_enabled sriov_numvfs sriov_totalvfs; do
    [ -f "$d/$f" ] && cat "$d/$f" >"$S$d/$f" 2>/dev/null
  done
  up=$(echo "${d#/sys/}" | sed 's|[^/]*|..|g')
  [ -L "$d/driver" ] && ln -s "$up/bus/pci/drivers/$(basename "$(readlink "$d/driver")")" "$S$d/driver"
  if [ -L "$d/iommu_group" ]; then
    g=$(basename "$(readlink "$d/iommu_group")"); mkdir -p "$S/sys/kernel/iommu_groups/$g/devices"
    ln -s "$up/kernel/iommu_groups/$g" "$S$d/iommu_group"
    ln -s "../../../..${d#/sys}" "$S/sys/kernel/iommu_groups/$g/devices/$b"
  fi
  [ -L "$d/physfn" ] && ln -s "$(readlink "$d/physfn")" "$S$d/physfn"
  if [ -d "$d/p2pmem" ]; then
    mkdir -p "$S$d/p2pmem"
    for f in size available published; do cat "$d/p2pmem/$f" >"$S$d/p2pmem/$f"; done
  fi
  ln -s "../../..${d#/sys}" "$S/sys/bus/pci/devices/$b"
done
echo "$(ls /sys/bus/pci/devices | wc -l) functions"
