#!/usr/bin/env python3
"""scripts/slurm/batch.sbatch on a real single-node Slurm cluster, started here for the test.

    slurm_array.py --vitc build/app/vitc --sbatch-script scripts/slurm/batch.sbatch --assets assets

1. Starts munged (as user munge, with its own key and socket), slurmctld and slurmd (on free
   localhost ports, config, state and logs in a temporary folder).
2. Makes a labelled folder (the sample images in label subfolders, and large PNGs that take a
   while to decode, so that a task runs long enough to be cancelled midway).
3. `sbatch --array=0-3 --wait`; the merge job the array submits must write rows equal, row for
   row, to one `vitc batch` over the whole folder.
4. Again, cancelling task 2 (`scancel JOB_2`) once it has written some rows: the merge job must
   refuse (files missing); task 2 rerun alone resumes from its rows, and the merge is again equal
   to the single run: nothing lost, nothing doubled.
The daemons are stopped by their pids at the end, whatever happened. Exit status 77 (ctest's
SKIP_RETURN_CODE) only when Slurm or munge is not installed, or we are not root.
"""
import argparse
import csv
import ctypes
import glob
import os
import pwd
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from shard_merge import LABEL_FOLDERS  # noqa: E402  sample image name -> label folder

SKIP = 77
SHARDS = 4
COPIES = 4        # of each sample image, in its label folder
BIG_IMAGES = 64   # 2000x2000 PNGs, ~0.1 s each to decode: the slow part of every shard

results = []


def check(name, ok, detail=""):
    """Prints the check; the detail in full when it failed, else only when it is short."""
    detail = str(detail).strip()
    if ok and (len(detail) > 60 or "\n" in detail):
        detail = ""
    print("%s %-58s %s" % ("ok  " if ok else "FAIL", name, detail), flush=True)
    results.append(bool(ok))
    return ok


def skip(reason):
    print("SKIP: " + reason, flush=True)
    sys.exit(SKIP)


def big_png(side):
    """An RGB PNG whose rows all use the Paeth filter: tiny on disk, slow to decode."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)
    raw = (b"\x04" + bytes(side * 3)) * side
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def make_folder(root, assets):
    big = big_png(2000)
    labels = sorted(LABEL_FOLDERS.values())
    for name, folder in LABEL_FOLDERS.items():
        os.makedirs(os.path.join(root, folder))
        for i in range(COPIES):
            shutil.copy(os.path.join(assets, name + ".png"), os.path.join(root, folder, "%s %d.png" % (name, i)))
    for i in range(BIG_IMAGES):
        with open(os.path.join(root, labels[i % len(labels)], "big %02d.png" % i), "wb") as f:
            f.write(big)
    return COPIES * len(LABEL_FOLDERS) + BIG_IMAGES


def die_with_parent():
    """In the child before exec: SIGTERM when the test process dies, even by SIGKILL (a ctest
    timeout), so that no daemon is left behind."""
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """munged + slurmctld + slurmd in `work`, each a child process we stop by its pid."""

    def __init__(self, work):
        self.work = work
        self.processes = []
        # Our cluster only, even when the test itself runs inside a Slurm job.
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SBATCH_", "SQUEUE_"))}
        self.env["SLURM_CONF"] = os.path.join(work, "slurm.conf")

    def start(self):
        munge_dir = os.path.join(self.work, "munge")
        os.makedirs(munge_dir)
        os.chmod(munge_dir, 0o755)  # munged wants its socket folder reachable by every user
        munge = pwd.getpwnam("munge")
        key = os.path.join(munge_dir, "munge.key")
        keygen = shutil.which("mungekey") or shutil.which("mungekey", path="/usr/sbin")
        if keygen:
            subprocess.run([keygen, "--create", "--keyfile=" + key], check=True, capture_output=True)
        else:  # older munge: create-munge-key
            with open(key, "wb") as f:
                f.write(os.urandom(1024))
        os.chmod(key, 0o400)
        for path in (munge_dir, key):
            os.chown(path, munge.pw_uid, munge.pw_gid)
        self.socket = os.path.join(munge_dir, "munge.socket")
        self.launch([self.sbin("munged"), "--foreground", "--key-file=" + key, "--socket=" + self.socket,
                     "--pid-file=" + os.path.join(munge_dir, "munged.pid"),
                     "--log-file=" + os.path.join(munge_dir, "munged.log"),
                     "--seed-file=" + os.path.join(munge_dir, "munged.seed")],
                    "munged.out", user=munge)
        self.wait_for(lambda: os.path.exists(self.socket), 15, "munged socket")

        self.node = socket.gethostname().split(".")[0]
        for sub in ("state", "spool"):
            os.makedirs(os.path.join(self.work, sub))
        with open(self.env["SLURM_CONF"], "w") as f:
            f.write(self.config())
        self.launch([self.sbin("slurmctld"), "-D", "-f", self.env["SLURM_CONF"]], "slurmctld.out")
        self.launch([self.sbin("slurmd"), "-D", "-f", self.env["SLURM_CONF"], "-N", self.node], "slurmd.out")
        self.wait_for(lambda: self.query(["sinfo", "-h", "-N", "-o", "%t"]).strip() == "idle", 60, "node idle in sinfo")

    def config(self):
        w = self.work
        return "\n".join([
            "ClusterName=vitctest",
            "SlurmctldHost=%s(127.0.0.1)" % self.node,
            "SlurmctldPort=%d" % free_port(),
            "SlurmdPort=%d" % free_port(),
            "SlurmUser=root",
            "SlurmdUser=root",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            "AuthInfo=socket=%s" % self.socket,
            "StateSaveLocation=%s/state" % w,
            "SlurmdSpoolDir=%s/spool" % w,
            "SlurmctldPidFile=%s/slurmctld.pid" % w,
            "SlurmdPidFile=%s/slurmd.pid" % w,
            "SlurmctldLogFile=%s/slurmctld.log" % w,
            "SlurmdLogFile=%s/slurmd.log" % w,
            # No cgroups: a plain container or CI machine has none to give.
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_CPU",
            "SchedulerParameters=sched_interval=1",
            "MpiDefault=none",
            "ReturnToService=2",
            "KillWait=10",
            "MinJobAge=600",
            "NodeName=%s NodeAddr=127.0.0.1 CPUs=%d State=UNKNOWN" % (self.node, os.cpu_count() or 1),
            "PartitionName=test Nodes=%s Default=YES MaxTime=INFINITE State=UP" % self.node,
            ""])

    @staticmethod
    def sbin(name):
        return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")

    def launch(self, argv, log, user=None):
        out = open(os.path.join(self.work, log), "w")
        kwargs = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []} if user else {}
        self.processes.append(subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=self.env,
                                               stdin=subprocess.DEVNULL, preexec_fn=die_with_parent, **kwargs))

    def wait_for(self, condition, seconds, what):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for p in self.processes:
                if p.poll() is not None:
                    raise RuntimeError("%s exited with %s while waiting for %s" % (p.args[0], p.returncode, what))
            if condition():
                return
            time.sleep(0.2)
        raise RuntimeError("timed out waiting for " + what)

    def query(self, argv, check=False):
        done = subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=60)
        if check and done.returncode:
            raise RuntimeError("%s: %s" % (" ".join(argv), done.stderr.strip()))
        return done.stdout

    def job_state(self, job):
        for field in self.query(["scontrol", "-o", "show", "job", job]).split():
            if field.startswith("JobState="):
                return field.split("=", 1)[1]
        return ""

    def wait_until_gone(self, job, seconds):
        self.wait_for(lambda: not self.query(["squeue", "-h", "-j", job, "-o", "%i"]).strip(), seconds,
                      "job %s to end" % job)

    def stop(self):
        if self.processes and self.processes[-1].poll() is None:
            try:  # our cluster's jobs (SLURM_CONF), so that no job step outlives the daemons
                subprocess.run(["scancel", "--quiet", "--full", "--user", "root"], env=self.env, capture_output=True,
                               timeout=30)
                self.wait_for(lambda: not self.query(["squeue", "-h", "-o", "%i"]).strip(), 30, "jobs to end")
            except (RuntimeError, subprocess.SubprocessError) as e:
                print("stopping: " + str(e))
        for p in reversed(self.processes):  # slurmd, slurmctld, munged: by pid
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


def read_text(path):
    if not os.path.exists(path):
        return ""
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def rows_written(path):
    """Rows of a shard output so far, in the file or in the temporary file beside it."""
    best = 0
    for candidate in glob.glob(glob.escape(path) + "*"):
        if not candidate.endswith(".summary.json"):
            best = max(best, read_text(candidate).count("\n") - 1)
    return best


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--vitc", required=True)
    parser.add_argument("--sbatch-script", required=True)
    parser.add_argument("--assets", required=True)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    for name in ("vitc", "sbatch_script", "assets"):  # jobs run in another folder
        setattr(args, name, os.path.abspath(getattr(args, name)))
    if os.geteuid() != 0:
        skip("Slurm's daemons need root here (slurmd starts jobs as their users)")
    for tool in ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", "sinfo", "scontrol"):
        if not Cluster.sbin(tool):
            skip("%s is not installed (Debian: apt-get install slurm-wlm munge; scripts/bootstrap.sh does)" % tool)
    try:
        pwd.getpwnam("munge")
    except KeyError:
        skip("there is no user munge (Debian's munge package makes it)")

    work = tempfile.mkdtemp(prefix="vitc-slurm-")
    os.chmod(work, 0o755)  # munged runs as munge and must reach its folder
    cluster = Cluster(work)
    try:
        try:
            started = time.monotonic()
            cluster.start()
            print("slurm: node %s idle after %.1f s (work folder %s)" % (cluster.node, time.monotonic() - started, work))
        except Exception as e:  # installed but cannot run here: that is a failure, with the logs
            check("Slurm starts", False, str(e))
            for log in ("munged.out", "munge/munged.log", "slurmctld.out", "slurmctld.log", "slurmd.out", "slurmd.log"):
                path = os.path.join(work, log)
                if os.path.exists(path):
                    print("--- %s\n%s" % (log, read_text(path)[-3000:]))
            return 1
        try:
            run(cluster, work, args)
        except Exception as e:  # a step that could not go on: a failure, with where
            check("the steps ran to the end", False, "%s: %s" % (type(e).__name__, e))
            for log in sorted(glob.glob(os.path.join(work, "*.out")) + glob.glob(os.path.join(work, "run*", "*.out"))):
                print("--- %s\n%s" % (log, read_text(log)[-1500:]))
    finally:
        cluster.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print("%d passed, %d failed" % (results.count(True), results.count(False)))
    return 0 if all(results) else 1


def run(cluster, work, args):
    folder = os.path.join(work, "images")
    total = make_folder(folder, args.assets)
    # Batch size 1 and one thread in the shards and the single run: every image goes through the
    # same computation, so the rows must agree to the last digit.
    options = ["--batch-size", "1", "--top", "5"]
    env = dict(cluster.env, VITC=os.path.abspath(args.vitc))
    env.pop("VITC_SHARDS", None)

    reference = os.path.join(work, "single.csv")
    single = subprocess.run([args.vitc, "batch", folder, "--out", reference, "--threads", "1"] + options,
                            capture_output=True, text=True, timeout=300)
    check("single vitc batch over %d images" % total, single.returncode == 0, single.stderr.strip()[-300:])
    expected = read_text(reference)

    def sbatch(outdir, array, wait, extra_env=None):
        argv = ["sbatch", "--parsable", "--array=" + array, "--output=" + os.path.join(work, "task-%A_%a.out")]
        argv += (["--wait"] if wait else []) + [args.sbatch_script, folder, outdir] + options
        return subprocess.run(argv, cwd=work, env=dict(env, **(extra_env or {})), capture_output=True, text=True,
                              timeout=300)

    def merge_job(outdir):
        job = read_text(os.path.join(outdir, "merge.jobid")).strip()
        if not job:
            raise RuntimeError("no merge job was submitted (no %s/merge.jobid)" % outdir)
        cluster.wait_until_gone(job, 120)
        log = glob.glob(os.path.join(outdir, "merge-%s.out" % job))
        return job, cluster.job_state(job), read_text(log[0]) if log else ""

    # 1. The whole array, then the merge job it submitted.
    first = os.path.join(work, "run1")
    started = time.monotonic()
    done = sbatch(first, "0-%d" % (SHARDS - 1), wait=True)
    check("sbatch --array=0-3 --wait exits 0", done.returncode == 0, (done.stdout + done.stderr).strip()[-300:])
    job, state, log = merge_job(first)
    print("array and merge took %.1f s" % (time.monotonic() - started))
    check("merge job %s completed" % job, state == "COMPLETED", state + " " + log[-300:])
    merged = os.path.join(first, "merged.csv")
    check("merged rows equal the single run's, row for row",
          os.path.exists(merged) and read_text(merged) == expected, "%d rows" % (read_text(merged).count("\n") - 1)
          if os.path.exists(merged) else "no " + merged)
    check("merge summary counts the whole folder", "images: %d, classified: %d, failed: 0" % (total, total) in log, log[-400:])
    check("merge summary has the confusion matrix", "confusion matrix" in log and "accuracy on %d labelled" % total in log)

    # 2. Task 2 cancelled midway, its merge refused, task 2 rerun alone with --resume, merged again.
    second = os.path.join(work, "run2")
    done = sbatch(second, "0-%d" % (SHARDS - 1), wait=False)
    array_job = done.stdout.strip().split(";")[0]
    check("sbatch --array=0-3 submits", done.returncode == 0 and array_job.isdigit(), done.stderr.strip())
    victim = "%s_2" % array_job
    output = os.path.join(second, "shard-2-of-%d.csv" % SHARDS)
    expected_rows = len(range(2, total, SHARDS))
    deadline, written = time.monotonic() + 120, 0
    while time.monotonic() < deadline and cluster.job_state(victim) in ("", "PENDING", "RUNNING"):
        written = rows_written(output)
        if written >= 3:
            break
        time.sleep(0.02)
    subprocess.run(["scancel", victim], env=cluster.env, capture_output=True, timeout=30)
    check("task 2 cancelled midway", 3 <= written < expected_rows, "%d of %d rows written" % (written, expected_rows))
    cluster.wait_until_gone(array_job, 120)
    check("task 2 ended CANCELLED", cluster.job_state(victim) == "CANCELLED", cluster.job_state(victim))
    kept = rows_written(output)
    check("task 2 kept fewer rows than its share", kept < expected_rows, "%d of %d" % (kept, expected_rows))
    job, state, log = merge_job(second)
    check("merge after the cancel refuses (files missing)",
          state == "FAILED" and "missing" in log and not os.path.exists(os.path.join(second, "merged.csv")),
          state + " " + log.strip()[-300:])

    done = sbatch(second, "2", wait=True, extra_env={"VITC_SHARDS": str(SHARDS)})
    rerun = done.stdout.strip().split(";")[0]
    check("task 2 rerun alone (--array=2, VITC_SHARDS=4) exits 0", done.returncode == 0, done.stderr.strip()[-300:])
    task_log = read_text(os.path.join(work, "task-%s_2.out" % rerun)) if rerun.isdigit() else ""
    resumed = re.search(r"resuming: (\d+) rows kept, (\d+) images to go", task_log)
    check("the rerun kept the cancelled task's rows and did only the rest",
          resumed and int(resumed.group(1)) == kept and int(resumed.group(2)) == expected_rows - kept,
          "kept %d of %d; %s" % (kept, expected_rows, task_log.strip()[-300:]))
    job, state, log = merge_job(second)
    check("merge job after the rerun completed", state == "COMPLETED", state + " " + log[-300:])
    merged = os.path.join(second, "merged.csv")
    with open(merged, newline="") as f:
        files = [row["file"] for row in csv.DictReader(f)] if os.path.exists(merged) else []
    check("every file exactly once after the rerun", len(files) == total and len(set(files)) == total,
          "%d rows, %d distinct, %d files" % (len(files), len(set(files)), total))
    check("merged rows equal the single run's, row for row", os.path.exists(merged) and read_text(merged) == expected)


if __name__ == "__main__":
    sys.exit(main())
