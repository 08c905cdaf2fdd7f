import sys

from healthscore.cli import main

sys.exit(main())
