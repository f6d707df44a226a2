# As sriov-igb, on an AMD Zen CPU: the kernel allows P2P through the host bridge, so the NIC on
# its own root port, its VFs and the disk reach the CMB too (through the host bridge).
CPU=EPYC
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
