"""Instructors' dashboards: views, the reads behind them, their forms and URLs."""
