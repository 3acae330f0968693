"""Persistence of plot graphs and playthrough sessions behind a small interface."""
