"""Agreement, three ways, on one booted topology.

Inputs (what the guest wrote, see kernel/guest/): the kernel log with negotiate_kernel's
`pair`, `negotiation` and `dma-map` lines, p2pprobe's verdicts (the kernel's own P2P decision
for every p2pmem provider and NVMe client), and the guest's sysfs snapshot, on which dmabuf-ic
runs in user space.

- Every (provider, NVMe client) pair: the kernel's decision (p2pprobe), the in-kernel
  negotiation and `dmabuf-ic negotiate` on the snapshot, with the same offers, must choose the
  same offer, so the same interconnect (device memory exactly where the kernel allows P2P),
  the same route kind and the same distance; the map type the kernel's DMA API chose must be
  that route kind.
- Every (provider, PCI function) pair: the kernel's `pci_p2pdma_distance_many()` (and the route
  kind the module derives) must equal `dmabuf-ic matrix --all` on the snapshot.
"""

import json
import os
import re
import subprocess

LINE = re.compile(r"negotiate_kernel: (pair|negotiation|dma-map) (.*)$")
FIELD = re.compile(r"(\w[\w-]*)=(\S+)")

# The fixed offer set, as the module's negotiate() builds it.
SCENARIO = """description = "kernel/run: the memory of {p} to {c}, the module's offers"
policy = "best-route"

[[exporter]]
interconnect = "pci-bar"
device = "{p}"
bar = 2
offset = 0
len = 65536

[[exporter]]
interconnect = "dma-addr"
memory = "{p}"

[[exporter]]
interconnect = "dma-addr"
memory = "system"

[[importer]]
interconnect = "pci-bar"
device = "{c}"

[[importer]]
interconnect = "dma-addr"
device = "{c}"
"""

# Map types (matrix) and the DMA API's observation, as route kinds.
MAP_TO_ROUTE = {
    "bus-addr": "pci-bus-addr",
    "thru-host-bridge": "pci-thru-host-bridge",
    "not-supported": "refused",
}


class Topology:
    """What one boot left: kernel lines, verdicts, snapshot."""

    def __init__(self, folder):
        self.folder = folder
        self.name = os.path.basename(folder)
        self.snapshot = os.path.join(folder, "20-snapshot", "snapshot")
        self.pairs, self.negotiations, self.dma_maps = {}, {}, {}
        with open(os.path.join(folder, "dmesg"), errors="replace") as f:
            for line in f:
                m = LINE.search(line)
                if not m:
                    continue
                fields = dict(FIELD.findall(m.group(2)))
                key = (fields.get("provider"), fields.get("client"))
                {"pair": self.pairs, "negotiation": self.negotiations, "dma-map": self.dma_maps}[
                    m.group(1)
                ][key] = fields
        self.verdicts = {}
        with open(os.path.join(folder, "30-p2pprobe", "verdicts")) as f:
            for line in f:
                words = line.split()
                if len(words) >= 3:
                    self.verdicts[(words[0], words[1])] = words[2]
        devices = os.path.join(self.snapshot, "sys", "bus", "pci", "devices")
        self.providers = sorted(
            d for d in os.listdir(devices) if os.path.isdir(os.path.join(devices, d, "p2pmem"))
        )


def dmabuf_ic(binary, snapshot, *args):
    """Runs dmabuf-ic --format json on the snapshot; (exit status, parsed output or None)."""
    run = subprocess.run(
        [binary, "--sysfs", snapshot, "--format", "json", *args],
        capture_output=True,
        text=True,
    )
    try:
        return run.returncode, json.loads(run.stdout)
    except json.JSONDecodeError:
        return run.returncode, {"error": run.stderr.strip()}


def user_negotiation(binary, topo, provider, client):
    """The chosen offer of `dmabuf-ic negotiate` for the pair, as the module reports its own."""
    path = os.path.join(topo.folder, f"negotiate-{provider}-{client}.toml")
    with open(path, "w") as f:
        f.write(SCENARIO.format(p=provider, c=client))
    status, out = dmabuf_ic(binary, topo.snapshot, "negotiate", path)
    if status not in (0, 3) or not isinstance(out, dict) or "candidates" not in out:
        why = out.get("error", "") if isinstance(out, dict) else "unexpected output"
        return {"error": f"dmabuf-ic negotiate exited {status}: {why}"}
    if not out["agreed"]:
        return {"chosen": "none"}
    c = out["candidates"][out["chosen"]]
    route = c["route"] or {}
    distance = route.get("distance")
    return {
        "chosen": f"e{c['exporter']}",
        "interconnect": c["interconnect"],
        "route": route.get("kind"),
        "distance": "-" if distance is None else str(distance),
    }


def nvme_pairs(binary, topo, say):
    """(agreeing, total) over the (provider, NVMe client) pairs."""
    keys = sorted(set(topo.verdicts) | set(topo.negotiations))
    agree = 0
    for key in keys:
        p, c = key
        probe = topo.verdicts.get(key)
        kernel = topo.negotiations.get(key)
        mapped = topo.dma_maps.get(key)
        user = user_negotiation(binary, topo, p, c)
        problems = []
        if probe not in ("ok", "refused"):
            problems.append(f"p2pprobe: {probe or 'no verdict'}")
        if kernel is None:
            problems.append("no in-kernel negotiation")
        if "error" in user:
            problems.append(user["error"])
        if not problems:
            fields = ("chosen", "interconnect", "route", "distance")
            k = tuple(kernel.get(x) for x in fields)
            u = tuple(user.get(x) for x in fields)
            if k != u:
                problems.append(f"kernel negotiated {k}, dmabuf-ic {u}")
            p2p = kernel.get("chosen") in ("e0", "e1")
            if p2p != (probe == "ok"):
                problems.append(
                    f"the kernel {'allowed' if probe == 'ok' else 'refused'} P2P (O_DIRECT read), "
                    f"but the negotiation chose {kernel.get('chosen')} ({kernel.get('route')})"
                )
            observed = MAP_TO_ROUTE.get((mapped or {}).get("map"), (mapped or {}).get("map"))
            wanted = kernel.get("route") if p2p else "refused"
            if observed != wanted:
                problems.append(f"the DMA API mapped {observed}, the negotiation routed {wanted}")
        if problems:
            say(f"  DISAGREE {topo.name} nvme {p} -> {c}: " + "; ".join(problems))
        else:
            agree += 1
    return agree, len(keys)


def function_pairs(binary, topo, say):
    """(agreeing, total) over the (provider, PCI function) pairs."""
    status, matrix = dmabuf_ic(binary, topo.snapshot, "matrix", "--all")
    if status != 0 or not isinstance(matrix, list):
        say(f"  DISAGREE {topo.name}: dmabuf-ic matrix exited {status}: {matrix}")
        matrix = []
    user = {
        (e["provider"], e["client"]): e
        for e in matrix
        if e["provider"] in topo.providers
    }
    keys = sorted(set(user) | set(topo.pairs))
    agree = 0
    for key in keys:
        k, u = topo.pairs.get(key), user.get(key)
        if k is None or u is None:
            say(f"  DISAGREE {topo.name} pair {key[0]} -> {key[1]}: only "
                f"{'dmabuf-ic' if k is None else 'the kernel'} has it")
            continue
        mine = (k.get("route"), k.get("distance"))
        theirs = (MAP_TO_ROUTE.get(u["map_type"], u["map_type"]), str(u["distance"]))
        if mine != theirs:
            say(f"  DISAGREE {topo.name} pair {key[0]} -> {key[1]}: kernel {mine}, dmabuf-ic {theirs}")
        else:
            agree += 1
    return agree, len(keys)
