import sys

from neurophase.cli import main

sys.exit(main())
