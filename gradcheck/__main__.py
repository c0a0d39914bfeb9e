from .threads import start_threads

start_threads()  # before NumPy loads: a BLAS started with the check's threads, not limited to them later

from .cli import main  # noqa: E402

raise SystemExit(main())
