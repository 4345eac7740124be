"""Backend implementations: hf (transformers + peft) and fake (tests). The protocol and the registry they
plug into live in the core (muscle_guard.core.backend, muscle_guard.core.registry)."""
