"""Agent state jobs: the scheduler's pass that ends after-contact work and sends idle agents away."""

import logging

from app.hotline import agent_state_transitions
from app.jobs import DEFAULT, platform_job

logger = logging.getLogger(__name__)


@platform_job(DEFAULT, name="hotline.expire_agent_states")
def expire_agent_states() -> int:
    """One bounded pass over agents' states (a platform table: no clinic); safe with two workers at once."""
    return agent_state_transitions.expire_states()
