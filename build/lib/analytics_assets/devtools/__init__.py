"""Developer tools shipped with the code location: a local GitBook-compatible API and the demo."""
