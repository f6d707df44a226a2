# The negotiation core in the kernel: loading negotiate_kernel runs its KUnit suites, then its
# survey of every (provider, function) pair and one negotiation per (provider, NVMe
# controller); both go to the kernel log, which /init saves. Then the module is unloaded.
insmod /modules/negotiate_kernel.ko || { echo "insmod negotiate_kernel failed"; exit 1; }
rmmod negotiate_kernel || { echo "rmmod negotiate_kernel failed"; exit 1; }
