"""The official configuration defaults (the values of ``nasbench.lib.config``'s flags).

The data set was generated with these values; ``NASBench.config`` is a fresh dict of them.
"""

_DEFAULTS = {
    "train_data_files": [],
    "valid_data_file": "",
    "test_data_file": "",
    "sample_data_file": "",
    "data_format": "channels_last",
    "num_labels": 10,
    "module_vertices": 7,
    "max_edges": 9,
    "available_ops": ["conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3"],
    "stem_filter_size": 128,
    "num_stacks": 3,
    "num_modules_per_stack": 3,
    "batch_size": 256,
    "train_epochs": 108,
    "train_seconds": 4.0 * 60 * 60,
    "learning_rate": 0.1,
    "lr_decay_method": "COSINE_BY_STEP",
    "momentum": 0.9,
    "weight_decay": 1e-4,
    "max_attempts": 5,
    "intermediate_evaluations": ["0.5"],
    "num_repeats": 3,
    "use_tpu": True,
    "tpu_iterations_per_loop": 100,
    "tpu_num_shards": 2,
}


def build_config():
    """A new dict of the configuration (callers may modify their copy)."""
    return {k: (list(v) if isinstance(v, list) else v) for k, v in _DEFAULTS.items()}
