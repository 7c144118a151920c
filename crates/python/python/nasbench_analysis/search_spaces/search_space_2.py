"""NAS-Bench-1Shot1 search space 2: 4 choice blocks, parents per vertex {'0': 0, '1': 1, '2': 1, '3': 2, '4': 2, '5': 3}."""

from nasbench_analysis.search_spaces.search_space import SearchSpace


class SearchSpace2(SearchSpace):
    """Search space 2 of NAS-Bench-1Shot1."""

    _size = 6

    def __init__(self):
        super(SearchSpace2, self).__init__(search_space_number=2, num_intermediate_nodes=4)
        self.num_parents_per_node = {'0': 0, '1': 1, '2': 1, '3': 2, '4': 2, '5': 3}
        if sum(self.num_parents_per_node.values()) > 9:
            raise ValueError("Each nasbench cell has at most 9 edges.")
        # The original's regret references: the least 1 - accuracy over single repeats at
        # 108 epochs of the space's cells.
        self.test_min_error = 0.057592153549194336
        self.valid_min_error = 0.051582515239715576
