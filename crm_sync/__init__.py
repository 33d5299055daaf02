"""crm_sync: keep a CRM's contacts (AC today) in step with a Django project's people."""
__version__ = "0.1.0"
