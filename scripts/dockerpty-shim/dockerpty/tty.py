from threadpty.tty import *  # noqa: F401,F403
