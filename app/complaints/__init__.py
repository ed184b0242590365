"""The complaint register (issue 20): complaints with their own clock, acknowledgements, the monthly report."""
