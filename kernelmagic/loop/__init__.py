"""The refinement loop: proposers suggest, the harness judges, the loop keeps the best."""
