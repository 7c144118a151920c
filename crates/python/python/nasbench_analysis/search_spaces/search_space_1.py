"""NAS-Bench-1Shot1 search space 1: 4 choice blocks, parents per vertex {'0': 0, '1': 1, '2': 2, '3': 2, '4': 2, '5': 2}."""

from nasbench_analysis.search_spaces.search_space import SearchSpace


class SearchSpace1(SearchSpace):
    """Search space 1 of NAS-Bench-1Shot1."""

    _size = 6

    def __init__(self):
        super(SearchSpace1, self).__init__(search_space_number=1, num_intermediate_nodes=4)
        self.num_parents_per_node = {'0': 0, '1': 1, '2': 2, '3': 2, '4': 2, '5': 2}
        if sum(self.num_parents_per_node.values()) > 9:
            raise ValueError("Each nasbench cell has at most 9 edges.")
        # The original's regret references: the least 1 - accuracy over single repeats at
        # 108 epochs of the space's cells.
        self.test_min_error = 0.05448716878890991
        self.valid_min_error = 0.049278855323791504
