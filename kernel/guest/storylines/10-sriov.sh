# Enables every virtual function of every SR-IOV physical function that has a driver (igb under
# QEMU), so that VFs and their PF are clients in the snapshot and in the kernel's verdicts.
for d in /sys/bus/pci/devices/*; do
  [ -f "$d/sriov_totalvfs" ] && [ -L "$d/driver" ] || continue
  n=$(cat "$d/sriov_totalvfs"); [ "$n" -gt 0 ] || continue
  echo "$n" >"$d/sriov_numvfs" && echo "$(basename "$d"): $n VFs" || echo "$(basename "$d"): enabling $n VFs failed"
done
sleep 1   # VF drivers probe asynchronously
