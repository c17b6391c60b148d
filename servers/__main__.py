import sys

from servers.launch import main

sys.exit(main())
