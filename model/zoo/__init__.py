"""Networks as ONNX files a user would have: built by the project (ResNet-50, :mod:`.resnet50`) or trained elsewhere
and shipped in model/data (the ResNet-style digits network), with the calibration images the importer takes."""
