"""Patient feedback after resolved contacts (issue 20): survey settings per queue, surveys, answers, figures."""
