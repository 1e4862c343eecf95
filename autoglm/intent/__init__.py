"""Edge intent model: student tokenizer, teacher, distillation, calibration and INT8 ONNX export."""

from cloud.planner.torch_noise import quiet_torchao_import

# Before the model code imports transformers (which imports torchao): see cloud.planner.torch_noise.
quiet_torchao_import()
