import sys

from models.build.command import main

sys.exit(main())
