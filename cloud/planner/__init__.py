"""The cloud planner: tool catalogue, per-request plan schema, validation and execution of task graphs."""
