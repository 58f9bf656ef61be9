"""HTTP plumbing shared by the domains' ``api.py`` routers: dependencies and error rendering."""
