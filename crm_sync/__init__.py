"""crm_sync: keep ActiveCampaign contacts in step with a Django project's people."""
__version__ = "0.1.0"
