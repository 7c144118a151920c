"""Drop-in replacement for google-research/nasbench, answered by the nb1s1 engine.

``from nasbench import api`` works as with the official package, without TensorFlow.
"""
