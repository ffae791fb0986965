""" Deployment without torch: `OnnxMultiLabelModel` reads a timm_ml ONNX export with ONNX Runtime, numpy and Pillow."""
from .onnx_model import OnnxMultiLabelModel, OpenVinoMultiLabelModel
from .predictions import prediction_records, write_predictions_csv, write_predictions_json
