// SPDX-License-Identifier: GPL-2.0
// p2pprobe PROVIDER BLOCKDEV CLIENT: asks the kernel whether CLIENT (the controller behind
// BLOCKDEV) may DMA into PROVIDER's p2pmem, the way a real user does: it maps 64 KiB of the
// provider's p2pmem (sysfs p2pmem/allocate) and reads one block of BLOCKDEV into it with
// O_DIRECT. Prints "PROVIDER CLIENT ok", "PROVIDER CLIENT refused errno=N" (the kernel refused
// the P2P mapping) or "PROVIDER CLIENT error STEP errno=N" (the probe could not be made).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	char path[256];
	size_t len = 1 << 16;
	void *buf;
	ssize_t n;
	int af, fd;

	if (argc != 4) {
		fprintf(stderr, "usage: p2pprobe PROVIDER BLOCKDEV CLIENT\n");
		return 2;
	}
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/p2pmem/allocate", argv[1]);
	af = open(path, O_RDWR);
	if (af < 0) {
		printf("%s %s error allocate errno=%d\n", argv[1], argv[3], errno);
		return 1;
	}
	buf = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, af, 0);
	if (buf == MAP_FAILED) {
		printf("%s %s error mmap errno=%d\n", argv[1], argv[3], errno);
		return 1;
	}
	fd = open(argv[2], O_RDONLY | O_DIRECT);
	if (fd < 0) {
		printf("%s %s error open errno=%d\n", argv[1], argv[3], errno);
		return 1;
	}
	n = pread(fd, buf, 4096, 0);
	if (n == 4096)
		printf("%s %s ok\n", argv[1], argv[3]);
	else
		printf("%s %s refused errno=%d\n", argv[1], argv[3], n < 0 ? errno : 0);
	close(fd);
	munmap(buf, len);
	close(af);
	return 0;
}
