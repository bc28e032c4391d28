"""Configuration files, installed as package data under ``pipeline.configs``."""
