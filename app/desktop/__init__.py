"""The desktop app: tray, unlock, recall popup. Qt comes from app.qt only."""
