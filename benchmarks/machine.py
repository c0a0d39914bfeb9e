"""What the benchmarks share: the machine and library header, a competing busy process, the machine's flop rate,
and the environment a command-line process is measured in.

Every benchmark that states a limit prints :func:`header` first, so that its output says on
what it was measured: date, CPU model, cores, load average, Python, NumPy, SymPy,
threadpoolctl and the BLAS threadpoolctl finds (OpenBLAS's version and its default threads).
"""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
import sys
import time
from importlib import metadata

import numpy as np

#: A process that keeps one core busy, as another program on a user's laptop does.
SPIN = "while True:\n    pass\n"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cpu_model():
    """The CPU's model name (/proc/cpuinfo on Linux), else what the platform module knows."""
    try:
        with open("/proc/cpuinfo") as f:
            return next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def _version(name):
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def blas():
    """'openblas 0.3.x (SkylakeX, pthreads), 2 threads by default', or what threadpoolctl sees instead."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown (no threadpoolctl)"
    pools = [p for p in threadpool_info() if p["user_api"] == "blas"]
    return "; ".join(f"{p['internal_api']} {p['version']} ({p.get('architecture')}, {p.get('threading_layer')}), "
                     f"{p['num_threads']} threads by default" for p in pools) or "none found"


def load():
    """The 1, 5 and 15 minute load averages, as text."""
    try:
        return ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def header():
    """Lines that say where and with what a benchmark ran."""
    return [f"measured {time.strftime('%Y-%m-%d %H:%M %Z')} on {cpu_model()}, {os.cpu_count()} cores "
            f"({platform.machine()}, {platform.system()}), load average {load()}",
            f"Python {platform.python_version()}, NumPy {np.__version__}, SymPy {_version('sympy')}, "
            f"threadpoolctl {_version('threadpoolctl')}, BLAS {blas()}",
            "environment: " + (", ".join(f"{k}={os.environ[k]}" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                                                          "MKL_NUM_THREADS", "GRADCHECK_BLAS_THREADS")
                                         if k in os.environ) or "no thread variables set")
            + ("; PYTHONDONTWRITEBYTECODE is set here, not in the command lines measured (see user_env)"
               if os.environ.get("PYTHONDONTWRITEBYTECODE") else "")]


def user_env(**extra):
    """The environment a command-line process is measured in: this one, with ``extra``, and without
    PYTHONDONTWRITEBYTECODE. An installed package has its modules' bytecode (pip compiles it at install time);
    with that variable set, as some machines do, every start-up compiles gradcheck's hundred modules from source
    (0.1 s of a million-param check's 1.1 s here). Call :func:`warm_bytecode` once first."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(extra)
    return env


def warm_bytecode():
    """Compile this checkout's gradcheck to bytecode once (into its ``__pycache__`` folders, which git ignores), as
    installing it would, so that no measured start-up pays for it."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", os.path.join(ROOT, "gradcheck")], env=user_env(),
                   check=False, capture_output=True)


@contextlib.contextmanager
def busy():
    """Run the block while a competing process keeps one core busy (a pure-Python spin); stop it after."""
    proc = subprocess.Popen([sys.executable, "-c", SPIN])
    try:
        time.sleep(0.2)  # let it start spinning before anything is timed
        yield proc
    finally:
        proc.kill()
        proc.wait()


def flop_rate(n=1024, repeat=3):
    """The machine's rate (flop/s) at one big float64 product, n×n by n×n, with the BLAS threads as set: the best
    of ``repeat`` (a product of two n×n matrices is 2n³ flops)."""
    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((n, n)), rng.standard_normal((n, n))
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        A @ B
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best
