#!/usr/bin/env python3
"""The dma-buf storylines of the guest, replayed in user space and compared event by event.

Usage: dmabuf_events.py DMABUF_IC FOLDER...

Each FOLDER is one topology's run (what the guest wrote): 50-dmabuf/pairs lists the storylines
it ran ("PAIR PROVIDER CLIENT NAMESPACE MODES", MODES the importers' dmabufctl modes in the
order they attached), 50-dmabuf/PAIR.events the modules' kernel log of that run
("dmabuf-ic: event=N op=..."), 20-snapshot/snapshot the guest's sysfs. For each pair this
writes the same storyline as a `dmabuf-ic simulate` scenario: the exporter's placements, offers
and addresses as the kernel logged them at export, each importer's offers as its mode says it
passes them at attach (MODES below), and the kernel's events in the kernel's order (attach,
map, unmap, move, revoke, detach: the operations, not their outcomes). It runs the scenario on
the saved sysfs and compares each event: outcome, refusal code, for an attach the list the
exporter negotiated with (where it came from, its offers, allow_peer2peer: what the mode
passes), the chosen interconnect and route and where the buffer is after it, for a map the chosen interconnect, the mapping's
generation and the DMA address the importer was given, for a move or a revoke the buffer's
generation. On a machine with an IOMMU (50-dmabuf/iommu) a DMA-API address is an IOVA, which
simulate (direct-mapped) does not model: there the simulated address is compared with the
memory the kernel mapped at that IOVA (`phys=`), and storylines the guest did not run there
(50-dmabuf/not-run) are printed as NOT RUN. The kernel's own invariant check
(`invariants=ok`, the lifecycle's `Monitor` after every event) must have held. Every
disagreement is printed, and so is every
failed dmabufctl step and every kernel `WARNING:`, `BUG:` or `Oops` in the guest's dmesg (each
fails the exit status too). The last line is
`dma-buf events: A/B agree`; exit status 0 only when A = B > 0.
"""

import json
import os
import re
import subprocess
import sys

EVENT = re.compile(r"dmabuf-ic: (event=\d+ op=\S+.*)$")


def fields(line):
    """The key=value words of a kernel event line (a quoted why= ends the line)."""
    out = {}
    for m in re.finditer(r'(\w+)=("[^"]*"|\S+)', line):
        out[m.group(1)] = m.group(2).strip('"')
    return out


def kernel_events(path):
    events = []
    with open(path) as f:
        for line in f:
            m = EVENT.search(line.strip())
            if m:
                events.append(fields(m.group(1)))
    return events


# What dmabufctl's importer modes ask for at attach (kernel/dmabuf/importer.rs): where the list
# the exporter negotiates with comes from (`importer`: passed through dmabuf_ic_attach();
# `compat`: read from a mainline attachment), allow_peer2peer, and the offers in the importer's
# order as (interconnect, accepts peer-to-peer memory).
MODES = {
    "p2p": ("importer", "yes", [("pci-bar", True), ("dma-addr", True)]),
    "plain": ("importer", "no", [("dma-addr", False)]),
    "system": ("importer", "yes", [("dma-addr", False)]),
    "compat": ("compat", "yes", [("dma-addr", True)]),
}


def offer_names(mode, client):
    """A mode's offers as the exporter's attach line writes them."""
    def name(interconnect, p2p):
        if interconnect == "dma-addr" and p2p:
            return "dma-addr+p2p"
        return interconnect
    return ",".join(f"{name(i, p2p)}@{client}" for i, p2p in MODES[mode][2])


def importers(events, modes):
    """The importers in the order they attached: (name, bus id, mode), with the name and mode
    set on each attach and the name on each event of its attachment."""
    found, names = [], {}
    for e in events:
        if e.get("op") != "attach":
            continue
        name = f"nvme{len(found)}"
        mode = modes[len(found)] if len(found) < len(modes) else "?"
        found.append((name, e.get("importer"), mode))
        e["name"], e["mode"] = name, mode
        if "attachment" in e:
            names[e["attachment"]] = name
    for e in events:
        if e.get("op") in ("map", "unmap", "detach"):
            e["name"] = names.get(e.get("attachment"), "?")
    return found


def offers(client, mode):
    """An importer's offers as its mode passes them, as simulate reads them."""
    out = []
    for interconnect, p2p in MODES.get(mode, ("", "", []))[2]:
        extra = f"peer2peer = {'true' if p2p else 'false'}\n" if interconnect == "dma-addr" else ""
        out.append(f'[[importer.offer]]\ninterconnect = "{interconnect}"\n'
                   f'device = "{client}"\n{extra}')
    return "\n".join(out)


def timeline(events):
    """The kernel's lifecycle events as simulate events."""
    out = []
    for e in events:
        op = e.get("op")
        if op in ("attach", "map", "unmap", "detach"):
            out.append(f'[[event]]\n{op} = "{e["name"]}"\n')
        elif op == "move":
            out.append(f'[[event]]\nmove = "{e.get("placement")}"\n')
        elif op == "revoke":
            out.append("[[event]]\nrevoke = true\n")
    return "\n".join(out)


def scenario(export, events, modes):
    """The storyline as a simulate scenario; `export` is the kernel's event=0 line, `modes`
    the importers' modes in the order they attach."""
    p = export["provider"]
    who = "\n".join(f'[[importer]]\nname = "{name}"\nmode = "dynamic"\n\n{offers(bdf, mode)}'
                    for name, bdf, mode in importers(events, modes))
    return f"""description = "dma-buf storyline of {p}, as the guest ran it"

[buffer]
size = {int(export["size"])}
exporter = "{p}"
revocable = true

[[placement]]
name = "cmb"
memory = "bar"
device = "{p}"
bar = {int(export["bar"])}
offset = {export["offset"]}
offers = ["pci-bar", "dma-addr"]

[[placement]]
name = "ram"
memory = "system"
phys = {export["ram"]}
offers = ["dma-addr"]

{who}
{timeline(events)}"""


def compare(k, s, iommu):
    """The differences between one kernel event and the simulated one, as words; `iommu`:
    the machine translates DMA-API addresses."""
    diffs = []
    op = k.get("op")
    if k.get("invariants", "ok") != "ok":
        diffs.append(f"the kernel's invariant check said {k['invariants']}")
    if s["action"]["kind"] != op:
        return [f"the kernel did {op}, the simulation {s['action']['kind']}"]
    if op == "attach":
        mode = k.get("mode")
        if mode not in MODES:
            diffs.append(f"no importer mode for this attach ({mode})")
        else:
            source, p2p, _ = MODES[mode]
            want = offer_names(mode, k.get("importer"))
            if (k.get("list"), k.get("peer2peer"), k.get("offers")) != (source, p2p, want):
                diffs.append(f"the exporter negotiated with list={k.get('list')} "
                             f"peer2peer={k.get('peer2peer')} offers={k.get('offers')}, "
                             f"mode {mode} passes list={source} peer2peer={p2p} offers={want}")
    if k.get("outcome") != s["outcome"]:
        diffs.append(f"outcome {k.get('outcome')} vs {s['outcome']}")
        return diffs
    if s["outcome"] == "refused":
        code = (s.get("reason") or {}).get("code")
        if k.get("reason") != code:
            diffs.append(f"reason {k.get('reason')} vs {code}")
        return diffs
    imp = next((i for i in s["importers"] if i["name"] == k.get("name")), s["importers"][0])
    if op == "attach":
        agreement = imp.get("agreement") or {}
        got = agreement.get("interconnect")
        if k.get("interconnect") != got:
            diffs.append(f"interconnect {k.get('interconnect')} vs {got}")
        route = (agreement.get("route") or {}).get("kind")
        if k.get("route") != route:
            diffs.append(f"route {k.get('route')} vs {route}")
        if k.get("placement") != s["buffer"]["placement"]:
            diffs.append(f"placement {k.get('placement')} vs {s['buffer']['placement']}")
    elif op == "map":
        mapping = imp.get("mapping") or {}
        if k.get("interconnect") != mapping.get("interconnect"):
            diffs.append(f"interconnect {k.get('interconnect')} vs {mapping.get('interconnect')}")
        if k.get("generation") != str(mapping.get("generation")):
            diffs.append(f"mapping generation {k.get('generation')} vs {mapping.get('generation')}")
        ranges = (mapping.get("addresses") or {}).get("ranges") or [{}]
        # Under an IOMMU a DMA-API address is an IOVA: the memory behind it is what compares.
        word = "phys" if iommu and k.get("via") == "dma-api" else "dma"
        if k.get(word) is None or int(k[word], 16) != int(ranges[0].get("start", "-1"), 16):
            diffs.append(f"address {word}={k.get(word)} vs {ranges[0].get('start')}")
    elif op in ("move", "revoke"):
        if k.get("generation") != str(s["buffer"]["generation"]):
            diffs.append(f"generation {k.get('generation')} vs {s['buffer']['generation']}")
    return diffs


def main():
    if len(sys.argv) < 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    tool, folders = sys.argv[1], sys.argv[2:]
    agree = total = 0
    for folder in folders:
        top = os.path.basename(folder.rstrip("/"))
        pairs = os.path.join(folder, "50-dmabuf", "pairs")
        iommu = os.path.exists(os.path.join(folder, "50-dmabuf", "iommu"))
        not_run = os.path.join(folder, "50-dmabuf", "not-run")
        for line in open(not_run) if os.path.exists(not_run) else []:
            pair, _, why = line.strip().partition(" ")
            print(f"{top} {pair}: NOT RUN: {why}")
        if not os.path.exists(pairs):
            print(f"{top}: no dma-buf storyline ran (no 50-dmabuf/pairs)")
            total += 1
            continue
        snapshot = os.path.join(folder, "20-snapshot", "snapshot")
        for line in open(pairs):
            pair, provider, client, _ns, *rest = line.split()
            modes = rest[0].split(",") if rest else []
            events = kernel_events(os.path.join(folder, "50-dmabuf", pair + ".events"))
            export = next((e for e in events if e.get("op") == "export"), None)
            lifecycle = [e for e in events if e.get("op") not in ("export", "fill")]
            if export is None:
                print(f"{top} {pair}: DISAGREE: the exporter logged no export")
                total += 1
                continue
            path = os.path.join(folder, "50-dmabuf", pair + ".simulate.toml")
            with open(path, "w") as f:
                f.write(scenario(export, lifecycle, modes))
            run = subprocess.run([tool, "simulate", path, "--sysfs", snapshot, "--format", "json"],
                                 capture_output=True, text=True)
            try:
                simulated = json.loads(run.stdout)["events"][1:]
            except (ValueError, KeyError):
                print(f"{top} {pair}: DISAGREE: dmabuf-ic simulate failed: {run.stderr.strip()}")
                total += max(len(lifecycle), 1)
                continue
            with open(os.path.join(folder, "50-dmabuf", pair + ".simulate.json"), "w") as f:
                f.write(run.stdout)
            n = max(len(lifecycle), len(simulated))
            for i in range(n):
                total += 1
                k = lifecycle[i] if i < len(lifecycle) else None
                s = simulated[i] if i < len(simulated) else None
                if k is None or s is None:
                    print(f"{top} {pair} event {i + 1}: DISAGREE: only "
                          f"{'the simulation' if k is None else 'the kernel'} has it")
                    continue
                diffs = compare(k, s, iommu)
                what = f"{k.get('op')} {k.get('outcome')} {k.get('interconnect', k.get('reason', ''))}"
                if diffs:
                    print(f"{top} {pair} event {i + 1} ({what}): DISAGREE: {'; '.join(diffs)}")
                else:
                    agree += 1
                    print(f"{top} {pair} event {i + 1} ({what.strip()}): agree")
    guest_ok = guest_checks(folders)
    print(f"dma-buf events: {agree}/{total} agree")
    return 0 if total > 0 and agree == total and guest_ok else 1


def guest_checks(folders):
    """The guest's own verdicts: every dmabufctl step ok, and no kernel warning, bug or oops."""
    ok = True
    for folder in folders:
        top = os.path.basename(folder.rstrip("/"))
        story = os.path.join(folder, "50-dmabuf")
        for name in sorted(os.listdir(story)) if os.path.isdir(story) else []:
            if name.endswith(".steps"):
                for line in open(os.path.join(story, name)):
                    words = line.split()
                    if len(words) < 3 or words[0] != "step" or words[2] != "ok":
                        print(f"{top} {name[:-6]}: {line.strip()}")
                        ok = False
        dmesg = os.path.join(folder, "dmesg")
        for line in open(dmesg) if os.path.exists(dmesg) else []:
            if re.search(r"WARNING:|BUG:|Oops", line):
                print(f"{top} dmesg: {line.strip()}")
                ok = False
    return ok


if __name__ == "__main__":
    sys.exit(main())
