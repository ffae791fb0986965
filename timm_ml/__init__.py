"""timm_ml: multi-label image classification on top of timm's training scripts."""
__version__ = '0.2.0'
