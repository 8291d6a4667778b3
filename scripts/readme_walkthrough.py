#!/usr/bin/env python3
"""Follows README.md top to bottom, as a new user would, on a fresh clone.

Every command the README shows is run in the order written, from the clone's root: each ```sh
block as one script, and the `$ ` lines of the example transcripts (with their `\\` continuations).
A command whose transcript shows an "error:" line is expected to fail (non-zero exit status);
every other command must succeed. Commands that need a Slurm cluster (`sbatch`) are listed as
skipped. Prints one line per command and exits 1 when any command did not do what the README
says.

  scripts/readme_walkthrough.py [--clone DIR] [--repo PATH] [--keep]

Slow (it builds, runs the test suite, classifies 10,000 images twice and trains for 5 epochs):
about 20 minutes on 2 cores. Not part of ctest; run by hand before changing the README.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import time


def readme_commands(text):
    """(command, expect_error) pairs in README order."""
    commands = []
    for language, body in re.findall(r"```(\w*)\n(.*?)```", text, re.S):
        lines = body.splitlines()
        if language == "sh":  # a block is one script (it may hold loops and continuations)
            commands.append(["set -e\n" + body.strip(), False])
            continue
        i = 0
        while i < len(lines):
            if not lines[i].startswith("$ "):
                i += 1
                continue
            command = lines[i][2:]
            while command.rstrip().endswith("\\") and i + 1 < len(lines):
                i += 1
                command = command.rstrip()[:-1] + " " + lines[i].strip()
            i += 1
            shown = []
            while i < len(lines) and not lines[i].startswith("$ "):
                shown.append(lines[i])
                i += 1
            commands.append([command, any("error:" in s for s in shown)])
    return commands


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    parser.add_argument("--clone", default="/tmp/vitc-readme-walkthrough")
    parser.add_argument("--keep", action="store_true", help="reuse an existing clone")
    args = parser.parse_args()

    if not args.keep or not os.path.isdir(args.clone):
        shutil.rmtree(args.clone, ignore_errors=True)
        subprocess.run(["git", "clone", "-q", args.repo, args.clone], check=True)
    with open(os.path.join(args.clone, "README.md"), encoding="utf-8") as f:
        commands = readme_commands(f.read())

    unexpected = 0
    for number, (command, expect_error) in enumerate(commands, 1):
        if command.replace("set -e\n", "").lstrip().startswith("sbatch"):
            print(f"[{number:2}] skipped (needs a Slurm cluster; tests/slurm runs one): {command}", flush=True)
            continue
        start = time.monotonic()
        run = subprocess.run(["bash", "-c", command], cwd=args.clone, capture_output=True, text=True)
        seconds = time.monotonic() - start
        ok = (run.returncode != 0) == expect_error
        unexpected += not ok
        verdict = "ok" if ok else "UNEXPECTED"
        shown_command = command.replace("set -e\n", "").replace("\n", "\n         ")
        print(f"[{number:2}] {verdict} exit {run.returncode} in {seconds:.1f} s"
              f"{' (an error, as the README shows)' if expect_error else ''}: {shown_command}", flush=True)
        for stream in (run.stdout, run.stderr):
            shown = stream.strip().splitlines()
            for line in shown[:3] + (["..."] + shown[-2:] if len(shown) > 5 else shown[3:]):
                print(f"       | {line}", flush=True)
    print(f"{len(commands)} commands, {unexpected} not as the README says")
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
