"""levercast: Monte Carlo forecaster of negotiating leverage.

After Jack Watling, Foreign Affairs, 2024-10-25.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("levercast")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
