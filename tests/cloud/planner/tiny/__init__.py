"""Tests of the tiny planner: data generator, tokenizer, training."""
