"""A fake Bot Framework token issuer on 127.0.0.1: OpenID metadata, signing keys, token minting.

Serves `GET /v1/.well-known/openidconfiguration` (issuer, `jwks_uri`) and
`GET /v1/.well-known/keys` (RSA public keys with `endorsements`, like the real endpoint), and
mints RS256 tokens as the Bot Connector would send them. Point the hub at it with
`HUB_BOT_OPENID_METADATA=<fake.metadata_url>`. Tests pick the issuer, audience, expiry and key:

    fake = FakeBotFramework().start()
    token = fake.mint(aud="app-id", service_url="https://smba.example/")   # valid
    fake.mint(aud="app-id", exp_in=-3600)      # expired;   iss="x"  wrong issuer
    fake.mint(aud="app-id", key=fake.rogue)    # signed by a key the endpoint does not serve
    kid = fake.rotate()                        # a new key appears at the keys endpoint
"""

from __future__ import annotations

import time
import uuid

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from hub.testing.fakes.base import FakeServer, Request, Response

ISSUER = "https://api.botframework.com"


def new_key() -> rsa.RSAPrivateKey:
    """A fresh 2048-bit RSA key."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class FakeBotFramework(FakeServer):
    """The Bot Framework's OpenID metadata and keys endpoints, with a token minter."""

    def __init__(
        self,
        port: int = 0,
        *,
        issuer: str = ISSUER,
        endorsements: tuple[str, ...] = ("msteams", "emulator"),
    ):
        self.issuer, self.endorsements = issuer, list(endorsements)
        self.keys: dict[str, rsa.RSAPrivateKey] = {}  # kid -> private key, all served
        self.kid = self.rotate()
        self.rogue = new_key()  # never served: tokens signed with it must be refused
        super().__init__(port)

    def routes(self):
        """The metadata and keys endpoints."""
        return [
            *super().routes(),
            ("GET", r"/v1/\.well-known/openidconfiguration", self._metadata),
            ("GET", r"/v1/\.well-known/keys", self._jwks),
        ]

    @property
    def metadata_url(self) -> str:
        """What HUB_BOT_OPENID_METADATA should be set to."""
        return f"{self.url}/v1/.well-known/openidconfiguration"

    def rotate(self) -> str:
        """Add a new signing key (the old ones stay served); it signs from now on."""
        kid = uuid.uuid4().hex[:16]
        self.keys[kid] = new_key()
        self.kid = kid
        return kid

    def _metadata(self, request: Request) -> Response:
        return Response(
            200,
            {
                "issuer": self.issuer,
                "authorization_endpoint": "https://invalid.botframework.com",
                "jwks_uri": f"{self.url}/v1/.well-known/keys",
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            },
        )

    def _jwks(self, request: Request) -> Response:
        keys = []
        for kid, private in list(self.keys.items()):
            jwk = RSAAlgorithm.to_jwk(private.public_key(), as_dict=True)
            keys.append({**jwk, "kid": kid, "use": "sig", "endorsements": self.endorsements})
        return Response(200, {"keys": keys})

    def mint(
        self,
        *,
        aud: str,
        service_url: str | None = "https://smba.trafficmanager.net/teams/",
        iss: str | None = None,
        exp_in: float = 3600,
        kid: str | None = None,
        key: rsa.RSAPrivateKey | None = None,
        alg: str = "RS256",
        **claims,
    ) -> str:
        """A signed token with these claims; the defaults make a valid one."""
        now = int(time.time())
        kid = kid or self.kid
        body = {
            "iss": iss or self.issuer,
            "aud": aud,
            "iat": now - 5,
            "nbf": now - 5,
            "exp": int(now + exp_in),
            **claims,
        }
        if service_url is not None:
            body["serviceurl"] = service_url
        signer = key or self.keys.get(kid) or self.keys[self.kid]
        return jwt.encode(body, signer, algorithm=alg, headers={"kid": kid})
