"""What a CRM sends and gets back: the pydantic request and response models of each endpoint group, and the request
examples (``examples/*.json``) the OpenAPI document and the README show."""
