#!/usr/bin/env python3
"""The dma-buf storylines of the guest, replayed in user space and compared event by event.

Usage: dmabuf_events.py DMABUF_IC FOLDER...

Each FOLDER is one topology's run (what the guest wrote): 50-dmabuf/pairs lists the storylines
it ran ("PAIR PROVIDER CLIENT NAMESPACE"), 50-dmabuf/PAIR.events the exporter's kernel log of
that run ("dmabuf-ic: event=N op=..."), 20-snapshot/snapshot the guest's sysfs. For each pair
this writes the same storyline as a `dmabuf-ic simulate` scenario: the exporter's placements,
offers and addresses as the kernel logged them at export, the importer's offers as the exporter
read them from the attachment, and the kernel's events in the kernel's order (attach, map,
unmap, move, revoke, detach: the operations, not their outcomes). It runs the scenario on the
saved sysfs and compares each event: outcome, refusal code, the chosen interconnect (attach,
map), the generation (the mapping's for a map, the buffer's for a move or a revoke) and, for a
map, the DMA address the importer was given; the kernel's own invariant check
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


def importers(events):
    """The importers in the order they attached: (name, bus id, peer2peer), and the name of
    each attachment number."""
    found, names = [], {}
    for e in events:
        if e.get("op") != "attach":
            continue
        name = f"nvme{len(found)}"
        found.append((name, e.get("importer"), e.get("peer2peer", "yes") == "yes"))
        e["name"] = name
        if "attachment" in e:
            names[e["attachment"]] = name
    for e in events:
        if e.get("op") in ("map", "unmap", "detach"):
            e["name"] = names.get(e.get("attachment"), "?")
    return found


def offers(client, peer2peer):
    """An importer's offers as the exporter read them from the attachment (`peer2peer`)."""
    if peer2peer:
        return (f'[[importer.offer]]\ninterconnect = "pci-bar"\ndevice = "{client}"\n\n'
                f'[[importer.offer]]\ninterconnect = "dma-addr"\ndevice = "{client}"\n'
                'peer2peer = true\n')
    return (f'[[importer.offer]]\ninterconnect = "dma-addr"\ndevice = "{client}"\n'
            'peer2peer = false\n')


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


def scenario(export, events):
    """The storyline as a simulate scenario; `export` is the kernel's event=0 line."""
    p = export["provider"]
    who = "\n".join(f'[[importer]]\nname = "{name}"\nmode = "dynamic"\n\n{offers(bdf, p2p)}'
                    for name, bdf, p2p in importers(events))
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


def compare(k, s):
    """The differences between one kernel event and the simulated one, as words."""
    diffs = []
    op = k.get("op")
    if k.get("invariants", "ok") != "ok":
        diffs.append(f"the kernel's invariant check said {k['invariants']}")
    if s["action"]["kind"] != op:
        return [f"the kernel did {op}, the simulation {s['action']['kind']}"]
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
        got = (imp.get("agreement") or {}).get("interconnect")
        if k.get("interconnect") != got:
            diffs.append(f"interconnect {k.get('interconnect')} vs {got}")
    elif op == "map":
        mapping = imp.get("mapping") or {}
        if k.get("interconnect") != mapping.get("interconnect"):
            diffs.append(f"interconnect {k.get('interconnect')} vs {mapping.get('interconnect')}")
        if k.get("generation") != str(mapping.get("generation")):
            diffs.append(f"mapping generation {k.get('generation')} vs {mapping.get('generation')}")
        ranges = (mapping.get("addresses") or {}).get("ranges") or [{}]
        if k.get("dma") is None or int(k["dma"], 16) != int(ranges[0].get("start", "-1"), 16):
            diffs.append(f"address {k.get('dma')} vs {ranges[0].get('start')}")
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
        skipped = os.path.join(folder, "50-dmabuf", "skipped")
        if os.path.exists(skipped):
            print(f"{top}: dma-buf storylines NOT RUN: {open(skipped).read().strip()}")
            continue
        if not os.path.exists(pairs):
            print(f"{top}: no dma-buf storyline ran (no 50-dmabuf/pairs)")
            total += 1
            continue
        snapshot = os.path.join(folder, "20-snapshot", "snapshot")
        for line in open(pairs):
            pair, provider, client, _ns = line.split()
            events = kernel_events(os.path.join(folder, "50-dmabuf", pair + ".events"))
            export = next((e for e in events if e.get("op") == "export"), None)
            lifecycle = [e for e in events if e.get("op") not in ("export", "fill")]
            if export is None:
                print(f"{top} {pair}: DISAGREE: the exporter logged no export")
                total += 1
                continue
            path = os.path.join(folder, "50-dmabuf", pair + ".simulate.toml")
            with open(path, "w") as f:
                f.write(scenario(export, lifecycle))
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
                diffs = compare(k, s)
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
