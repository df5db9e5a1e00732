"""Push destinations (Slack, outgoing webhooks): routing, the content of a notice, the one outbound sender, and
Slack's button clicks. Reads correlation results and models; the correlation engine reaches it only through
``changetrack.correlation.events`` (its signal), so a destination's outage never blocks ranking or ingestion."""
