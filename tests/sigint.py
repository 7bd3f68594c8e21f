"""Children started as a terminal's shell starts a program: SIGINT at its default disposition.

A process inherits an ignored SIGINT from its parent, and Python then installs no KeyboardInterrupt handler, so a
Ctrl-C test whose child came from a pytest worker that ignores SIGINT would see the signal do nothing."""

import signal


def default_sigint():
    """``preexec_fn`` for subprocess.Popen: SIGINT back to its default in the child before it runs."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
