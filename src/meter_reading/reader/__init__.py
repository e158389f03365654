"""The display reader: finds, crops and reads a meter display (numpy + Pillow + onnxruntime)."""
