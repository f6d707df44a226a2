# SR-IOV: two Intel 82576 NICs (QEMU's igb, 7 virtual functions each, enabled by the guest).
# One sits below a PCIe switch next to an NVMe with a CMB (the p2pmem provider), so the PF and
# its VFs reach the CMB with bus addresses (a VF counts as its PF: its upstream bridge is the
# PF's). The other, and a disk, sit on root ports of their own: through the host bridge, which
# the kernel refuses on this Intel CPU.
CPU=max
DEVICES='-device pcie-root-port,id=rp1,chassis=1,slot=1,bus=pcie.0,addr=0x10
 -device x3130-upstream,id=up1,bus=rp1
 -device xio3130-downstream,id=dn1,bus=up1,chassis=2,slot=1
 -device xio3130-downstream,id=dn2,bus=up1,chassis=3,slot=2
 -drive file=$DISK,if=none,format=raw,readonly=on,file.locking=off,id=d0 -device nvme,serial=cmb0,cmb_size_mb=16,drive=d0,bus=dn1
 -device igb,bus=dn2,romfile=
 -device pcie-root-port,id=rp2,chassis=4,slot=2,bus=pcie.0,addr=0x11
 -device igb,bus=rp2,romfile=
 -device pcie-root-port,id=rp3,chassis=5,slot=3,bus=pcie.0,addr=0x12
 -drive file=$DISK,if=none,format=raw,readonly=on,file.locking=off,id=d1 -device nvme,serial=n1,drive=d1,bus=rp3'
