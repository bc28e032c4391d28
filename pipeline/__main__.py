import logging
import os
import sys

from pipeline.cli import main

code = main()
# Once a command has returned, its work is written and closed. Interpreter teardown can still abort on a native
# thread pool that outlives it (Arrow's: "terminate called without an active exception", exit -6,
# apache/arrow#34314), turning a finished run into a failure; flush and leave without that teardown.
logging.shutdown()
sys.stdout.flush()
sys.stderr.flush()
os._exit(code or 0)
