"""E-mail conversations: the clinics' inbound addresses, the SMTP gateway and webhook that turn mail into
contacts and messages, and the job that sends agents' replies, threaded."""
