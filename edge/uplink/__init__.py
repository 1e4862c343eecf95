"""Twin sync with the cloud: reported state up, desired state down, through the outbox."""
