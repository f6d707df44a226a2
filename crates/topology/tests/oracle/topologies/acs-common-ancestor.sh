# A two-function NVMe device (function 0 has the CMB) on root port 00:10.0, whose ACS P2P
# request/completion redirect is forced on, and a disk on root port 00:11.0. The root port is
# the common ancestor of the two functions: Linux counts its ACS on the provider-side walk.
CPU=max
APPEND='pci=config_acs=11xx@0000:00:10.0'
DEVICES='-device pcie-root-port,id=rp1,chassis=1,slot=1,bus=pcie.0,addr=0x10
 -drive file=$DISK,if=none,format=raw,readonly=on,file.locking=off,id=d0 -device nvme,serial=cmb0,cmb_size_mb=16,drive=d0,bus=rp1,addr=0.0,multifunction=on
 -drive file=$DISK,if=none,format=raw,readonly=on,file.locking=off,id=d1 -device nvme,serial=n1,drive=d1,bus=rp1,addr=0.1
 -device pcie-root-port,id=rp2,chassis=2,slot=2,bus=pcie.0,addr=0x11
 -drive file=$DISK,if=none,format=raw,readonly=on,file.locking=off,id=d2 -device nvme,serial=n2,drive=d2,bus=rp2'
