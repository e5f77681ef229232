"""API: The public pool (公海): warnings, claiming, returning, undo (T1–T3)."""
from __future__ import annotations
