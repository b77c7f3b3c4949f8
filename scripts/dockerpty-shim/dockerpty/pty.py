from threadpty.pty import *  # noqa: F401,F403
