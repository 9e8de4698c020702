import sys

from nbflow.cli import main

sys.exit(main())
