"""Sign-in with OpenID Connect (SSO), off unless the ``OIDC_*`` variables configure it.

``config`` reads the variables, ``discovery`` finds the provider's endpoints, ``backend`` turns a verified ID token
into a local user with the role its groups map to, ``views`` are the two steps of the browser's round trip.
mozilla-django-oidc does the protocol's bookkeeping (state, nonce, PKCE in the session; the code exchange).
"""
