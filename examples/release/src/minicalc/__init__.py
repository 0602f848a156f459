"""minicalc: a tiny calculator library released by the release example."""
from .ops import add, divide, mean

__version__ = "1.4.0"
__all__ = ["add", "divide", "mean", "__version__"]
