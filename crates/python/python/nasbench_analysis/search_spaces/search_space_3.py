"""NAS-Bench-1Shot1 search space 3: 5 choice blocks, parents per vertex {'0': 0, '1': 1, '2': 1, '3': 1, '4': 2, '5': 2, '6': 2}."""

from nasbench_analysis.search_spaces.search_space import SearchSpace


class SearchSpace3(SearchSpace):
    """Search space 3 of NAS-Bench-1Shot1."""

    _size = 7

    def __init__(self):
        super(SearchSpace3, self).__init__(search_space_number=3, num_intermediate_nodes=5)
        self.num_parents_per_node = {'0': 0, '1': 1, '2': 1, '3': 1, '4': 2, '5': 2, '6': 2}
        if sum(self.num_parents_per_node.values()) > 9:
            raise ValueError("Each nasbench cell has at most 9 edges.")
        # The original's regret references: the least 1 - accuracy over single repeats at
        # 108 epochs of the space's cells.
        self.test_min_error = 0.05338543653488159
        self.valid_min_error = 0.04847759008407593
