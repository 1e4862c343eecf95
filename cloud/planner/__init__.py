"""The cloud planner: tool catalogue, per-request plan schema, validation and execution of task graphs."""

from cloud.planner.torch_noise import quiet_torchao_import

# Before any planner module imports transformers (which imports torchao): see cloud.planner.torch_noise.
quiet_torchao_import()
