"""Edge intent model: student tokenizer, teacher, distillation, calibration and INT8 ONNX export."""
