"""Understanding and acting: the pipeline, its stages, intent handlers, cloud fallback, plan runner, replies."""
