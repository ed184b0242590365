"""SLA policies, the business-time clock, metrics, breach watch and Erlang C staffing (issue 4)."""
