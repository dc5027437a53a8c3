"""The sandbox a grading kernel runs in (used by :mod:`mlpcourse.containment.contain`).

The kernel spec's ``argv`` starts the kernel through ``unshare`` (util-linux) in new
mount, network and PID namespaces; :func:`_init`, PID 1 there, builds a root file
system from read-only system and Python folders, the data cache, and writable
scratch folders (the notebook's folder is a scratch copy at the same path), switches
to it with ``pivot_root``, and starts the kernel under a user id of its own with
``setrlimit`` limits. The network namespace has no usable interface, not even
loopback; the kernel talks to the grader over Unix sockets (ZeroMQ ``ipc``).

This module needs only the standard library: it runs at every kernel start.
"""

import ctypes
import dataclasses
import functools
import json
import os
import pathlib
import re
import resource
import select
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile


SPEC_NAME = "mlpcourse-sandbox"
KERNEL_MODULE = "_mlpcourse_grading"
# Environment variables every kernel keeps: nbgrader's, the BLAS libraries' thread and core
# settings, the locale. By exact name, never by prefix (LANG would let LANGCHAIN_API_KEY
# through); an assignment's own come as Scratch's keep_env, also by name.
ENV_KEEP = frozenset({"NBGRADER_EXECUTION", "NBGRADER_VALIDATING", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                      "MKL_NUM_THREADS", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "LANG", "LANGUAGE"})
LOCALE_VARIABLE = re.compile(r"LC_[A-Z]+")

# Top-level system folders the sandbox mounts read-only (symlinks are copied as symlinks).
SYSTEM_FOLDERS = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc", "sys")
DEVICES = ("null", "zero", "full", "random", "urandom")

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 32, 4096, 16384, 1 << 18
MNT_DETACH = 2
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_NO_NEW_PRIVS = 1, 4, 38
PR_CAPBSET_DROP, PR_SET_SECUREBITS, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 24, 28, 47, 4
# SECBIT_NOROOT, SECBIT_NO_SETUID_FIXUP, SECBIT_KEEP_CAPS_LOCKED, SECBIT_NO_CAP_AMBIENT_RAISE,
# each with its lock: root (in its user namespace) gains no capabilities, ever again.
SECURE_BITS = 0b11111111 & ~(1 << 4)
LINUX_CAPABILITY_VERSION_3 = 0x20080522
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}
SYS_CAPSET = {"x86_64": 126, "aarch64": 91}


@dataclasses.dataclass
class Limits:
    """Resource limits of one grading kernel (bytes, counts, seconds)."""

    memory: int
    processes: int
    file_size: int
    open_files: int
    cpu_seconds: int
    tmp_size: int


# --- is a sandbox possible here? -------------------------------------------------------

def unshare_argv(mode):
    """The ``unshare`` command line that puts a process in new namespaces."""
    argv = ["unshare", "--mount", "--net", "--pid", "--fork", "--kill-child", "--propagation", "private"]
    return argv + (["--map-root-user"] if mode == "userns" else [])


_working_mode = []  # the mode that worked, once one has


def sandbox_mode():
    """``"root"`` (namespaces and a user id per kernel), ``"userns"`` (namespaces in a
    user namespace: no separate user id), or None when neither works here.

    Only a mode that worked is remembered. A check that failed (a loaded machine, the
    user's process limit reached by another kernel) is made again for the next kernel:
    a long-lived grading process must not grade every later student unsandboxed.
    """
    if _working_mode:
        return _working_mode[0]
    candidates = ["root"] if os.geteuid() == 0 else []
    candidates.append("userns")
    for mode in candidates:
        try:
            result = subprocess.run(unshare_argv(mode) + ["true"], capture_output=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if result.returncode == 0:
            _working_mode.append(mode)
            return mode
    return None


def remove_tree(path):
    """Remove the folder ``path`` whatever a kernel left in it; never raises.

    ``shutil.rmtree`` recurses once per folder level, so a chain of nested folders a
    kernel made raises RecursionError (which ``ignore_errors`` does not cover); ``rm``
    then removes what is left.
    """
    try:
        shutil.rmtree(path)
    except FileNotFoundError:
        return
    except Exception:  # RecursionError, or files the grader may not remove one by one
        subprocess.run(["rm", "-rf", "--one-file-system", "--", str(path)], capture_output=True)


# --- inside the namespaces ---------------------------------------------------------------

def _libc():
    return ctypes.CDLL(None, use_errno=True)


def _check(result, what):
    if result != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"{what}: {os.strerror(error)}")


def _mount(source, target, fstype=None, flags=0, data=None):
    libc = _libc()
    _check(libc.mount(source.encode() if source else None, str(target).encode(),
                      fstype.encode() if fstype else None, ctypes.c_ulong(flags),
                      data.encode() if data else None), f"mount {source} on {target}")


def _bind(source, target, writable=False):
    """Bind ``source`` (a folder or file) at ``target``; read-only unless ``writable``."""
    target = pathlib.Path(target)
    if os.path.isdir(source):
        target.mkdir(parents=True, exist_ok=True)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.touch()
    _mount(str(source), target, flags=MS_BIND | MS_REC)
    flags = MS_REMOUNT | MS_BIND | MS_NOSUID | (0 if writable else MS_RDONLY)
    _mount(None, target, flags=flags)


def _pivot_root(new_root):
    """Make ``new_root`` the root of this mount namespace and drop the old one."""
    os.chdir(new_root)
    os.mkdir(".old-root")
    number = SYS_PIVOT_ROOT.get(os.uname().machine)
    if number is not None:
        _check(_libc().syscall(number, b".", b".old-root"), "pivot_root")
    else:
        subprocess.run(["pivot_root", ".", ".old-root"], check=True)
    os.chdir("/")
    _check(_libc().umount2(b"/.old-root", MNT_DETACH), "umount old root")
    os.rmdir("/.old-root")


def _build_root(settings):
    """Mount the kernel's file system under ``settings['root']`` and switch to it."""
    _mount(None, "/", flags=MS_REC | MS_PRIVATE)
    root = pathlib.Path(settings["root"])
    _mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=16m")
    for name in SYSTEM_FOLDERS:
        path = pathlib.Path("/") / name
        if path.is_symlink():
            (root / name).symlink_to(os.readlink(path))
        elif path.is_dir():
            _bind(path, root / name)
    (root / "dev").mkdir()
    for device in DEVICES:
        _bind(f"/dev/{device}", root / "dev" / device, writable=True)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        (root / "dev" / name).symlink_to(target)
    (root / "dev" / "shm").mkdir()
    _mount("tmpfs", root / "dev" / "shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=64m")
    (root / "proc").mkdir()
    _mount("proc", root / "proc", "proc", MS_NOSUID | MS_NODEV)
    (root / "tmp").mkdir()
    _mount("tmpfs", root / "tmp", "tmpfs", MS_NOSUID | MS_NODEV, f"mode=1777,size={settings['limits']['tmp_size']}")
    for path in settings["readable"]:
        _bind(path, root / path.lstrip("/"))
    for source, target in settings["writable"]:
        _bind(source, root / target.lstrip("/"), writable=True)
    _pivot_root(root)
    _mount(None, "/", flags=MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID)


def _drop_privileges(uid):
    """Become ``uid`` (root mode) and give up every capability, for good.

    Without a user id of its own (userns mode) the kernel is root in its user
    namespace: with capabilities it could remount its read-only folders writable
    (the Python installation among them). So the capability bounding set is emptied,
    root is denied capabilities on exec (secure bits, locked), and the process's own
    capability sets are cleared.
    """
    libc = _libc()
    _check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    last = int(pathlib.Path("/proc/sys/kernel/cap_last_cap").read_text())
    for capability in range(last + 1):
        _check(libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0), f"dropping capability {capability}")
    _check(libc.prctl(PR_SET_SECUREBITS, SECURE_BITS, 0, 0, 0), "securebits")
    if uid is not None:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    header = (ctypes.c_uint32 * 2)(LINUX_CAPABILITY_VERSION_3, 0)
    no_capabilities = (ctypes.c_uint32 * 6)()
    _check(libc.syscall(SYS_CAPSET[os.uname().machine], header, no_capabilities), "capset")
    _check(libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "pdeathsig")


def _set_limits(limits, mode):
    caps = [(resource.RLIMIT_AS, limits["memory"]), (resource.RLIMIT_FSIZE, limits["file_size"]),
            (resource.RLIMIT_NOFILE, limits["open_files"]), (resource.RLIMIT_CPU, limits["cpu_seconds"]),
            (resource.RLIMIT_CORE, 0)]
    if mode == "root":  # RLIMIT_NPROC counts per user id: only meaningful with one of our own
        caps.append((resource.RLIMIT_NPROC, limits["processes"]))
    for which, value in caps:
        resource.setrlimit(which, (value, value))
    # A write past the file size limit fails with EFBIG instead of killing the kernel.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def _sweep(kernel):
    """Kill every process of the sandbox but this one (PID 1) and the kernel."""
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) not in (1, kernel):
            try:
                os.kill(int(name), signal.SIGKILL)
            except OSError:
                pass


def _init(settings_path, argv):
    """PID 1 of a grading sandbox: build it, start the kernel in it, wait.

    Runs as (namespace) root in new mount, network and PID namespaces (see
    :func:`unshare_argv`). Ends when the kernel ends, or when the grader's
    lifeline socket closes (the grader died): PID 1 exiting kills everything left
    in the sandbox. When the grader sends ``inkernel.SWEEP`` on the lifeline (after each
    cell), every other process the kernel started is killed: a cell's processes do
    not outlive the cell.
    """
    from mlpcourse.containment import inkernel  # before the course folder disappears from view

    # Not dumpable (inherited by the kernel until its execve): in userns mode PID 1 has the
    # kernel's user id, and the kernel must not read its memory or /proc/1/environ, nor ptrace it.
    _check(_libc().prctl(PR_SET_DUMPABLE, 0, 0, 0, 0), "dumpable")
    settings = json.loads(pathlib.Path(settings_path).read_text())
    uid = settings["uid"]
    if uid is not None:
        for folder in settings["owned"]:
            for path in [pathlib.Path(folder), *pathlib.Path(folder).rglob("*")]:
                os.chown(path, uid, uid, follow_symlinks=False)
    # The kernel's output log lives outside its sandbox (a root-owned folder it never sees):
    # the kernel writes to it through the inherited descriptor only, so it cannot replace
    # the file the grader later reads with a link or a pipe.
    log = os.open(settings["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
    _build_root(settings)
    lifeline = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lifeline.connect(settings["judge_socket"])
    inkernel.send(lifeline, {"op": inkernel.LIFELINE})
    kernel = os.fork()
    if kernel == 0:
        try:
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            # The kernel's children are reaped as they end (no zombies holding the process limit).
            signal.signal(signal.SIGCHLD, signal.SIG_IGN)
            null = os.open("/dev/null", os.O_RDONLY)
            os.dup2(null, 0)
            os.dup2(log, 1)
            os.dup2(log, 2)
            lifeline.close()
            _set_limits(settings["limits"], settings["mode"])
            _drop_privileges(uid)
            os.chdir(settings["workdir"])
            os.execve(argv[0], argv, settings["env"])
        finally:
            os._exit(127)
    os.close(log)
    # Interrupts are for the kernel: the grader signals the whole process group.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _drop_privileges(uid)
    while True:
        readable, _, _ = select.select([lifeline], [], [], 0.5)
        if readable:
            try:
                message = lifeline.recv(64)
            except OSError:
                message = b""
            if not message:
                os._exit(1)  # the grader is gone
            if inkernel.SWEEP in message:
                _sweep(kernel)
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                os._exit(1)
            if pid == 0:
                break
            if pid == kernel:
                os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


# --- the grader's side: a scratch folder per kernel ----------------------------------

class Scratch:
    """The folders and files one sandboxed kernel needs, under a short /tmp path.

    Parameters
    ----------
    workdir : path
        The notebook's folder (nbgrader's ``autograded/<student>/<assignment>``);
        the kernel gets a scratch copy of it, without notebooks, at the same path.
    mode : str or None
        From :func:`sandbox_mode`; None runs the kernel without a sandbox.
    limits : Limits
    readable : list of str
        Paths the kernel may read besides the system and Python folders.
    kernel_files : dict
        ``{file name: text}`` of modules the kernel can import (the grader's
        in-kernel code, stand-ins for hidden modules).
    env : dict
        The environment nbgrader would give the kernel.
    pythonpath : list of str
        Folders the kernel imports from, after the one holding ``kernel_files``.
    keep_env : tuple of str
        Names of the variables of ``env`` the kernel keeps besides ``ENV_KEEP`` and the
        locale's (the assignment's data settings, ``ContainedExecute.kernel_env``).

    Attributes
    ----------
    kernel_env : dict
        The kernel's whole environment. The grader launches the sandbox (or, without
        one, the kernel) with it and nothing else, so that no process the kernel can
        inspect holds the grader's variables.
    """

    def __init__(self, workdir, mode, limits, readable, kernel_files, env, pythonpath=(), keep_env=()):
        self.workdir = str(pathlib.Path(workdir).resolve())
        self.mode = mode
        self.base = pathlib.Path(tempfile.mkdtemp(prefix="mlpc-"))
        self.base.chmod(0o755)
        self.kernel_dir = self.base / "k"
        self.home = self.base / "home"
        self.grader_dir = self.base / "grader"
        self.work = self.base / "work"
        for folder in (self.kernel_dir, self.home, self.grader_dir):
            folder.mkdir()
        self.grader_dir.chmod(0o755)
        for name, text in kernel_files.items():
            (self.grader_dir / name).write_text(text)
        self.judge_socket = self.grader_dir / "judge.sock"
        self.connection_file = self.kernel_dir / "kernel.json"
        self.log = self.base / "kernel.log"
        # A user id per kernel: the scratch folder's inode is unique while it exists.
        self.uid = (100000 + self.base.stat().st_ino % 2_000_000_000) if mode == "root" else None
        # No notebook: nbgrader's working copy holds the locked cells restored from the
        # gradebook (hidden tests, mark schemes), and student code could read it.
        shutil.copytree(self.workdir, self.work, symlinks=True, ignore=shutil.ignore_patterns("*.ipynb"))
        # Sticky and root-owned: the kernel may add files but not delete or replace ours.
        self.work.chmod(0o1777)
        _copy_font_cache(self.home / "matplotlib")
        kernel_env = {k: v for k, v in env.items() if k in ENV_KEEP or k in keep_env or LOCALE_VARIABLE.fullmatch(k)}
        kernel_env.update({
            "PATH": os.pathsep.join([str(pathlib.Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]),
            "HOME": str(self.home), "TMPDIR": "/tmp", "MPLCONFIGDIR": str(self.home / "matplotlib"),
            "PYTHONPATH": os.pathsep.join([str(self.grader_dir), *pythonpath]), "PYTHONNOUSERSITE": "1",
            "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        })
        settings = {
            "mode": mode, "uid": self.uid, "root": str(self.base / "root"),
            "readable": _outermost([*readable, sys.prefix, sys.base_prefix, sys.exec_prefix,
                                    os.path.dirname(os.path.realpath(sys.executable)), str(self.grader_dir)]),
            "writable": [[str(self.kernel_dir), str(self.kernel_dir)], [str(self.home), str(self.home)],
                         [str(self.work), self.workdir]],
            "owned": [str(self.kernel_dir), str(self.home)],
            "judge_socket": str(self.judge_socket), "log": str(self.log), "workdir": self.workdir,
            "limits": dataclasses.asdict(limits), "env": kernel_env,
        }
        self.kernel_env = kernel_env
        (self.base / "root").mkdir()
        self.settings = self.base / "settings.json"
        self.settings.write_text(json.dumps(settings))
        self.settings.chmod(0o600)
        self.spec_dir = self.base / "kernels"
        spec = self.spec_dir / SPEC_NAME
        spec.mkdir(parents=True)
        kernel = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}",
                  "--HistoryManager.hist_file=:memory:"]
        argv = kernel if mode is None else (
            unshare_argv(mode) + [sys.executable, "-I", "-m", "mlpcourse.containment.sandbox", "init", str(self.settings), "--"]
            + kernel)
        (spec / "kernel.json").write_text(json.dumps({
            "argv": argv, "display_name": "Python 3 (grading sandbox)", "language": "python",
            "interrupt_mode": "signal", "env": {}}))

    def kernel_log_size(self):
        """Bytes the kernel process has written to its log so far (0 if there is none)."""
        try:
            return os.stat(self.log, follow_symlinks=False).st_size
        except OSError:
            return 0

    def kernel_log(self, limit=4000, since=0):
        """The end (at most ``limit`` bytes) of what the kernel process wrote to its stdout/stderr,
        after its first ``since`` bytes."""
        try:
            fd = os.open(self.log, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            return ""
        try:
            size = os.fstat(fd).st_size
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return ""
            os.lseek(fd, max(since, size - limit), os.SEEK_SET)
            return os.read(fd, limit).decode(errors="replace")
        finally:
            os.close(fd)

    def remove(self):
        remove_tree(self.base)


def _outermost(paths):
    """``paths`` (absolute, existing) without those inside another one, sorted."""
    paths = sorted({os.path.realpath(p) for p in paths if p and os.path.exists(p)})
    return [p for p in paths if not any(p != q and p.startswith(q.rstrip("/") + "/") for q in paths)]


@functools.lru_cache(maxsize=None)
def _font_cache():
    """A matplotlib font cache for kernels (building one takes seconds), built once per machine."""
    import importlib.metadata

    version = importlib.metadata.version("matplotlib")
    folder = pathlib.Path.home() / ".cache" / "mlpcourse" / f"matplotlib-{version}"
    if not folder.exists():
        folder.parent.mkdir(parents=True, exist_ok=True)
        building = pathlib.Path(tempfile.mkdtemp(prefix="building-", dir=folder.parent))
        env = dict(os.environ, MPLCONFIGDIR=str(building))
        subprocess.run([sys.executable, "-c", "import matplotlib.font_manager"], env=env,
                       capture_output=True, timeout=300)
        try:
            building.rename(folder)
        except OSError:  # built meanwhile by another grader
            shutil.rmtree(building, ignore_errors=True)
    return folder


def _copy_font_cache(destination):
    shutil.copytree(_font_cache(), destination, dirs_exist_ok=True)


def main(argv=None):
    """``python -m mlpcourse.containment.sandbox init SETTINGS -- KERNEL ARGV`` (the kernel spec's command)."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) >= 3 and argv[0] == "init" and argv[2] == "--":
        _init(argv[1], argv[3:])
    print("usage: python -m mlpcourse.containment.sandbox init SETTINGS -- KERNEL ARGV", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
