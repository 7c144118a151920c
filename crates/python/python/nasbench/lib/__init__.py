"""The parts of ``nasbench.lib`` that client code imports: ``config``, ``graph_util`` and
``model_spec``."""
