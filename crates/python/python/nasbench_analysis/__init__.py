"""Compatibility with the ``nasbench_analysis`` package of automl/nasbench-1shot1 (which
HPOBench imports): the three search spaces, their ConfigSpace definitions and the conversion
of a configuration to a NAS-Bench-101 cell, over the nb1s1 ``nasbench`` API."""
