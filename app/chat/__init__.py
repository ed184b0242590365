"""Live chat: the widget on a clinic's website, the knowledge-base assistant, the handover to an agent."""
