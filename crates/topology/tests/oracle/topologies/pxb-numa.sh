# Two NUMA nodes and a second host bridge (pxb-pcie, root bus 0x80, NUMA node 1). A CMB and a
# disk on a root port of each host bridge.
CPU=max
DEVICES='-object memory-backend-ram,id=m0,size=512M -object memory-backend-ram,id=m1,size=512M
 -numa node,nodeid=0,cpus=0,memdev=m0 -numa node,nodeid=1,cpus=1,memdev=m1
 -device pxb-pcie,id=pxb1,bus_nr=0x80,numa_node=1,bus=pcie.0
 -device pcie-root-port,id=rp1,chassis=1,slot=1,bus=pcie.0,addr=0x10
 -device pcie-root-port,id=rp2,chassis=2,slot=2,bus=pcie.0,addr=0x11
 -device pcie-root-port,id=rp3,chassis=3,slot=3,bus=pxb1,addr=0x0
 -device pcie-root-port,id=rp4,chassis=4,slot=4,bus=pxb1,addr=0x1
 -drive file=$DISK,if=none,format=raw,readonly=on,file.locking=off,id=d0 -device nvme,serial=cmb0,cmb_size_mb=16,drive=d0,bus=rp1
 -drive file=$DISK,if=none,format=raw,readonly=on,file.locking=off,id=d1 -device nvme,serial=n1,drive=d1,bus=rp2
 -drive file=$DISK,if=none,format=raw,readonly=on,file.locking=off,id=d2 -device nvme,serial=cmb2,cmb_size_mb=16,drive=d2,bus=rp3
 -drive file=$DISK,if=none,format=raw,readonly=on,file.locking=off,id=d3 -device nvme,serial=n3,drive=d3,bus=rp4'
