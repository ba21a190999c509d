#!/usr/bin/python3
"""Rewrites README.md's `flags:server` and `flags:cli` blocks from the binaries' --help (what deploy_flags checks).

usage: tests/deploy/sync_readme_flags.py BUILD_DIR     (from the repository root; then review `git diff README.md`)
"""
import os
import re
import subprocess
import sys

SUBCOMMANDS_HEADER = re.compile(r"^\s*Subcommands:", re.I)


def help_of(build, *args):
    cmd = [os.path.join(build, "bin", args[0])] + list(args[1:]) + ["--help"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    # Show the path a reader types (build/bin/...), whatever build directory produced it.
    return out.replace(os.path.join(build, "bin") + "/", "build/bin/").rstrip() + "\n"


def cli_help(build):
    top = help_of(build, "gpt4rec-cli")
    subs, inside = [], False
    for line in top.splitlines():
        if SUBCOMMANDS_HEADER.match(line):
            inside = True
        elif inside and re.match(r"^\s{2,}([a-z][a-z0-9-]*)\b", line):
            subs.append(line.split()[0])
    text = top
    for sub in subs:
        lines = [l for l in help_of(build, "gpt4rec-cli", sub).splitlines() if "Print this help message" not in l]
        text += "\n" + re.sub(r"\nOptions:\n?$", "\n", "\n".join(lines).rstrip() + "\n")
    return re.sub(r"\nOptions:\n(?=\n)", "\n", text)


def put(readme, name, body):
    pattern = r"(<!-- %s:begin -->\n).*?(<!-- %s:end -->)" % (re.escape(name), re.escape(name))
    if not re.search(pattern, readme, re.S):
        sys.exit("README.md has no <!-- %s:begin --> ... <!-- %s:end --> block" % (name, name))
    return re.sub(pattern, lambda m: m.group(1) + "```\n" + body + "```\n" + m.group(2), readme, flags=re.S)


def main(argv):
    if len(argv) != 2:
        sys.exit(__doc__)
    build = os.path.relpath(argv[1])
    readme = open("README.md").read()
    readme = put(readme, "flags:server", help_of(build, "gpt4rec-server"))
    readme = put(readme, "flags:cli", cli_help(build))
    open("README.md", "w").write(readme)
    print("README.md: flag blocks rewritten from %s/bin --help" % build)


if __name__ == "__main__":
    main(sys.argv)
