"""The `autoglm` command line and the development tools around the runtime (broker, simulated home, demo)."""
