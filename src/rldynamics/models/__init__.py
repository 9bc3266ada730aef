"""Stage 'base model': the task data of a real base's RL run and the base model folder (an HF
folder, a Hub download or a GGUF file converted once).
"""
