// SPDX-License-Identifier: GPL-2.0
/*
 * dmabufctl PROVIDER CLIENT NAMESPACE [p2p|plain|system|compat [LATE]]: one dma-buf storyline
 * in the guest.
 *
 * PROVIDER is the NVMe controller whose CMB holds the buffer (DDDD:BB:SS.F), CLIENT the NVMe
 * controller that imports it, NAMESPACE a block device of CLIENT (/dev/nvme1n1). Through
 * /dev/dmabuf_exporter and /dev/dmabuf_importer (kernel/dmabuf), it exports a buffer in the
 * CMB, imports it for CLIENT (the exporter negotiates), maps it, has CLIENT read its namespace
 * into the buffer with O_DIRECT and checks the bytes against a buffered read, maps the fd,
 * moves the buffer to system memory (the importer's mapping is invalidated), checks that the
 * data survived, maps again (renegotiated), transfers again, revokes, and checks that a later
 * map is refused. With LATE (another NVMe controller), a second importer attaches for LATE after
 * the first transfer instead of the exporter's own move: if LATE cannot reach the CMB the
 * exporter moves the buffer for it, invalidating the first importer, whose next map
 * renegotiates. What CLIENT's importer asks for at attach (the list it passes to the exporter):
 * p2p, the default, `pci-bar` and `dma-addr` of peer-to-peer memory (allow_peer2peer); plain,
 * `dma-addr` (no allow_peer2peer); system, `dma-addr` with allow_peer2peer (only the list says
 * system memory); compat, no list (allow_peer2peer), as a mainline importer attaches. LATE
 * asks as p2p. Each step prints "step NAME ok|FAILED ..."; the exit status is the number of
 * failed steps. The exporter logs every lifecycle event ("dmabuf-ic: event=..." in dmesg).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define IOC 0xdb
struct dmabuf_ic_export { uint32_t provider, size; int32_t fd; uint32_t pad; };
struct dmabuf_ic_fill { char path[64]; };
struct dmabuf_ic_readback { uint64_t addr, len; };
struct dmabuf_ic_import { int32_t fd; uint32_t client, asks, pad; };
/* dmabuf_ic_import.asks (kernel/dmabuf/importer.rs) */
enum { ASKS_PLAIN, ASKS_P2P, ASKS_COMPAT, ASKS_SYSTEM };
struct dmabuf_ic_map { int32_t error; uint32_t nents; uint64_t dma, len; uint32_t invalidations, pad; };
#define DMABUF_IC_EXPORT _IOWR(IOC, 1, uint32_t[4])
#define DMABUF_IC_FILL _IOW(IOC, 2, uint8_t[64])
#define DMABUF_IC_READBACK _IOW(IOC, 3, uint64_t[2])
#define DMABUF_IC_MOVE _IOW(IOC, 4, uint32_t)
#define DMABUF_IC_REVOKE _IO(IOC, 5)
#define DMABUF_IC_IMPORT _IOW(IOC, 0x11, uint32_t[4])
#define DMABUF_IC_MAP _IOWR(IOC, 0x12, uint64_t[4])
#define DMABUF_IC_DETACH _IO(IOC, 0x13)

#define SIZE (64 * 1024)

static int failed;

static void step(const char *name, int ok, const char *detail)
{
	printf("step %s %s%s%s\n", name, ok ? "ok" : "FAILED", detail[0] ? " " : "", detail);
	if (!ok)
		failed++;
}

static int bdf(const char *s, uint32_t *id)
{
	unsigned int d, b, sl, f;
	if (sscanf(s, "%x:%x:%x.%x", &d, &b, &sl, &f) != 4 || b > 0xff || sl > 0x1f || f > 7)
		return -1;
	*id = d << 16 | b << 8 | sl << 3 | f;
	return 0;
}

/* The first SIZE bytes of the namespace, read through the page cache. */
static int disk_bytes(const char *ns, unsigned char *out)
{
	int fd = open(ns, O_RDONLY);
	ssize_t n = fd < 0 ? -1 : pread(fd, out, SIZE, 0);
	if (fd >= 0)
		close(fd);
	return n == SIZE ? 0 : -1;
}

static int readback(int exp, unsigned char *out)
{
	struct dmabuf_ic_readback r = { (uintptr_t)out, SIZE };
	return ioctl(exp, DMABUF_IC_READBACK, &r);
}

static int map(int imp, struct dmabuf_ic_map *m)
{
	memset(m, 0, sizeof(*m));
	if (ioctl(imp, DMABUF_IC_MAP, m))
		return -errno;
	return m->error;
}

/* Fills the buffer from the namespace (the client DMAs), reads it back, compares. */
static void transfer(const char *name, int exp, const char *ns, const unsigned char *disk,
		     unsigned char *got)
{
	struct dmabuf_ic_fill f;
	char detail[96];
	memset(&f, 0, sizeof(f));
	snprintf(f.path, sizeof(f.path), "%s", ns);
	if (ioctl(exp, DMABUF_IC_FILL, &f)) {
		snprintf(detail, sizeof(detail), "fill errno=%d", errno);
		step(name, 0, detail);
		return;
	}
	if (readback(exp, got)) {
		step(name, 0, "readback failed");
		return;
	}
	snprintf(detail, sizeof(detail), "bytes=%d first=%02x%02x%02x%02x", SIZE, got[0], got[1],
		 got[2], got[3]);
	step(name, memcmp(got, disk, SIZE) == 0, detail);
}

int main(int argc, char **argv)
{
	uint32_t provider, client;
	static unsigned char disk[SIZE], got[SIZE], kept[SIZE];
	struct dmabuf_ic_map m;
	char detail[160];
	int exp, imp, rc;

	uint32_t late = 0;
	if (argc < 4 || bdf(argv[1], &provider) || bdf(argv[2], &client) ||
	    (argc > 5 && bdf(argv[5], &late))) {
		fprintf(stderr, "usage: dmabufctl PROVIDER CLIENT NAMESPACE "
				"[p2p|plain|system|compat [LATE]]\n");
		return 2;
	}
	static const char *const modes[] = { [ASKS_PLAIN] = "plain", [ASKS_P2P] = "p2p",
					      [ASKS_COMPAT] = "compat", [ASKS_SYSTEM] = "system" };
	uint32_t asks = ASKS_P2P;
	if (argc > 4) {
		for (asks = 0; asks < 4 && strcmp(argv[4], modes[asks]) != 0; asks++)
			;
		if (asks == 4) {
			fprintf(stderr, "dmabufctl: unknown mode %s (p2p, plain, system, compat)\n",
				argv[4]);
			return 2;
		}
	}
	if (disk_bytes(argv[3], disk)) {
		fprintf(stderr, "dmabufctl: cannot read %s\n", argv[3]);
		return 2;
	}
	exp = open("/dev/dmabuf_exporter", O_RDWR);
	imp = open("/dev/dmabuf_importer", O_RDWR);
	if (exp < 0 || imp < 0) {
		fprintf(stderr, "dmabufctl: no /dev/dmabuf_exporter or /dev/dmabuf_importer\n");
		return 2;
	}

	struct dmabuf_ic_export e = { provider, SIZE, -1, 0 };
	rc = ioctl(exp, DMABUF_IC_EXPORT, &e);
	snprintf(detail, sizeof(detail), "fd=%d errno=%d", e.fd, rc ? errno : 0);
	step("export", rc == 0 && e.fd >= 0, detail);
	if (rc)
		return failed;

	struct dmabuf_ic_import i = { e.fd, client, asks, 0 };
	rc = ioctl(imp, DMABUF_IC_IMPORT, &i);
	snprintf(detail, sizeof(detail), "errno=%d", rc ? errno : 0);
	step("attach", rc == 0, detail);
	if (rc)
		return failed;

	rc = map(imp, &m);
	snprintf(detail, sizeof(detail), "dma=0x%llx len=%llu nents=%u error=%d",
		 (unsigned long long)m.dma, (unsigned long long)m.len, m.nents, rc);
	step("map", rc == 0 && m.len == SIZE, detail);

	transfer("transfer", exp, argv[3], disk, got);
	memcpy(kept, got, SIZE);

	unsigned char *cpu = mmap(NULL, SIZE, PROT_READ, MAP_SHARED, e.fd, 0);
	step("mmap", cpu != MAP_FAILED && memcmp(cpu, kept, SIZE) == 0,
	     cpu == MAP_FAILED ? "mmap failed" : "bytes as read back");
	if (cpu != MAP_FAILED)
		munmap(cpu, SIZE);

	int late_imp = -1;
	if (argc > 5) {
		struct dmabuf_ic_import li = { e.fd, late, ASKS_P2P, 0 };
		late_imp = open("/dev/dmabuf_importer", O_RDWR);
		rc = late_imp < 0 ? -1 : ioctl(late_imp, DMABUF_IC_IMPORT, &li);
		snprintf(detail, sizeof(detail), "errno=%d", rc ? errno : 0);
		step("attach-late", rc == 0, detail);
	} else {
		uint32_t to_ram = 1;
		rc = ioctl(exp, DMABUF_IC_MOVE, &to_ram);
		snprintf(detail, sizeof(detail), "errno=%d", rc ? errno : 0);
		step("move", 1, detail); /* a refused move (already there) is an outcome */
	}

	step("data-survived", readback(exp, got) == 0 && memcmp(got, kept, SIZE) == 0, "");

	rc = map(imp, &m);
	snprintf(detail, sizeof(detail), "dma=0x%llx len=%llu invalidations=%u error=%d",
		 (unsigned long long)m.dma, (unsigned long long)m.len, m.invalidations, rc);
	step("map-again", rc == 0 && m.len == SIZE, detail);

	transfer("transfer-again", exp, argv[3], disk, got);

	if (late_imp >= 0) {
		rc = map(late_imp, &m);
		snprintf(detail, sizeof(detail), "dma=0x%llx len=%llu error=%d",
			 (unsigned long long)m.dma, (unsigned long long)m.len, rc);
		step("map-late", rc == 0 && m.len == SIZE, detail);
	}

	rc = ioctl(exp, DMABUF_IC_REVOKE);
	snprintf(detail, sizeof(detail), "errno=%d", rc ? errno : 0);
	step("revoke", rc == 0, detail);

	rc = map(imp, &m);
	snprintf(detail, sizeof(detail), "error=%d invalidations=%u", rc, m.invalidations);
	step("map-refused", rc == -ENODEV, detail);

	rc = ioctl(imp, DMABUF_IC_DETACH);
	step("detach", rc == 0, "");
	if (late_imp >= 0) {
		rc = ioctl(late_imp, DMABUF_IC_DETACH);
		step("detach-late", rc == 0, "");
		close(late_imp);
	}
	close(e.fd);
	close(imp);
	close(exp);
	return failed;
}
