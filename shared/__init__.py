"""Wire contracts shared by the edge and the cloud: models, topics and the error tree (no I/O)."""
