# A switch on root port 00:10.0 with four downstream ports. Below two of them sits a further
# PCIe port (QEMU's pcie-root-port, which has an ACS capability) whose ACS redirect is forced
# on (03:00.0 and 05:00.0): one in front of a CMB (provider side), one in front of a disk
# (client side). The other two downstream ports hold a CMB and a disk directly.
CPU=max
APPEND='pci=config_acs=11xx@0000:03:00.0;11xx@0000:05:00.0'
DEVICES='-device pcie-root-port,id=rp1,chassis=1,slot=1,bus=pcie.0,addr=0x10
 -device x3130-upstream,id=up1,bus=rp1
 -device xio3130-downstream,id=dn1,bus=up1,chassis=2,slot=1
 -device xio3130-downstream,id=dn2,bus=up1,chassis=3,slot=2
 -device xio3130-downstream,id=dn3,bus=up1,chassis=4,slot=3
 -device xio3130-downstream,id=dn4,bus=up1,chassis=5,slot=4
 -device pcie-root-port,id=pa,chassis=6,slot=5,bus=dn1
 -device pcie-root-port,id=pb,chassis=7,slot=6,bus=dn2
 -drive file=$DISK,if=none,format=raw,readonly=on,file.locking=off,id=d0 -device nvme,serial=cmb0,cmb_size_mb=16,drive=d0,bus=pa
 -drive file=$DISK,if=none,format=raw,readonly=on,file.locking=off,id=d1 -device nvme,serial=n1,drive=d1,bus=pb
 -drive file=$DISK,if=none,format=raw,readonly=on,file.locking=off,id=d2 -device nvme,serial=cmb2,cmb_size_mb=16,drive=d2,bus=dn3
 -drive file=$DISK,if=none,format=raw,readonly=on,file.locking=off,id=d3 -device nvme,serial=n3,drive=d3,bus=dn4'
