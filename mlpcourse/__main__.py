import sys

from mlpcourse.cli import main

sys.exit(main())
