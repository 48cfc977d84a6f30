"""The bundled local model: llama-cpp-python serving Gemma 3 270M on loopback."""

from bot.local_model.fallback import LocalModelFallback, using_local_model
from bot.local_model.server import MODEL_ALIAS, LocalModelError, LocalModelServer, free_port

__all__ = [
    "MODEL_ALIAS",
    "LocalModelError",
    "LocalModelFallback",
    "LocalModelServer",
    "free_port",
    "using_local_model",
]
