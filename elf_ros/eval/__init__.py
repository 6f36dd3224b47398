"""
Evaluation of ELF against classical detectors with the paper's protocol (no ROS import).

Datasets (`datasets`), metrics (`metrics`), methods (`methods`), the run loop (`runner`), tables
(`report`), figures (`plots`) and the command line (`cli`, also `python -m elf_ros.eval`).
"""
