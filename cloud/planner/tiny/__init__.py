"""The tiny planner: generated en/zh training data, its own tokenizer, and a small Glm4 model trained on CPU."""
