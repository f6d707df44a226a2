# An Intel IOMMU with intel_iommu=on: the kernel enables ACS (SV, RR, CR, UF) on every port
# that has the capability (QEMU's root ports; its switch ports have none) and creates IOMMU
# groups. Two NVMe under a switch on one root port; a two-function NVMe on another root port,
# whose ACS now redirects between its functions.
CPU=max
APPEND='intel_iommu=on'
DEVICES='-device intel-iommu,intremap=off
 -device pcie-root-port,id=rp1,chassis=1,slot=1,bus=pcie.0,addr=0x10
 -device x3130-upstream,id=up1,bus=rp1
 -device xio3130-downstream,id=dn1,bus=up1,chassis=2,slot=1
 -device xio3130-downstream,id=dn2,bus=up1,chassis=3,slot=2
 -drive file=$DISK,if=none,format=raw,readonly=on,file.locking=off,id=d0 -device nvme,serial=cmb0,cmb_size_mb=16,drive=d0,bus=dn1
 -drive file=$DISK,if=none,format=raw,readonly=on,file.locking=off,id=d1 -device nvme,serial=n1,drive=d1,bus=dn2
 -device pcie-root-port,id=rp2,chassis=4,slot=2,bus=pcie.0,addr=0x11
 -drive file=$DISK,if=none,format=raw,readonly=on,file.locking=off,id=d2 -device nvme,serial=cmb2,cmb_size_mb=16,drive=d2,bus=rp2,addr=0.0,multifunction=on
 -drive file=$DISK,if=none,format=raw,readonly=on,file.locking=off,id=d3 -device nvme,serial=n3,drive=d3,bus=rp2,addr=0.1'
