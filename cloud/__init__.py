"""The cloud control plane: operator API, fleet twins and the planner."""
