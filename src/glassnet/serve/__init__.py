"""The REST service (`glassnet serve`): FastAPI + uvicorn over runs loaded at start-up."""

from glassnet.serve.app import create_app
from glassnet.serve.runner import load_models, serve

__all__ = ["create_app", "load_models", "serve"]
