"""HTTP routes: one module per resource; ``pages`` holds the server-rendered dashboard."""
