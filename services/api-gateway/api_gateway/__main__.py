import sys

from api_gateway.cli import main

sys.exit(main())
