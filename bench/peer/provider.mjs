// The benchmark peer: Node's oidc-provider (installed by bench/peer.sh under target/, never
// copied here), in memory, with one confidential client like procura's bench clients:
// client_secret_basic, client_credentials, introspection. `resource=urn:bench:jwt` gives an
// ES256 JWT access token (what procura issues); without it the token is opaque (what the
// peer can introspect). Usage: PORT=18190 node bench/peer/provider.mjs (from its install dir).
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.env.PORT || 18190);
const secret = process.env.PEER_SECRET || 'bench-peer-secret-not-a-real-one-0123456789';
const jwk = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });

const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [
    {
      client_id: 'bench',
      client_secret: secret,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'ES256',
      scope: 'inps:read',
    },
  ],
  jwks: { keys: [{ ...jwk, kid: 'bench', alg: 'ES256', use: 'sig' }] },
  scopes: ['inps:read'],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => undefined,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'inps:read',
        audience: 'https://servizi.inps.it',
        accessTokenTTL: 600,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'ES256' } },
      }),
    },
  },
});
provider.listen(port, '127.0.0.1', () => console.log(`peer listening on ${port}`));
