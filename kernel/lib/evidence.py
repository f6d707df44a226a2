"""Packs what one boot left as a kernel-oracle archive, which pci-topology's tests read
(crates/topology/tests/kernel_oracle.rs): `python3 evidence.py FOLDER ARCHIVE.tar.gz`.

The archive holds one folder, named for the topology, with the guest's sysfs snapshot (sys/,
proc/), `verdicts` (p2pprobe: the kernel's own decision for every p2pmem provider and NVMe
client), `nvme-namespaces`, `topology.sh`, and `distances`: "PROVIDER CLIENT DISTANCE" for
every (p2pmem provider, PCI function that is not a bridge), the value negotiate_kernel got from
`pci_p2pdma_distance_many()` (-1: refused).
"""

import io
import os
import sys
import tarfile

import agreement


def add_text(tar, name, text):
    data = text.encode()
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def main(folder, archive):
    topo = agreement.Topology(folder)
    name = topo.name
    distances = "".join(
        f"{p} {c} {fields.get('distance')}\n" for (p, c), fields in sorted(topo.pairs.items())
    )
    with open(os.path.join(folder, "30-p2pprobe", "verdicts")) as f:
        verdicts = f.read()
    with open(os.path.join(folder, "30-p2pprobe", "namespaces")) as f:
        namespaces = f.read()
    with tarfile.open(archive, "w:gz") as tar:
        for part in ("sys", "proc"):
            tar.add(os.path.join(topo.snapshot, part), arcname=f"{name}/{part}")
        add_text(tar, f"{name}/verdicts", verdicts)
        add_text(tar, f"{name}/nvme-namespaces", namespaces)
        add_text(tar, f"{name}/distances", distances)
        tar.add(os.path.join(folder, "topology.sh"), arcname=f"{name}/topology.sh")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
