"""kernel/run's verdict on the booted topologies; run as
`python3 check.py DMABUF_IC KUNIT_SOURCE FOLDER...` (one folder per booted topology).

For each topology: the guest finished every storyline, its kernel log has no WARNING:, BUG:,
Oops or panic, the module's KUnit suites all passed (ktap.py), and the three-way agreement
(agreement.py). Prints every problem and disagreement, one summary line per topology, and
last `kernel agreement: A/B pairs`. Exits 0 only when nothing failed and A = B > 0.
"""

import os
import re
import sys

import agreement
import ktap

TIMESTAMP = re.compile(r"^\[\s*\d+\.\d+\] ?")
KERNEL_TROUBLE = re.compile(r"WARNING:|BUG:|Oops|Kernel panic|UBSAN:|general protection fault")


def guest_problems(folder):
    problems = []
    with open(os.path.join(folder, "console.log"), errors="replace") as f:
        console = f.read()
    for m in re.finditer(r"=== storyline (\S+) FAILED.*", console):
        problems.append(f"guest storyline {m.group(1)} failed (see {folder}/console.log)")
    with open(os.path.join(folder, "dmesg"), errors="replace") as f:
        log = [TIMESTAMP.sub("", line.rstrip("\n")) for line in f]
    for line in log:
        if KERNEL_TROUBLE.search(line):
            problems.append(f"kernel log: {line.strip()}")
    return problems, log


def main(argv):
    binary, kunit_source, folders = argv[1], argv[2], argv[3:]
    with open(kunit_source) as f:
        source = f.read()
    failed = False
    agree = total = 0
    for folder in folders:
        name = os.path.basename(folder)
        if not os.path.exists(os.path.join(folder, "dmesg")):
            print(f"  FAIL {name}: the guest did not finish (see {folder}/console.log)")
            print(f"{name}: not booted; its pairs are not counted")
            failed = True
            continue
        problems, log = guest_problems(folder)
        kunit_problems, passed, count = ktap.check(source, log)
        problems += kunit_problems
        topo = agreement.Topology(folder)
        n_agree, n_total = agreement.nvme_pairs(binary, topo, print)
        f_agree, f_total = agreement.function_pairs(binary, topo, print)
        for p in problems:
            print(f"  FAIL {name}: {p}")
        failed |= bool(problems)
        agree += n_agree + f_agree
        total += n_total + f_total
        print(
            f"{name}: {n_agree}/{n_total} NVMe pairs and {f_agree}/{f_total} function pairs agree; "
            f"KUnit {passed}/{count} passed" + ("" if not problems else f"; {len(problems)} problems")
        )
    print(f"kernel agreement: {agree}/{total} pairs")
    return 0 if not failed and total > 0 and agree == total else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
