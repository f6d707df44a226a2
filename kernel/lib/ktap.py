"""KUnit results from a kernel log (KTAP), checked against the tests the module declares.

The expected tests are read from kernel/module/kunit_tests.rs: every `#[test] fn` inside a
`#[kunit_tests(suite)]` module. A test that is missing from the log, or that KUnit reports as
not ok, is a failure; so is any suite or test anywhere in the log that is not ok.
"""

import re

SUITE_ATTR = re.compile(r"#\[kunit_tests\((\w+)\)\]")
TEST_FN = re.compile(r"#\[test\]\s*(?:\n\s*)*fn\s+(\w+)")
RESULT = re.compile(r"^(\s*)(ok|not ok) \d+ (\S+)")
SUBTEST = re.compile(r"^\s*# Subtest: (\S+)")


def expected_tests(source_text):
    """{suite: [test, ...]} declared in the Rust source."""
    suites = {}
    marks = list(SUITE_ATTR.finditer(source_text))
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(source_text)
        suites[m.group(1)] = TEST_FN.findall(source_text, m.end(), end)
    return suites


def results(log_lines):
    """({(suite, test): 'ok'|'not ok'}, {suite: 'ok'|'not ok'}) from KTAP lines."""
    tests, suites, current = {}, {}, None
    for line in log_lines:
        m = SUBTEST.match(line)
        if m:
            current = m.group(1)
            continue
        m = RESULT.match(line)
        if not m:
            continue
        indent, status, name = m.groups()
        if indent == "":
            suites[name] = status
        elif current is not None:
            tests[(current, name)] = status
    return tests, suites


def check(source_text, log_lines):
    """(problems, passed, expected_count): problems is a list of sentences."""
    expected = expected_tests(source_text)
    tests, suites = results(log_lines)
    problems, passed, count = [], 0, 0
    for suite, names in expected.items():
        if not names:
            problems.append(f"suite {suite} declares no tests")
        for name in names:
            count += 1
            status = tests.get((suite, name))
            if status is None:
                problems.append(f"KUnit test {suite}.{name} did not run")
            elif status != "ok":
                problems.append(f"KUnit test {suite}.{name} failed")
            else:
                passed += 1
        if suite not in suites:
            problems.append(f"KUnit suite {suite} reported no result")
    for (suite, name), status in sorted(tests.items()):
        if status != "ok" and suite not in expected:
            problems.append(f"KUnit test {suite}.{name} (the kernel's own) failed")
    for suite, status in sorted(suites.items()):
        if status != "ok":
            problems.append(f"KUnit suite {suite} failed")
    return problems, passed, count
