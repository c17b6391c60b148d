import sys

from servers.launch import main

# Guarded: a processpool worker started with "spawn" imports this module as __mp_main__.
if __name__ == "__main__":
    sys.exit(main())
