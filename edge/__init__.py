"""The edge daemon: device twins, the local decision pipeline and the cloud uplink, on each gateway."""
