"""Plans: the plan records, placement on devices, the independent checker (the specification of a valid plan) and
fleet metrics. Named ``plans`` so that ``planner.plan`` stays the planning function of the Python API."""
