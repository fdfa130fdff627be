"""Planning: the component registry and the planner passes that turn a spec into immutable plans."""
