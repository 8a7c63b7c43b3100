"""Views inside trained nets and evaluation plots (PNG + the numbers behind them)."""
