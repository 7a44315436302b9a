"""Keras 3 implementations: the shared runtime (availability, threads, placement), the MLP twins and the CNN.

Importing this package imports no framework: the registry imports every module under ``impl`` to find the
implementations, and Keras/TensorFlow start only when a Keras trainer is built (``runtime.keras_runtime``).
The absolute ``import keras`` inside these modules always means the Keras library, never this package.
"""
