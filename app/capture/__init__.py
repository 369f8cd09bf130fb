"""Screen capture: grabbing monitors, knowing which windows are on them, and deciding which grabs to keep."""
