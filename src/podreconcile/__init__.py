"""podreconcile: declarative GPU training on RunPod."""
__version__ = "0.1.0"
