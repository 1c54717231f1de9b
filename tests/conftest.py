import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# pytest keeps each test module as it rewrote its asserts in __pycache__, unless Python is told not to write
# bytecode (PYTHONDONTWRITEBYTECODE, set on some machines): then every worker rewrites every module at every run,
# about 2 s of CPU each. The tests' own bytecode is written whatever the environment says.
sys.dont_write_bytecode = False
