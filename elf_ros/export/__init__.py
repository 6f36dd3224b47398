"""elf-export: the ELF front end as an ONNX file (for ONNX Runtime, OpenVINO, TensorRT)."""
