import sys

from tinyabi.cli import main

sys.exit(main())
