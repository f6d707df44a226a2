# As acs-common-ancestor, on an AMD Zen CPU: the ACS-redirected traffic and the traffic
# between root ports go through the host bridge, which the kernel trusts on Zen.
CPU=EPYC
APPEND='pci=config_acs=11xx@0000:00:10.0'
DEVICES='-device pcie-root-port,id=rp1,chassis=1,slot=1,bus=pcie.0,addr=0x10
 -drive file=$DISK,if=none,format=raw,readonly=on,file.locking=off,id=d0 -device nvme,serial=cmb0,cmb_size_mb=16,drive=d0,bus=rp1,addr=0.0,multifunction=on
 -drive file=$DISK,if=none,format=raw,readonly=on,file.locking=off,id=d1 -device nvme,serial=n1,drive=d1,bus=rp1,addr=0.1
 -device pcie-root-port,id=rp2,chassis=2,slot=2,bus=pcie.0,addr=0x11
 -drive file=$DISK,if=none,format=raw,readonly=on,file.locking=off,id=d2 -device nvme,serial=n2,drive=d2,bus=rp2'
