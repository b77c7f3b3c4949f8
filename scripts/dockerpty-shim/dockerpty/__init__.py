from threadpty import *  # noqa: F401,F403
