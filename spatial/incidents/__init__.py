"""Grid management (网格化城市管理): categories, working calendar, filing, routing, the supervised
workflow, deadlines and KPIs, duplicates. No web framework here: the doors live in ``api``."""
