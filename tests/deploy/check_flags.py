#!/usr/bin/python3
"""Keeps the README and deploy/ in step with the flags the binaries really have.

usage: check_flags.py REPO_ROOT SERVER_BINARY CLI_BINARY

  * README's `flags:server` block lists exactly the flags of `gpt4rec-server --help` (every flag documented, none
    stale), and its `flags:cli` block exactly those of `gpt4rec-cli --help` and of each subcommand's --help;
  * every flag that deploy/ passes to gpt4rec-server (Dockerfile CMD, compose command, Kubernetes args, systemd
    ExecStart and the flags shown in its environment file) is a real server flag;
  * every gpt4rec-cli command line in the README, in deploy/ and in scripts/ names a real subcommand and only
    flags that subcommand (or the top-level CLI) accepts;
  * the README's API table has a row for every rpc of proto/gpt4rec/v1/recommender.proto.
Exit status 1 with one line per problem.
"""
import glob
import json
import os
import re
import subprocess
import sys

import yaml

FLAG = re.compile(r"(?<![\w-])--([A-Za-z][A-Za-z0-9_-]*)")
problems = []


def help_text(cmd):
    r = subprocess.run(cmd + ["--help"], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        problems.append("%s --help exited %d: %s" % (" ".join(cmd), r.returncode, r.stderr.strip()[:300]))
    return r.stdout + r.stderr


def flags_in(text):
    return set(FLAG.findall(text)) - {"help"}


def subcommands(help_out):
    """Subcommand names from a CLI11 help screen ('Subcommands:' section)."""
    names, inside = [], False
    for line in help_out.splitlines():
        if re.match(r"^\s*Subcommands:", line, re.I):
            inside = True
            continue
        if inside:
            m = re.match(r"^\s{2,}([a-z][a-z0-9-]*)\b", line)
            if m:
                names.append(m.group(1))
            elif line.strip() and not line.startswith(" "):
                inside = False
    return names


def readme_block(readme, name):
    m = re.search(r"<!-- %s:begin -->(.*?)<!-- %s:end -->" % (re.escape(name), re.escape(name)), readme, re.S)
    if not m:
        problems.append("README.md has no <!-- %s:begin --> ... <!-- %s:end --> block" % (name, name))
        return ""
    return m.group(1)


def compare(what, documented, real):
    for f in sorted(real - documented):
        problems.append("%s: --%s exists but is not documented in the README" % (what, f))
    for f in sorted(documented - real):
        problems.append("%s: README documents --%s, which the binary does not have" % (what, f))


def server_flags_used(root):
    """{source: flags} that deploy/ passes to gpt4rec-server."""
    used = {}
    dockerfile = open(os.path.join(root, "deploy", "Dockerfile")).read()
    for m in re.finditer(r"^CMD\s+(\[.*\])\s*$", dockerfile, re.M):
        used["deploy/Dockerfile CMD"] = flags_in(" ".join(json.loads(m.group(1))))
    compose = yaml.safe_load(open(os.path.join(root, "deploy", "compose.yaml")))
    used["deploy/compose.yaml"] = flags_in(" ".join(compose["services"]["gpt4rec"].get("command", [])))
    for path in glob.glob(os.path.join(root, "deploy", "k8s", "*.yaml")):
        for doc in yaml.safe_load_all(open(path)):
            if doc and doc.get("kind") == "StatefulSet":
                for c in doc["spec"]["template"]["spec"]["containers"]:
                    used["deploy/k8s/" + os.path.basename(path)] = flags_in(" ".join(c.get("args", [])))
    unit = open(os.path.join(root, "deploy", "systemd", "gpt4rec.service")).read()
    used["deploy/systemd/gpt4rec.service ExecStart"] = flags_in(" ".join(re.findall(r"^ExecStart=(.*)$", unit, re.M)))
    env = open(os.path.join(root, "deploy", "systemd", "gpt4rec.env")).read()
    used["deploy/systemd/gpt4rec.env"] = flags_in(" ".join(re.findall(r"GPT4REC_FLAGS=(.*)$", env, re.M)))
    return used


def cli_lines(root):
    """(source, command line) for every gpt4rec-cli invocation written in the docs, deploy/ and scripts/."""
    out = []
    files = [os.path.join(root, "README.md"), os.path.join(root, "deploy", "Dockerfile")]
    files += glob.glob(os.path.join(root, "scripts", "*.sh")) + glob.glob(os.path.join(root, "deploy", "**", "*"),
                                                                           recursive=True)
    for path in files:
        if not os.path.isfile(path):
            continue
        text = open(path, errors="replace").read()
        # Dockerfile exec form: ["/usr/local/bin/gpt4rec-cli", "health", "--addr=..."]
        for m in re.finditer(r"\[\s*\"[^\"]*gpt4rec-cli\"((?:\s*,\s*\"[^\"]*\")*)\s*\]", text):
            out.append((os.path.relpath(path, root), "gpt4rec-cli " + " ".join(re.findall(r"\"([^\"]*)\"", m.group(1)))))
        for line in text.splitlines():
            # A command ends at the end of an inline-code span or table cell in Markdown.
            m = re.search(r"gpt4rec-cli\"?\s+([a-z][a-z-]*)([^`|]*)", line)
            if m and not line.lstrip().startswith("#"):
                out.append((os.path.relpath(path, root), "gpt4rec-cli " + m.group(1) + m.group(2)))
    return out


def main(argv):
    if len(argv) != 4:
        print(__doc__)
        return 2
    root, server, cli = argv[1:]
    readme = open(os.path.join(root, "README.md")).read()

    server_help = help_text([server])
    server_flags = flags_in(server_help)
    if len(server_flags) < 5:
        problems.append("gpt4rec-server --help lists only %d flags; cannot check anything" % len(server_flags))
    compare("gpt4rec-server", flags_in(readme_block(readme, "flags:server")), server_flags)
    for source, flags in server_flags_used(root).items():
        if not flags:
            problems.append("%s passes no flags to gpt4rec-server (parse error?)" % source)
        for f in sorted(flags - server_flags):
            problems.append("%s passes --%s, which gpt4rec-server does not have" % (source, f))

    cli_help = help_text([cli])
    subs = subcommands(cli_help)
    if not subs:
        problems.append("gpt4rec-cli --help shows no subcommands")
    top_flags = flags_in(cli_help)
    sub_flags = {s: flags_in(help_text([cli, s])) for s in subs}
    all_cli = top_flags.union(*sub_flags.values()) if sub_flags else top_flags
    compare("gpt4rec-cli", flags_in(readme_block(readme, "flags:cli")), all_cli)
    lines = cli_lines(root)
    for source, line in lines:
        words = line.split()
        sub = words[1] if len(words) > 1 else ""
        if sub not in sub_flags:
            problems.append("%s: `%s` names no gpt4rec-cli subcommand (%s)" % (source, line.strip(), ", ".join(subs)))
            continue
        for f in sorted(flags_in(line) - sub_flags[sub] - top_flags):
            problems.append("%s: `gpt4rec-cli %s` has no flag --%s" % (source, sub, f))

    # The README's API table names every RPC of the public contract.
    proto = open(os.path.join(root, "proto", "gpt4rec", "v1", "recommender.proto")).read()
    rpcs = re.findall(r"^\s*rpc\s+(\w+)\s*\(", proto, re.M)
    if not rpcs:
        problems.append("no rpc found in proto/gpt4rec/v1/recommender.proto")
    for rpc in rpcs:
        if not re.search(r"^\| `%s\b" % rpc, readme, re.M):
            problems.append("README.md's API table has no row for rpc %s" % rpc)

    for p in problems:
        print("check_flags: " + p)
    if not problems:
        print("check_flags: OK (%d server flags, %d CLI subcommands, %d CLI command lines, %d RPCs checked)"
              % (len(server_flags), len(subs), len(lines), len(rpcs)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
